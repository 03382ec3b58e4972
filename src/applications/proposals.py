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

``--backend`` chooses what runs the recognizers and the BMN: ``auto`` (ONNX Runtime on a CPU when
installed; each checkpoint is exported once to ``onnx_cache/`` beside it), ``mindspore`` or
``onnxruntime``, with the same proposals; ``--num_threads`` sets their CPU threads.
"""
import json
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from src.config import load_config
from src.data.ground_truth import load_ground_truth, strip_video_prefix
from src.metrics.proposal_metrics import SUMMARY_KEYS, plot_ar_an, proposal_metrics
from src.proposals.bmn_proposals import SoftNMSParams, video_proposals, write_proposals
from src.tools.cli import ToolError, add_backend_options, backend_overrides, check_positive, run_main, tool_parser
from src.tools.data.extract_features import (VIDEO_INFO_FILE, ExtractOptions, add_snippet_options,
                                             check_feature_length, extract_all, feature_file, list_videos,
                                             read_feature_csv, read_video_info, stream_specs)
from src.tools.data.videos import FAILED, report_outcomes

__all__ = ["PROPOSALS_FILE", "plot_timeline", "run_proposals", "build_parser", "main"]

PROPOSALS_FILE = "proposals.json"
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


def run_proposals(src_path: str, out_dir: str, specs, bmn_config: str, bmn_checkpoint: str,
                  ground_truth_path: str = "", video_info: str = "", subset: str = "validation",
                  flow_method: str = "dis", snippet_frames: int = 16, interval: int = 16,
                  num_workers: int = 1, overrides: Optional[dict] = None) -> dict:
    """Proposals (and metrics with ground truth) of every video under ``src_path``; see the module
    docstring. ``overrides`` are configuration keys over the BMN config (``backend``,
    ``num_threads``; the recognizers take theirs from ``specs``). Returns a summary with the timings."""
    started = time.time()
    videos = list_videos(src_path)
    cfg, run_bmn = _bmn_runner(bmn_config, bmn_checkpoint, overrides)
    feature_dir = os.path.join(out_dir, "features")
    options = ExtractOptions(specs, snippet_frames, interval, cfg.tscale, flow_method, "testing")
    outcomes = extract_all(videos, feature_dir, options, num_workers)
    report_outcomes(outcomes, False, "videos")
    extracted = time.time()
    rows = read_video_info(os.path.join(feature_dir, VIDEO_INFO_FILE))
    ground_truth, notes = None, []
    if ground_truth_path:
        ground_truth = strip_video_prefix(load_ground_truth(ground_truth_path, subset, video_info),
                                          ground_truth_path, notes)
    params = SoftNMSParams.from_config(cfg)
    timelines = os.path.join(out_dir, "timelines")
    os.makedirs(timelines, exist_ok=True)
    results: Dict[str, List[dict]] = {}
    video_seconds = 0.0
    for outcome in outcomes:
        if outcome.status == FAILED:
            continue
        path = feature_file(feature_dir, outcome.name)
        row = rows[os.path.splitext(os.path.basename(path))[0]]
        features = read_feature_csv(path)
        check_feature_length(path, features, row, cfg.tscale, interval)
        if features.shape[1] != cfg.feat_dim:
            raise ToolError(f"{path} has {features.shape[1]} features per step but {bmn_config} sets feat_dim "
                            f"{cfg.feat_dim}; the BMN must be trained on features of these recognizers")
        confidence, start, end = run_bmn(features)
        seconds = float(row["featureFrame"]) / float(row["fps"])
        video_id = row["video"][2:]
        results[video_id] = video_proposals(start, end, confidence, seconds, params, cfg.bm_layout)
        video_seconds += float(row["seconds"])
        plot_timeline(os.path.join(timelines, f"{video_id}.png"), video_id, float(row["seconds"]),
                      results[video_id], None if ground_truth is None else ground_truth.get(video_id, []))
    if not results:
        raise ToolError(f"no video of {src_path} gave features; see the failures above")
    proposals_path = write_proposals(results, os.path.join(out_dir, PROPOSALS_FILE))
    summary = {"videos": len(results), "proposals": proposals_path, "video_seconds": round(video_seconds, 1),
               "feature_seconds": round(extracted - started, 1), "total_seconds": round(time.time() - started, 1)}
    summary["seconds_per_video_minute"] = round(summary["total_seconds"] / max(video_seconds / 60.0, 1e-9), 1)
    for note in notes:
        print(f"note: {note}")
    if ground_truth is not None:
        scored = {video: segments for video, segments in ground_truth.items() if video in results}
        if any(scored.values()):
            metrics = proposal_metrics(scored, results, cfg.max_proposals)
            plot_ar_an(metrics, os.path.join(out_dir, "ar_an.png"), "proposals of the long videos")
            summary.update({key: metrics[key] for key in SUMMARY_KEYS})
        else:
            print(f"note: no processed video has ground truth in {ground_truth_path} ({subset}); no metric")
    with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
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
    add_backend_options(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        for name in ("snippet_frames", "interval"):
            check_positive(name, getattr(args, name))
        overrides = backend_overrides(args)
        specs = stream_specs(args.rgb_config, args.rgb_checkpoint, args.flow_config, args.flow_checkpoint,
                             overrides)
        summary = run_proposals(args.src_path, args.out_dir, specs, args.bmn_config, args.bmn_checkpoint,
                                args.ground_truth, args.video_info, args.subset, args.flow_method,
                                args.snippet_frames, args.interval, args.num_workers, overrides)
        figures = "  ".join(f"{key} {summary[key]:.2f}" for key in SUMMARY_KEYS if key in summary)
        print(f"wrote {summary['proposals']} ({summary['videos']} videos, {summary['video_seconds']} s of video) in "
              f"{summary['total_seconds']} s ({summary['seconds_per_video_minute']} s per minute of video)"
              + (f"; {figures}" if figures else "; inference only (no ground truth)"))
        return 0

    return run_main(body, known_errors=(ValueError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
