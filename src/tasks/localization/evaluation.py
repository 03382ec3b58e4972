"""Localizer evaluation: network outputs -> proposals (:mod:`src.proposals.bmn_proposals`) ->
the proposals JSON in the official format, AR@AN / AUC (:mod:`src.metrics.proposal_metrics`) and
the AR-AN curve PNG. :func:`score_proposals` is shared by eval.py and the offline postprocess.py.
"""
import json
import os
import time
from typing import Dict, Iterable, Sequence

from src.data.bmn_data import create_bmn_dataset
from src.metrics.proposal_metrics import SUMMARY_KEYS, plot_ar_an, proposal_metrics
from src.proposals.bmn_proposals import CURVE_FILE, PROPOSALS_FILE, SoftNMSParams, proposals_of_videos, \
    write_proposals
from src.tasks.base import summary_line
from src.utils.progress import progress
from src.utils.runtime import get_logger

__all__ = ["METRICS_FILE", "score_proposals", "evaluate_localizer"]

METRICS_FILE = "bmn_metrics.json"


def score_proposals(outputs: Sequence[tuple], ground_truth: Dict, settings, out_dir: str, title: str,
                    metrics_file: str = METRICS_FILE) -> dict:
    """Proposals of ``(video_id, duration, start, end, confidence_map)`` outputs, written with their
    metrics, the AR-AN curve and the metrics JSON to ``out_dir``.

    ``settings``: a configuration with the Soft-NMS keys, ``max_proposals``, ``num_workers`` and
    ``bm_layout``. Returns the summary: :data:`SUMMARY_KEYS` in percent, ``num_videos``,
    ``missing_videos`` (ground-truth videos without proposals, which count as zero recall),
    ``postprocess_ms_per_video``. Without any ground-truth segment (unlabelled or ``testing``
    videos) only the proposals are written and the summary has no metric.
    """
    started = time.time()
    results = proposals_of_videos(outputs, SoftNMSParams.from_config(settings), settings.num_workers,
                                 settings.bm_layout)
    postprocess_seconds = time.time() - started
    proposals_path = write_proposals(results, os.path.join(out_dir, PROPOSALS_FILE))
    timing = {"num_videos": len(outputs), "proposals": os.path.basename(proposals_path),
              "postprocess_ms_per_video": 1000.0 * postprocess_seconds / max(len(outputs), 1)}
    logger = get_logger()
    if not any(len(segments) for segments in ground_truth.values()):
        logger.info(f"{title}: proposals of {len(outputs)} videos written to {proposals_path}; no ground truth, "
                    f"so no metric (inference only)")
        with open(os.path.join(out_dir, metrics_file), "w", encoding="utf-8") as handle:
            json.dump(dict(timing, inference_only=True), handle, indent=1)
        return dict(timing, inference_only=True)
    metrics = proposal_metrics(ground_truth, results, settings.max_proposals)
    plot_ar_an(metrics, os.path.join(out_dir, CURVE_FILE), title)
    missing = metrics.pop("missing_videos")
    summary = {key: metrics[key] for key in SUMMARY_KEYS}
    summary.update(timing, missing_videos=len(missing))
    with open(os.path.join(out_dir, metrics_file), "w", encoding="utf-8") as handle:
        json.dump(dict(summary, missing_video_ids=missing, **metrics), handle, indent=1)
    logger.info(f"{title}: {summary_line(summary, SUMMARY_KEYS)} on {len(outputs)} videos; proposals "
                f"{proposals_path}, metrics {os.path.join(out_dir, metrics_file)}")
    if missing:
        logger.warning(f"{len(missing)} ground-truth video(s) have no proposals (no feature file?) and count as "
                       f"zero recall, e.g. {', '.join(missing[:5])}")
    return summary


def _network_outputs(net, dataset) -> Iterable[tuple]:
    """``(video_index, start, end, confidence)`` per video, from batches of (features, video_index)."""
    for features, indices in dataset.create_tuple_iterator(num_epochs=1):
        confidence, start, end = (output.asnumpy() for output in net(features))
        for row, index in enumerate(indices.asnumpy().reshape(-1)):
            yield int(index), start[row], end[row], confidence[row]


def evaluate_localizer(cfg, net, dataset_or_split="val", out_dir: str = "") -> dict:
    """Evaluate localizer ``net`` on a split name (``"val"``) or a dataset from
    :func:`src.data.bmn_data.create_bmn_dataset`; writes the proposals, curve and metrics to
    ``out_dir`` (default ``cfg.save_dir``) and returns :func:`score_proposals`' summary plus
    ``inference_ms_per_video``."""
    out_dir = out_dir or cfg.save_dir
    dataset = create_bmn_dataset(cfg, dataset_or_split) if isinstance(dataset_or_split, str) else dataset_or_split
    source = dataset.video_source
    was_training = net.training
    net.set_train(False)
    started = time.time()
    outputs = []
    try:
        for index, start, end, confidence in progress(_network_outputs(net, dataset), total=len(source),
                                                      desc=f"{cfg.model} inference", unit="video",
                                                      dynamic_ncols=True, leave=False):
            info = source.video_info(index)
            outputs.append((info["id"], info["duration"], start, end, confidence))
    finally:
        net.set_train(was_training)
    inference_seconds = time.time() - started
    summary = score_proposals(outputs, source.ground_truth, cfg, out_dir, f"{cfg.model} {cfg.dataset}")
    summary["inference_ms_per_video"] = 1000.0 * inference_seconds / max(len(outputs), 1)
    return summary
