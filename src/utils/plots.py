"""PNG figures people look at: training curves and confusion matrices."""
import os
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

__all__ = ["plot_training_curves", "plot_confusion_matrix"]


def plot_training_curves(history: List[Dict], path: str) -> str:
    """Loss per epoch and, when evaluated, validation top-1 per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, [h["loss"] for h in history], "o-", color="tab:blue", label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss", color="tab:blue")
    evaluated = [h for h in history if h.get("metric") is not None]
    if evaluated:
        metric_axis = loss_axis.twinx()
        metric_axis.plot([h["epoch"] for h in evaluated], [h["metric"] for h in evaluated], "s-",
                         color="tab:orange", label=evaluated[0].get("metric_name", "metric"))
        metric_axis.set_ylabel(evaluated[0].get("metric_name", "metric"), color="tab:orange")
    loss_axis.set_title("training curve")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str, title: str = "") -> str:
    """Row-normalised confusion matrix; class names are shown when there are few enough to read."""
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
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title or "confusion matrix")
    fig.colorbar(image, ax=axis, fraction=0.046)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
