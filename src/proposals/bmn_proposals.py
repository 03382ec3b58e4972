"""Proposals from a BMN's maps: candidates, Soft-NMS, seconds.

Per video, with T steps, start / end probabilities and the confidence maps in the network's
``bm_layout`` (:func:`src.proposals.bm_layout.proposal_steps` gives each map cell's [s, e] in steps):

1. candidate boundaries: start step 0 and end step T-1 always, plus every step that is a local peak
   or above 0.5 * the maximum;
2. candidates: every map cell holding a proposal [s, e] with e < T on candidate boundaries,
   segment [s / T, e / T], score = start[s] * end[e] * cls[cell] * reg[cell];
3. Gaussian Soft-NMS down to ``top_k`` (a kept proposal of width w decays the others whose tIoU
   with it exceeds t1 + (t2 - t1) * w by exp(-tIoU^2 / alpha));
4. seconds: segment * the duration covered by the features.

Same rules as mmaction2 / PaddleVideo, vectorised NumPy; videos are processed in parallel by a
process pool. The whole evaluation (inference, these steps, the metric) is
:mod:`src.tasks.localization.evaluation`.
"""
import json
import multiprocessing
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from src.metrics.proposal_metrics import temporal_iou
from src.proposals.bm_layout import proposal_steps, valid_proposal_mask
from src.utils.progress import progress

__all__ = ["PROPOSALS_FILE", "CURVE_FILE", "SoftNMSParams", "boundary_candidates", "map_candidates", "soft_nms",
           "video_proposals", "proposals_of_videos", "write_proposals"]

PROPOSALS_FILE = "bmn_proposals.json"
CURVE_FILE = "bmn_ar_an.png"
SERIAL_BELOW = 64  # videos; fewer are post-processed in this process (a pool costs more than it saves)


@dataclass(frozen=True)
class SoftNMSParams:
    """Post-processing of one video's map: which cells are candidates (``candidates``: 'boundary_peaks'
    or 'every_cell', see :func:`map_candidates`), then Gaussian Soft-NMS down to ``top_k``."""
    alpha: float = 0.4
    low_threshold: float = 0.5
    high_threshold: float = 0.9
    top_k: int = 100
    candidates: str = "boundary_peaks"

    @classmethod
    def from_config(cls, cfg) -> "SoftNMSParams":
        return cls(cfg.soft_nms_alpha, cfg.soft_nms_low_threshold, cfg.soft_nms_high_threshold,
                   cfg.max_proposals, cfg.bmn_candidates)


CANDIDATE_SETS = ("boundary_peaks", "every_cell")


def boundary_candidates(scores: np.ndarray, always: int) -> np.ndarray:
    """Boolean mask of candidate boundaries: local peaks or > 0.5 * max, plus step ``always``."""
    keep = np.zeros(len(scores), dtype=bool)
    inner = scores[1:-1]
    keep[1:-1] = ((inner > scores[2:]) & (inner > scores[:-2])) | (inner > 0.5 * scores.max())
    keep[always] = True
    return keep


def map_candidates(start: np.ndarray, end: np.ndarray, confidence: np.ndarray,
                   bm_layout: str = "duration_start", candidates: str = "boundary_peaks") -> np.ndarray:
    """(N, 3) candidates ``[tmin, tmax, score]`` in [0, 1] units from one video's outputs.

    ``start``/``end`` (T,), ``confidence`` (2, T, T) in ``bm_layout`` (channels reg, cls). Every valid
    cell whose proposal ends before T, scored start * end * cls * reg; with ``boundary_peaks`` only those
    whose start and end are :func:`boundary_candidates` (JJBOY 45d0514, mmaction2, PaddleVideo), with
    ``every_cell`` all of them (JJBOY a92c1d79's ``BMN_inference``).
    """
    if candidates not in CANDIDATE_SETS:
        raise ValueError(f"candidates must be one of {CANDIDATE_SETS}, got {candidates!r}")
    tscale = len(start)
    steps = proposal_steps(tscale, bm_layout).astype(np.int64)
    row, col = np.nonzero(valid_proposal_mask(tscale, bm_layout).astype(bool) & (steps[..., 1] < tscale))
    begin, finish = steps[row, col, 0], steps[row, col, 1]
    if candidates == "boundary_peaks":
        chosen = boundary_candidates(start, 0)[begin] & boundary_candidates(end, tscale - 1)[finish]
        row, col, begin, finish = row[chosen], col[chosen], begin[chosen], finish[chosen]
    score = start[begin] * end[finish] * confidence[1, row, col] * confidence[0, row, col]
    return np.stack([begin / tscale, finish / tscale, score], axis=1).astype(np.float64)


