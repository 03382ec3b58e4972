"""PNG figures people look at: training curves and confusion matrices.

Each figure says what it shows: the curve names the model / stream / dataset and the metric with
its unit and has a legend; the confusion matrix names the checkpoint (and epoch) it was computed
with, so the PNG kept beside a run's results can be matched with the figure reported.
"""
import os
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

__all__ = ["plot_training_curves", "plot_confusion_matrix", "metric_label", "save_figure", "plt"]

# Axis labels (with units) of the metrics the tasks use to pick the best checkpoint.
_METRIC_LABELS = {
    "top1": "validation top-1 accuracy (%)",
    "top5": "validation top-5 accuracy (%)",
    "mean_class_accuracy": "validation mean class accuracy (%)",
    "AUC": "validation AUC of the AR-AN curve (x100)",
}


def metric_label(name: str) -> str:
    """The axis label of metric ``name``; unknown metrics are labelled by their name."""
    return _METRIC_LABELS.get(name, f"validation {name}")


def save_figure(fig, path: str, dpi: int = 100) -> str:
    """Lay ``fig`` out, write it to ``path`` (its folder made) and close it; returns ``path``."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_training_curves(history: List[Dict], path: str, subject: str = "") -> str:
    """Mean training loss per epoch and, when evaluated, the validation metric per epoch (its best
    epoch marked), with a legend. ``subject`` names what was trained, e.g. ``"i3d rgb, ucf101"``."""
    epochs = [h["epoch"] for h in history]
    fig, loss_axis = plt.subplots(figsize=(8, 4.5))
    lines = loss_axis.plot(epochs, [h["loss"] for h in history], "o-", color="tab:blue",
                           label="training loss (mean over the epoch's steps)")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    evaluated = [h for h in history if h.get("metric") is not None]
    heading = "training loss"
    if evaluated:
        name = evaluated[0].get("metric_name", "metric")
        values = [h["metric"] for h in evaluated]
        metric_axis = loss_axis.twinx()
        lines += metric_axis.plot([h["epoch"] for h in evaluated], values, "s-", color="tab:orange",
                                  label=metric_label(name))
        best = evaluated[int(np.argmax(values))]
        lines += metric_axis.plot([best["epoch"]], [best["metric"]], "*", color="tab:red", markersize=14,
                                  label=f"best: epoch {best['epoch']}, {best['metric']:.2f}")
        metric_axis.set_ylabel(metric_label(name), color="tab:orange")
        heading = f"training loss and validation {name}"
    # below the axes: inside them it hides the curves whatever corner it takes
    loss_axis.legend(lines, [line.get_label() for line in lines], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                     ncol=len(lines), fontsize=8, frameon=False)
    loss_axis.set_title(f"{subject}: {heading}" if subject else heading)
    return save_figure(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str, title: str = "",
                          checkpoint: str = "") -> str:
    """Row-normalised confusion matrix; class names are shown when there are few enough to read.

    ``title`` says what was evaluated (e.g. ``"rgb: top-1 27.78%"``), ``checkpoint`` with which
    weights (e.g. ``"i3d_demo_rgb_best.ckpt, epoch 9"``); both go into the figure's title.
    """
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = matrix / np.maximum(rows, 1)
    size = min(4 + 0.35 * len(class_names), 24)
    fig, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    if len(class_names) <= 40:
        ticks = np.arange(len(class_names))
        axis.set_xticks(ticks, labels=class_names, rotation=90, fontsize=8)
        axis.set_yticks(ticks, labels=class_names, fontsize=8)
        if len(class_names) <= 12:
            for (row, col), count in np.ndenumerate(matrix):
                if count:
                    axis.text(col, row, str(count), ha="center", va="center", fontsize=8,
                              color="white" if normalised[row, col] > 0.5 else "black")
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    heading = f"{title or 'confusion matrix'} ({int(matrix.sum())} videos)"
    axis.set_title(f"{heading}\n{checkpoint}" if checkpoint else heading, fontsize=10)
    fig.colorbar(image, ax=axis, fraction=0.046, label="share of the true class's videos")
    return save_figure(fig, path)
