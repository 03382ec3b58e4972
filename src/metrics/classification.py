"""Recognition metrics: view fusion, stream fusion, top-k, mean class accuracy, confusion matrix."""
from typing import Dict, Tuple

import numpy as np

__all__ = ["softmax", "fuse_streams", "classification_metrics", "confusion_matrix", "recognition_metrics"]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def fuse_streams(rgb_logits: np.ndarray, flow_logits: np.ndarray, rule: str = "logits_sum",
                 rgb_weight: float = 0.5) -> np.ndarray:
    """Two-stream video scores from per-video logits of each stream, both (N, K).

    ``logits_sum``: rgb + flow logits (the I3D reference rule; equal to summing per clip and then
    averaging, since both are linear). ``softmax_avg``: ``w * softmax(rgb) + (1 - w) * softmax(flow)``.
    """
    if rgb_logits.shape != flow_logits.shape:
        raise ValueError(f"stream scores differ in shape: {rgb_logits.shape} vs {flow_logits.shape}")
    if rule == "logits_sum":
        return rgb_logits + flow_logits
    if rule == "softmax_avg":
        return rgb_weight * softmax(rgb_logits) + (1.0 - rgb_weight) * softmax(flow_logits)
    raise ValueError(f"unknown fusion rule {rule!r} (logits_sum | softmax_avg)")


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(video_scores: np.ndarray, labels: np.ndarray,
                           clip_scores: np.ndarray = None) -> Dict[str, float]:
    """top-1 / top-5 / mean class accuracy (in %) of video scores (N, K) against labels (N,).

    ``clip_scores`` (N, V, K), when given, adds ``clip_top1``: every view scored on its own.
    """
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = video_scores.shape[1]
    order = np.argsort(-video_scores, axis=1)
    top1 = order[:, 0] == labels
    top5 = (order[:, :min(5, num_classes)] == labels[:, None]).any(axis=1)
    matrix = confusion_matrix(labels, order[:, 0], num_classes)
    present = matrix.sum(axis=1) > 0
    per_class = np.diag(matrix)[present] / matrix.sum(axis=1)[present]
    metrics = {"top1": 100.0 * top1.mean(), "top5": 100.0 * top5.mean(),
               "mean_class_accuracy": 100.0 * per_class.mean(), "num_videos": int(len(labels))}
    if clip_scores is not None:
        clip_pred = clip_scores.argmax(axis=-1)
        metrics["clip_top1"] = 100.0 * float((clip_pred == labels[:, None]).mean())
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in metrics.items()}


def recognition_metrics(stream_logits: Dict[str, np.ndarray], labels: np.ndarray, fusion: str = "logits_sum",
                        rgb_weight: float = 0.5) -> Tuple[dict, np.ndarray, Dict[str, np.ndarray]]:
    """Metrics of one stream (``{mode: (N, V, K)}``) or of two fused, named as eval.py names them.

    Returns ``(metrics, final video scores, per-stream video scores)``.
    """
    joint = len(stream_logits) == 2
    video_scores = {mode: logits.mean(axis=1) for mode, logits in stream_logits.items()}
    metrics = {}
    for mode, logits in stream_logits.items():
        stream_metrics = classification_metrics(video_scores[mode], labels, logits)
        metrics.update({f"{mode}_{k}" if joint else k: v for k, v in stream_metrics.items()})
    final_scores = video_scores[next(iter(stream_logits))]
    if joint:
        final_scores = fuse_streams(video_scores["rgb"], video_scores["flow"], fusion, rgb_weight)
        metrics.update(classification_metrics(final_scores, labels))
        metrics["fusion"] = fusion
    metrics["views_per_video"] = int(next(iter(stream_logits.values())).shape[1])
    return metrics, final_scores, video_scores