def soft_nms(candidates: np.ndarray, params: SoftNMSParams, width_unit: float = 1.0) -> np.ndarray:
    """Gaussian Soft-NMS of (N, 3) ``[start, end, score]`` rows; returns at most ``top_k`` rows with
    their decayed scores, best first. ``width_unit`` is the length that counts as width 1 in the
    threshold t1 + (t2 - t1) * width (1 for normalised segments)."""
    if len(candidates) == 0:
        return candidates.reshape(0, 3)
    order = np.argsort(candidates[:, 2])[::-1]
    segments = candidates[order, :2]
    scores = candidates[order, 2].copy()
    alive = np.ones(len(scores), dtype=bool)
    kept = []
    for _ in range(min(params.top_k, len(scores))):
        best = int(np.argmax(np.where(alive, scores, -np.inf)))
        kept.append((segments[best, 0], segments[best, 1], scores[best]))
        alive[best] = False
        width = (segments[best, 1] - segments[best, 0]) / width_unit
        overlap = temporal_iou(segments[best], segments)
        decay = alive & (overlap > params.low_threshold + (params.high_threshold - params.low_threshold) * width)
        scores[decay] *= np.exp(-np.square(overlap[decay]) / params.alpha)
    return np.asarray(kept, dtype=np.float64).reshape(-1, 3)


def video_proposals(start: np.ndarray, end: np.ndarray, confidence: np.ndarray, duration: float,
                    params: SoftNMSParams, bm_layout: str = "duration_start") -> List[dict]:
    """One video's proposals ``[{"score", "segment": [s, e] seconds}]``, best first."""
    kept = soft_nms(map_candidates(start, end, confidence, bm_layout, params.candidates), params)
    return [{"score": float(score), "segment": [float(max(0.0, tmin) * duration), float(min(1.0, tmax) * duration)]}
            for tmin, tmax, score in kept]


def _video_job(item) -> Tuple[str, List[dict]]:
    video_id, duration, start, end, confidence, params, bm_layout = item
    return video_id, video_proposals(start, end, confidence, duration, params, bm_layout)


def proposals_of_videos(outputs: Sequence[tuple], params: SoftNMSParams, num_workers: int = 1,
                       bm_layout: str = "duration_start") -> Dict[str, List[dict]]:
    """``{video_id: proposals}`` for ``(video_id, duration, start, end, confidence)`` tuples (maps in
    ``bm_layout``), over ``num_workers`` processes."""
    items = [tuple(output) + (params, bm_layout) for output in outputs]
    bar = dict(total=len(items), desc="post-processing", unit="video", dynamic_ncols=True, leave=False)
    if num_workers <= 1 or len(items) < SERIAL_BELOW:
        return dict(_video_job(item) for item in progress(items, **bar))
    # spawn, not fork: this runs inside training processes whose MindSpore threads can deadlock
    # forked children
    with multiprocessing.get_context("spawn").Pool(min(num_workers, len(items))) as pool:
        return dict(progress(pool.imap(_video_job, items, chunksize=16), **bar))


def write_proposals(results: Dict[str, List[dict]], path: str) -> str:
    """Proposals in the official format ``{"version", "results", "external_data"}``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"version": "VERSION 1.3", "results": results, "external_data": {}}, handle)
    return path
