"""Temporal action proposal metrics: AR@AN curve, AR@1/5/10/100 and AUC (ActivityNet semantics).

Same definitions as the official ``eval_proposal.py`` (ActivityNet challenge), vectorised NumPy:

* ground-truth videos are those with at least one annotated segment; each video's proposals are
  sorted by score (descending) and cut to ``int(n * ratio)`` of them, with ``ratio = max_avg_nr_proposals
  * #gt videos / #proposals in the file`` (so an average of ``max_avg_nr_proposals`` per video);
* for the 100 steps ``pcn = (1..100) / 100 * max_avg_nr_proposals * #videos / #kept proposals``,
  a video uses its ``min(int(n_kept * pcn), n_kept)`` best proposals; a ground-truth segment is
  recalled at a tIoU threshold when one of them reaches it; recall = recalled / all segments;
* thresholds 0.5:0.05:0.95 (10); AR = recall averaged over thresholds; AN = ``pcn * #kept /
  #videos``; AUC = 100 * trapz(AR, AN) / AN[-1]; AR@N is the AR of the N-th step (N proposals per
  video when every video has max_avg_nr_proposals of them).

Ground-truth videos missing from the proposal file count as zero recall (the official script
fails on them instead); they are counted and listed in the result (``missing_videos``).

Ground truth and proposal files are read by :mod:`src.data.ground_truth`; the command line is
``python -m src.tools.eval_proposals``.
"""
import os
from typing import Mapping, Sequence

import numpy as np

__all__ = ["TIOU_THRESHOLDS", "AR_AT", "SUMMARY_KEYS", "temporal_iou", "average_recall_vs_proposals",
           "proposal_metrics", "plot_ar_an"]

TIOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
AR_AT = (1, 5, 10, 100)
SUMMARY_KEYS = tuple(f"AR@{n}" for n in AR_AT) + ("AUC",)  # the figures a proposal evaluation reports
NUM_STEPS = 100


def temporal_iou(segments_a: np.ndarray, segments_b: np.ndarray) -> np.ndarray:
    """tIoU of (..., 2) ``[start, end]`` rows, broadcast against each other; 0 where the union is
    empty or a segment is NaN (padding)."""
    a, b = np.asarray(segments_a, dtype=np.float64), np.asarray(segments_b, dtype=np.float64)
    intersection = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        tiou = np.where(union > 0, intersection / union, 0.0)
    return np.nan_to_num(tiou, nan=0.0)


def _segment_array(segments) -> np.ndarray:
    return np.asarray(segments, dtype=np.float64).reshape(-1, 2)


def average_recall_vs_proposals(ground_truth: Mapping[str, Sequence], proposals: Mapping[str, Sequence[dict]],
                                max_avg_nr_proposals: float = 100,
                                tiou_thresholds: np.ndarray = TIOU_THRESHOLDS) -> dict:
    """The official AR-AN computation.

    ``ground_truth``: ``{video_id: [[start, end], ...]}``; ``proposals``: ``{video_id: [{"segment":
    [start, end], "score": s}, ...]}`` (the ``results`` of a proposals file). Returns ``recall``
    (thresholds x 100), ``average_recall`` (100,), ``proposals_per_video`` (100,) and
    ``missing_videos`` (ground-truth videos without proposals).
    """
    videos = [video for video, segments in ground_truth.items() if len(segments)]
    if not videos:
        raise ValueError("the ground truth has no annotated segment")
    total_in_file = sum(len(entries) for entries in proposals.values())
    if total_in_file == 0:
        raise ValueError("the proposal file holds no proposal")
    ratio = max_avg_nr_proposals * len(videos) / total_in_file

    gt_rows, gt_video, kept_counts, missing = [], [], [], []
    ranked = []
    for index, video in enumerate(videos):
        segments = _segment_array(ground_truth[video])
        gt_rows.append(segments)
        gt_video.append(np.full(len(segments), index))
        entries = proposals.get(video)
        if entries is None:
            missing.append(video)
        entries = entries or []
        if entries:
            scores = np.array([entry["score"] for entry in entries], dtype=np.float64)
            order = np.argsort(scores)[::-1]
            kept = min(int(len(entries) * ratio), len(entries))
            ranked.append(_segment_array([entries[i]["segment"] for i in order[:kept]]))
        else:
            ranked.append(np.zeros((0, 2)))
        kept_counts.append(len(ranked[-1]))
    total_kept = int(sum(kept_counts))
    if total_kept == 0:
        raise ValueError("no ground-truth video keeps a proposal")

    gt = np.concatenate(gt_rows)
    gt_video = np.concatenate(gt_video)
    width = max(max(kept_counts), 1)
    padded = np.full((len(videos), width, 2), np.nan)
    for index, segments in enumerate(ranked):
        padded[index, :len(segments)] = segments
    candidates = padded[gt_video]  # (G, width, 2), NaN beyond a video's proposals
    tiou = temporal_iou(candidates, gt[:, None, :])

    # first proposal rank reaching each threshold (width = never)
    hits = tiou[:, None, :] >= np.asarray(tiou_thresholds)[None, :, None]  # (G, thresholds, width)
    first_hit = np.where(hits.any(axis=2), hits.argmax(axis=2), width)

    pcn = np.arange(1, NUM_STEPS + 1) / 100.0 * (max_avg_nr_proposals * float(len(videos)) / total_kept)
    counts = np.array(kept_counts)
    # a video without proposals behaves as the official single all-zero column
    columns = np.maximum(counts, 1)
    used = np.minimum((columns[:, None] * pcn[None, :]).astype(int), columns[:, None])  # (videos, steps)
    used[counts == 0] = 0
    recalled = first_hit[:, :, None] < used[gt_video][:, None, :]  # (G, thresholds, steps)
    recall = recalled.sum(axis=0) / float(len(gt))
    return {"recall": recall, "average_recall": recall.mean(axis=0),
            "proposals_per_video": pcn * (float(total_kept) / len(videos)), "missing_videos": missing}


def proposal_metrics(ground_truth: Mapping[str, Sequence], proposals: Mapping[str, Sequence[dict]],
                     max_avg_nr_proposals: float = 100) -> dict:
    """``{"AR@1", "AR@5", "AR@10", "AR@100", "AUC"}`` in percent, plus the curve and missing videos."""
    curve = average_recall_vs_proposals(ground_truth, proposals, max_avg_nr_proposals)
    average_recall, per_video = curve["average_recall"], curve["proposals_per_video"]
    area = float(np.trapz(average_recall, per_video))
    metrics = {f"AR@{n}": 100.0 * float(average_recall[n - 1]) for n in AR_AT}
    metrics["AUC"] = 100.0 * area / float(per_video[-1])
    metrics.update(average_recall=average_recall.tolist(), proposals_per_video=per_video.tolist(),
                   missing_videos=curve["missing_videos"])
    return metrics


def plot_ar_an(metrics: dict, path: str, title: str = "") -> str:
    """AR-AN curve PNG from :func:`proposal_metrics`' output."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 4.5))
    axis.plot(metrics["proposals_per_video"], np.asarray(metrics["average_recall"]) * 100.0, color="tab:blue",
              label=f"AUC {metrics['AUC']:.2f}")
    axis.set_xlabel("average number of proposals per video (AN)")
    axis.set_ylabel("average recall (%)")
    axis.set_ylim(0, 100)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower right")
    axis.set_title(title or "AR@AN, tIoU 0.5:0.05:0.95")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
