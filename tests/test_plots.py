"""The PNG figures say what they show: legend, model / stream, units, the checkpoint behind a
confusion matrix."""
import numpy as np
import pytest

from src.utils import plots


@pytest.fixture()
def drawn(monkeypatch):
    """The figures the plot functions draw, kept open for inspection."""
    figures = []
    close = plots.plt.close
    monkeypatch.setattr(plots.plt, "close", figures.append)
    yield figures
    for figure in figures:
        close(figure)


def _texts(axis):
    return axis.get_title(), axis.get_xlabel(), axis.get_ylabel()


def test_training_curve_has_subject_units_legend_and_best_epoch(tmp_path, drawn):
    history = [{"epoch": 1, "loss": 1.8, "metric": 25.0, "metric_name": "top1"},
               {"epoch": 2, "loss": 1.2, "metric": 27.78, "metric_name": "top1"},
               {"epoch": 3, "loss": 0.9, "metric": 26.1, "metric_name": "top1"}]
    path = plots.plot_training_curves(history, str(tmp_path / "curve.png"), subject="i3d rgb, demo")
    assert (tmp_path / "curve.png").stat().st_size > 0 and path.endswith("curve.png")
    loss_axis, metric_axis = drawn[0].axes
    title, xlabel, ylabel = _texts(loss_axis)
    assert title == "i3d rgb, demo: training loss and validation top1"
    assert xlabel == "epoch" and ylabel == "training loss"
    assert metric_axis.get_ylabel() == "validation top-1 accuracy (%)"
    legend = [text.get_text() for text in loss_axis.get_legend().get_texts()]
    assert legend == ["training loss (mean over the epoch's steps)", "validation top-1 accuracy (%)",
                      "best: epoch 2, 27.78"]


def test_training_curve_without_evaluation(tmp_path, drawn):
    plots.plot_training_curves([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}], str(tmp_path / "c.png"))
    (axis,) = drawn[0].axes
    assert axis.get_title() == "training loss"
    assert [text.get_text() for text in axis.get_legend().get_texts()] == [
        "training loss (mean over the epoch's steps)"]


def test_confusion_matrix_names_the_checkpoint(tmp_path, drawn):
    matrix = np.array([[3, 1], [0, 4]])
    plots.plot_confusion_matrix(matrix, ["left", "right"], str(tmp_path / "confusion.png"),
                                title="rgb: top-1 87.50%", checkpoint="i3d_demo_rgb_best.ckpt, epoch 9")
    axis = drawn[0].axes[0]
    title, xlabel, ylabel = _texts(axis)
    assert title == "rgb: top-1 87.50% (8 videos)\ni3d_demo_rgb_best.ckpt, epoch 9"
    assert (xlabel, ylabel) == ("predicted class", "true class")
    assert drawn[0].axes[1].get_ylabel() == "share of the true class's videos"


def test_metric_labels_carry_units():
    assert plots.metric_label("AUC") == "validation AUC of the AR-AN curve (x100)"
    assert plots.metric_label("loss_x") == "validation loss_x"
