"""Localizer evaluation: network outputs -> proposals (:mod:`src.proposals.bmn_proposals`) ->
the proposals JSON in the official format, AR@AN / AUC (:mod:`src.metrics.proposal_metrics`) and
the AR-AN curve PNG. :func:`score_proposals` is shared by eval.py and the offline postprocess.py.

Across ranks each rank runs the network and Soft-NMS on its shard of the videos; the proposals
(small, unlike the confidence maps) are gathered (:mod:`src.utils.gather`) in video-index order, a
video repeated to even out the shards counting once, so every rank scores all videos alike and
rank 0 writes the files.
"""
import json
import os
import time
from typing import Dict, Iterable, List, Sequence

from src.data.bmn_data import create_bmn_dataset, unusable_index
from src.metrics.proposal_metrics import SUMMARY_KEYS, plot_ar_an, proposal_metrics
from src.proposals.bmn_proposals import CURVE_FILE, PROPOSALS_FILE, SoftNMSParams, proposals_of_videos, \
    write_proposals
from src.tasks.base import summary_line
from src.utils.gather import all_gather_bytes
from src.utils.progress import progress
from src.utils.runtime import RunContext, get_logger

__all__ = ["METRICS_FILE", "gather_proposals", "score_proposals", "evaluate_localizer"]

METRICS_FILE = "bmn_metrics.json"


def gather_proposals(results: Dict[str, List[dict]], video_indices: Dict[str, int],
                     group_size: int) -> Dict[str, List[dict]]:
    """The proposals of every rank's videos, once per video and in video-index order, from this
    rank's ``results`` (``{video_id: proposals}``) and the index of each of its videos."""
    payload = json.dumps([[video_indices[video], video, proposals] for video, proposals in results.items()])
    merged = {}
    for part in all_gather_bytes(payload.encode("utf-8"), group_size):
        merged.update((index, (video, proposals)) for index, video, proposals in json.loads(part))
    return dict(merged[index] for index in sorted(merged))


def score_proposals(outputs: Sequence[tuple], ground_truth: Dict, settings, out_dir: str, title: str,
                    metrics_file: str = METRICS_FILE, run: RunContext = RunContext(),
                    indices: Sequence[int] = ()) -> dict:
    """Proposals of ``(video_id, duration, start, end, confidence_map)`` outputs, written with their
    metrics, the AR-AN curve and the metrics JSON to ``out_dir``.

    Across the ranks of ``run``, ``outputs`` are this rank's videos and ``indices`` their video
    indices: every rank gets the proposals of all videos and the same summary, and only rank 0
    writes.

    ``settings``: a configuration with the Soft-NMS keys, ``max_proposals``, ``num_workers`` and
    ``bm_layout``. Returns the summary: :data:`SUMMARY_KEYS` in percent, ``num_videos``,
    ``missing_videos`` (ground-truth videos without proposals, which count as zero recall),
    ``postprocess_ms_per_video``. Without any ground-truth segment (unlabelled or ``testing``
    videos) only the proposals are written and the summary has no metric.
    """
    started = time.time()
    results = proposals_of_videos(outputs, SoftNMSParams.from_config(settings), settings.num_workers,
                                 settings.bm_layout)
    if run.group_size > 1:
        results = gather_proposals(results, {output[0]: index for output, index in zip(outputs, indices)},
                                   run.group_size)
    postprocess_seconds = time.time() - started
    proposals_path = os.path.join(out_dir, PROPOSALS_FILE)
    if run.is_main:
        write_proposals(results, proposals_path)
    timing = {"num_videos": len(results), "proposals": os.path.basename(proposals_path),
              "postprocess_ms_per_video": 1000.0 * postprocess_seconds / max(len(results), 1)}
    logger = get_logger()
    if not any(len(segments) for segments in ground_truth.values()):
        logger.info(f"{title}: proposals of {len(results)} videos written to {proposals_path}; no ground truth, "
                    f"so no metric (inference only)")
        if run.is_main:
            with open(os.path.join(out_dir, metrics_file), "w", encoding="utf-8") as handle:
                json.dump(dict(timing, inference_only=True), handle, indent=1)
        return dict(timing, inference_only=True)
    metrics = proposal_metrics(ground_truth, results, settings.max_proposals)
    if run.is_main:
        plot_ar_an(metrics, os.path.join(out_dir, CURVE_FILE), title)
    missing = metrics.pop("missing_videos")
    summary = {key: metrics[key] for key in SUMMARY_KEYS}
    summary.update(timing, missing_videos=len(missing))
    if run.is_main:
        with open(os.path.join(out_dir, metrics_file), "w", encoding="utf-8") as handle:
            json.dump(dict(summary, missing_video_ids=missing, **metrics), handle, indent=1)
    logger.info(f"{title}: {summary_line(summary, SUMMARY_KEYS)} on {len(results)} videos; proposals "
                f"{proposals_path}, metrics {os.path.join(out_dir, metrics_file)}")
    if missing:
        logger.warning(f"{len(missing)} ground-truth video(s) have no proposals (no feature file, or an unusable "
                       f"one: see the warnings above) and count as zero recall, e.g. {', '.join(missing[:5])}")
    return summary


def _network_outputs(net, dataset) -> Iterable[tuple]:
    """``(video_index, start, end, confidence)`` per video, from batches of (features, video_index); a
    video whose features were unusable (negative index) yields ``(index, None, None, None)``."""
    for features, indices in dataset.create_tuple_iterator(num_epochs=1):
        confidence, start, end = (output.asnumpy() for output in net(features))
        for row, index in enumerate(indices.asnumpy().reshape(-1)):
            if index < 0:
                yield int(unusable_index(int(index))), None, None, None
            else:
                yield int(index), start[row], end[row], confidence[row]


def evaluate_localizer(cfg, net, dataset_or_split="val", out_dir: str = "", run: RunContext = RunContext()) -> dict:
    """Evaluate localizer ``net`` on a split name (``"val"``; split across the ranks of ``run``) or a
    dataset from :func:`src.data.bmn_data.create_bmn_dataset`; writes the proposals, curve and
    metrics to ``out_dir`` (default ``cfg.save_dir``; rank 0) and returns :func:`score_proposals`'
    summary plus ``inference_ms_per_video`` (of this rank's videos)."""
    out_dir = out_dir or cfg.save_dir
    if isinstance(dataset_or_split, str):
        dataset = create_bmn_dataset(cfg, dataset_or_split, run.rank_id, run.group_size)
    else:
        dataset = dataset_or_split
    source = dataset.video_source
    was_training = net.training
    net.set_train(False)
    started = time.time()
    outputs, indices = [], []
    try:
        for index, start, end, confidence in progress(_network_outputs(net, dataset),
                                                      total=-(-len(source) // run.group_size),
                                                      desc=f"{cfg.model} inference", unit="video",
                                                      dynamic_ncols=True, leave=False):
            if start is None:  # unusable features, warned about by the source: no proposals
                continue
            info = source.video_info(index)
            outputs.append((info["id"], info["duration"], start, end, confidence))
            indices.append(index)
    finally:
        net.set_train(was_training)
    inference_seconds = time.time() - started
    summary = score_proposals(outputs, source.ground_truth, cfg, out_dir, f"{cfg.model} {cfg.dataset}", run=run,
                              indices=indices)
    summary["inference_ms_per_video"] = 1000.0 * inference_seconds / max(len(outputs), 1)
    return summary
