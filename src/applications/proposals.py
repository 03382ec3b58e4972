"""Temporal action proposals of raw long videos in one command: frames and flow -> snippet features
from the zoo's recognizers -> BMN -> proposals in seconds, a timeline PNG per video.

    python -m src.applications.proposals --src_path VIDEOS --out_dir OUT \\
        [--rgb_config configs/tsn/demo_rgb.yaml --rgb_checkpoint tsn_rgb.ckpt] \\
        [--flow_config configs/tsn/demo_flow.yaml --flow_checkpoint tsn_flow.ckpt] \\
        --bmn_config configs/bmn/activitynet.yaml --bmn_checkpoint bmn.ckpt \\
        [--ground_truth GT.json [--video_info video_info_new.csv] [--subset validation]]

``--src_path`` is a video file or a folder of videos. Features are extracted as
``python -m src.tools.data.extract_features`` does (snippets of 16 frames every 16, DIS flow by
default, rescaled to the BMN config's ``tscale``; kept in ``OUT/features`` so a rerun resumes), and
must have the BMN config's ``feat_dim`` (the recognizers' ``num_features`` summed over the
streams). Each video's proposals (Soft-NMS as in the BMN config, its ``bm_layout``) are scaled to
the seconds the snippets cover and written to ``OUT/proposals.json`` in the official format (ids
without ``v_``), with ``OUT/timelines/<video>.png``: the best proposals against the ground truth.

Without ``--ground_truth`` this is inference only: proposals and timelines, no metric. With it
(the official ActivityNet file or a BSN/BMN ``anet_anno_action.json``, ids with or without ``v_``),
AR@1/5/10/100 and AUC over the videos of ``--subset`` that were processed are printed and written
to ``OUT/metrics.json`` with the AR-AN curve ``OUT/ar_an.png``.

Each video's proposals are also kept in ``OUT/proposals/<video>.json`` (written atomically as the
video finishes). With ``--shard I/N`` (or a launcher's RANK_ID/RANK_SIZE, msrun's
MS_NODE_ID/MS_WORKER_NUM) a run takes every N-th video of the sorted names from the I-th and writes
only its videos' files, so shards share ``OUT``; once every shard has finished, the same command with
``--merge`` writes ``proposals.json``, ``features/video_info_new.csv`` and the metric from them
(refusing, naming them, when videos have no proposals, unless ``--allow_missing true``). A killed
run (Ctrl-C: status 130) resumes with the same command. A video that cannot be used (unreadable,
shorter than a snippet) is reported and skipped, and the command exits with status 1 after writing
the others; ``--strict true`` stops at the first such video instead.

``--backend`` chooses what runs the recognizers and the BMN: ``auto`` (ONNX Runtime on a CPU when
installed; each checkpoint is exported once to ``onnx_cache/`` beside it), ``mindspore`` or
``onnxruntime``, with the same proposals; ``--num_threads`` sets their CPU threads.
"""
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from src.config import load_config
from src.data.ground_truth import load_ground_truth, strip_video_prefix
from src.metrics.proposal_metrics import SUMMARY_KEYS, plot_ar_an, proposal_metrics
from src.options import parse_bool
from src.proposals.bmn_proposals import SoftNMSParams, video_proposals, write_proposals
from src.tools.cli import (STRICT_STOP_HELP, ToolError, add_backend_options, backend_overrides, check_positive,
                           run_main, tool_parser)
from src.tools.data.extract_features import (ExtractOptions, add_snippet_options, check_feature_length,
                                             extract_all, feature_file, list_videos, merge_video_info,
                                             read_feature_csv, read_video_info, row_file, row_numbers,
                                             stream_specs, video_info_name)
from src.tools.data.videos import (FAILED, Shard, add_shard_options, is_msrun_scheduler, missing_outputs_error,
                                   reclaim_ctrl_c, report_outcomes, resolve_shard, run_interruptible)
from src.utils.io import read_json, write_json_atomically

__all__ = ["PROPOSALS_FILE", "plot_timeline", "run_proposals", "merge_proposals", "build_parser", "main"]

PROPOSALS_FILE = "proposals.json"
VIDEO_PROPOSALS_FOLDER = "proposals"  # OUT/proposals/<video>.json, one per finished video
TIMELINE_PROPOSALS = 10


def plot_timeline(path: str, video: str, seconds: float, proposals: List[dict],
                  ground_truth: Optional[List[List[float]]]) -> str:
    """PNG of a video's best proposals (one row each, shade = score) above its ground truth."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = proposals[:TIMELINE_PROPOSALS]
    rows = len(best) + (1 if ground_truth is not None else 0)
    fig, axis = plt.subplots(figsize=(9, 0.35 * rows + 1.2))
    for row, proposal in enumerate(best):
        begin, end = proposal["segment"]
        axis.broken_barh([(begin, end - begin)], (row, 0.8), color="tab:blue",
                         alpha=0.25 + 0.75 * min(1.0, proposal["score"] / max(best[0]["score"], 1e-12)))
    labels = [f"#{row + 1} {p['score']:.2f}" for row, p in enumerate(best)]
    if ground_truth is not None:
        axis.broken_barh([(begin, end - begin) for begin, end in ground_truth], (len(best), 0.8), color="tab:green")
        labels.append("ground truth")
    axis.set_yticks(np.arange(rows) + 0.4)
    axis.set_yticklabels(labels, fontsize=7)
    axis.invert_yaxis()
    axis.set_xlim(0, seconds)
    axis.set_xlabel("seconds")
    axis.set_title(f"{video}: best {len(best)} proposals" + (" vs ground truth" if ground_truth is not None else ""),
                   fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _bmn_runner(bmn_config: str, checkpoint: str, overrides: Optional[dict] = None):
    import mindspore as ms

    from src.infer.backends import inference_network

    cfg = load_config(bmn_config, overrides)
    if not os.path.isfile(checkpoint):
        raise ToolError(f"BMN checkpoint {checkpoint} does not exist")
    net = inference_network(cfg, checkpoint)
    return cfg, lambda features: [output.asnumpy()[0] for output in net(ms.Tensor(features.T[None]))]


def _video_proposals_file(out_dir: str, name: str) -> str:
    return os.path.join(out_dir, VIDEO_PROPOSALS_FOLDER, f"{video_info_name(name)[2:]}.json")


def _ground_truth(path: str, subset: str, video_info: str) -> Tuple[Optional[dict], List[str]]:
    """``(ground truth by video id without v_, or None without a file; notes on the ids)``."""
    notes: List[str] = []
    if not path:
        return None, notes
    return strip_video_prefix(load_ground_truth(path, subset, video_info), path, notes), notes


def run_proposals(src_path: str, out_dir: str, specs, bmn_config: str, bmn_checkpoint: str,
                  ground_truth_path: str = "", video_info: str = "", subset: str = "validation",
                  flow_method: str = "dis", snippet_frames: int = 16, interval: int = 16,
                  num_workers: int = 1, overrides: Optional[dict] = None, shard: Shard = Shard(),
                  strict: bool = False) -> dict:
    """Proposals (and metrics with ground truth) of every video under ``src_path``, or of a ``shard``'s
    videos only (no proposals file: :func:`merge_proposals` writes it); see the module docstring.
    ``overrides`` are configuration keys over the BMN config (``backend``, ``num_threads``; the
    recognizers take theirs from ``specs``). A video that fails is skipped (``failed_videos`` of the
    summary); with ``strict`` the first one stops the command (ToolError) before any proposal is
    written. Returns a summary with the timings."""
    started = time.time()
    videos = list_videos(src_path)
    # read first: a ground truth that cannot be used stops the command before hours of extraction
    ground_truth, notes = _ground_truth(ground_truth_path, subset, video_info)
    cfg, run_bmn = _bmn_runner(bmn_config, bmn_checkpoint, overrides)
    feature_dir = os.path.join(out_dir, "features")
    options = ExtractOptions(specs, snippet_frames, interval, cfg.tscale, flow_method, "testing")
    outcomes = extract_all(videos, feature_dir, options, num_workers, shard=shard, stop_at_failure=strict)
    report_outcomes(outcomes, strict, f"videos of {shard}" if shard.count > 1 else "videos", failures_fail=True,
                    total=len(shard.of(videos)))
    failed = [outcome for outcome in outcomes if outcome.status == FAILED]
    if strict and failed:
        raise ToolError(f"{failed[0].name}: {failed[0].message}; --strict is set, so no proposal is written (the "
                        f"features extracted so far are kept: without --strict the same command skips the video)")
    extracted = time.time()
    params = SoftNMSParams.from_config(cfg)
    timelines = os.path.join(out_dir, "timelines")
    for folder in (timelines, os.path.join(out_dir, VIDEO_PROPOSALS_FOLDER)):
        os.makedirs(folder, exist_ok=True)
    done, video_seconds = 0, 0.0
    for outcome in outcomes:
        if outcome.status == FAILED:
            continue
        reclaim_ctrl_c()
        path, row_path = feature_file(feature_dir, outcome.name), row_file(feature_dir, outcome.name)
        [row] = read_video_info(row_path).values()
        numbers = row_numbers(row, row_path)
        features = read_feature_csv(path)
        check_feature_length(path, features, row, cfg.tscale, interval)
        if features.shape[1] != cfg.feat_dim:
            raise ToolError(f"{path} has {features.shape[1]} features per step but {bmn_config} sets feat_dim "
                            f"{cfg.feat_dim}; the BMN must be trained on features of these recognizers")
        confidence, start, end = run_bmn(features)
        # the span of the features, from the decoded time stamps (the header's rate is wrong for a
        # variable-frame-rate video)
        seconds = numbers.feature_frames / numbers.num_frames * numbers.seconds
        video_id = row["video"][2:]
        proposals = video_proposals(start, end, confidence, seconds, params, cfg.bm_layout)
        write_json_atomically(_video_proposals_file(out_dir, outcome.name),
                              {"video_seconds": numbers.seconds, "proposals": proposals})
        plot_timeline(os.path.join(timelines, f"{video_id}.png"), video_id, numbers.seconds, proposals,
                      None if ground_truth is None else ground_truth.get(video_id, []))
        done += 1
        video_seconds += numbers.seconds
    timings = {"feature_seconds": round(extracted - started, 1), "total_seconds": round(time.time() - started, 1),
               "failed_videos": sum(outcome.status == FAILED for outcome in outcomes)}
    timings["seconds_per_video_minute"] = round(timings["total_seconds"] / max(video_seconds / 60.0, 1e-9), 1)
    if shard.count > 1:
        return dict(timings, videos=done, video_seconds=round(video_seconds, 1), shard=str(shard))
    results = _collect_proposals(videos, out_dir, allow_missing=True)
    return _write_results(results, out_dir, cfg, ground_truth, notes, ground_truth_path, subset, timings)


def merge_proposals(src_path: str, out_dir: str, bmn_config: str, ground_truth_path: str = "",
                    video_info: str = "", subset: str = "validation", allow_missing: bool = False) -> dict:
    """``OUT/proposals.json``, ``OUT/features/video_info_new.csv`` and the metric from every shard's
    per-video files; ToolError naming the videos without proposals unless ``allow_missing``."""
    videos = list_videos(src_path)
    results = _collect_proposals(videos, out_dir, allow_missing)
    merge_video_info(videos, os.path.join(out_dir, "features"), allow_missing=True)
    ground_truth, notes = _ground_truth(ground_truth_path, subset, video_info)
    return _write_results(results, out_dir, load_config(bmn_config), ground_truth, notes, ground_truth_path, subset)


def _collect_proposals(videos: Dict[str, str], out_dir: str, allow_missing: bool) -> Dict[str, dict]:
    """``{video id: {"video_seconds", "proposals"}}`` of the videos whose proposals file exists."""
    results, missing = {}, []
    for name in sorted(videos):
        path = _video_proposals_file(out_dir, name)
        if os.path.isfile(path):
            results[video_info_name(name)[2:]] = read_json(path, ToolError)
        else:
            missing.append(name)
    if missing and not allow_missing:
        raise missing_outputs_error(missing, len(videos), os.path.join(out_dir, VIDEO_PROPOSALS_FOLDER), "proposals")
    if not results:
        raise ToolError(f"no video has proposals in {os.path.join(out_dir, VIDEO_PROPOSALS_FOLDER)}; see the "
                        f"failures reported by the runs")
    return results


def _write_results(results: Dict[str, dict], out_dir: str, cfg, ground_truth: Optional[dict], notes: List[str],
                   ground_truth_path: str, subset: str, timings: Optional[dict] = None) -> dict:
    """``OUT/proposals.json``, and with ground truth the metric and its AR-AN curve; the summary, with
    ``timings``, is written to ``OUT/metrics.json`` and returned."""
    proposals = {video: saved["proposals"] for video, saved in results.items()}
    video_seconds = sum(saved["video_seconds"] for saved in results.values())
    summary = {"videos": len(results), "proposals": write_proposals(proposals, os.path.join(out_dir, PROPOSALS_FILE)),
               "video_seconds": round(video_seconds, 1), **(timings or {})}
    for note in notes:
        print(f"note: {note}")
    if ground_truth is not None:
        scored = {video: segments for video, segments in ground_truth.items() if video in proposals}
        if any(scored.values()):
            metrics = proposal_metrics(scored, proposals, cfg.max_proposals)
            plot_ar_an(metrics, os.path.join(out_dir, "ar_an.png"), "proposals of the long videos")
            summary.update({key: metrics[key] for key in SUMMARY_KEYS})
        else:
            print(f"note: no processed video has ground truth in {ground_truth_path} ({subset}); no metric")
    write_json_atomically(os.path.join(out_dir, "metrics.json"), summary, indent=1)
    return summary


def build_parser():
    parser = tool_parser("src.applications.proposals", __doc__)
    parser.add_argument("--src_path", required=True, help="a video file or a folder of videos")
    parser.add_argument("--out_dir", required=True, help="folder of the proposals, timelines, features")
    add_snippet_options(parser)
    parser.add_argument("--bmn_config", required=True, help="BMN config (tscale, feat_dim, bm_layout, Soft-NMS)")
    parser.add_argument("--bmn_checkpoint", required=True, help="BMN checkpoint")
    parser.add_argument("--ground_truth", default="", help="official or BSN/BMN ground truth (optional)")
    parser.add_argument("--video_info", default="", help="video_info_new.csv with the subsets of a BSN/BMN file")
    parser.add_argument("--subset", default="validation", help="ground-truth subset scored")
    parser.add_argument("--num_workers", type=int, default=1, help="processes extracting features")
    parser.add_argument("--strict", type=parse_bool, default=False, help=STRICT_STOP_HELP)
    add_backend_options(parser)
    add_shard_options(parser, merge_help="write proposals.json, video_info_new.csv and the metric from every "
                                         "shard's per-video proposals (runs no network)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if is_msrun_scheduler():
            print("msrun's scheduler process: the workers compute the proposals")
            return 0
        if args.merge:
            summary = merge_proposals(args.src_path, args.out_dir, args.bmn_config, args.ground_truth,
                                      args.video_info, args.subset, args.allow_missing)
            print(f"wrote {summary['proposals']} ({summary['videos']} videos, {summary['video_seconds']} s of video)"
                  + _figures(summary))
            return 0
        for name in ("snippet_frames", "interval"):
            check_positive(name, getattr(args, name))
        overrides = backend_overrides(args)
        specs = stream_specs(args.rgb_config, args.rgb_checkpoint, args.flow_config, args.flow_checkpoint,
                             overrides)
        shard = resolve_shard(args.shard)
        summary = run_proposals(args.src_path, args.out_dir, specs, args.bmn_config, args.bmn_checkpoint,
                                args.ground_truth, args.video_info, args.subset, args.flow_method,
                                args.snippet_frames, args.interval, args.num_workers, overrides, shard, args.strict)
        if shard.count > 1:
            print(f"{shard}: proposals of {summary['videos']} videos in "
                  f"{os.path.join(args.out_dir, VIDEO_PROPOSALS_FOLDER)} in {summary['total_seconds']} s; when "
                  f"every shard has finished, write {PROPOSALS_FILE} with the same command and --merge")
            return 1 if summary["failed_videos"] else 0
        print(f"wrote {summary['proposals']} ({summary['videos']} videos, {summary['video_seconds']} s of video) in "
              f"{summary['total_seconds']} s ({summary['seconds_per_video_minute']} s per minute of video)"
              + _figures(summary))
        return 1 if summary["failed_videos"] else 0

    return run_main(lambda: run_interruptible(body), known_errors=(ValueError, FileNotFoundError))


def _figures(summary: dict) -> str:
    figures = "  ".join(f"{key} {summary[key]:.2f}" for key in SUMMARY_KEYS if key in summary)
    return f"; {figures}" if figures else "; inference only (no ground truth)"


if __name__ == "__main__":
    sys.exit(main())
