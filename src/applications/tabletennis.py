"""BMN on table-tennis long videos: build training instances, or infer a whole video's proposals.

Inputs (PaddleVideo competition layout): one pickle per video in ``--feature_dir``
(``<video>.pkl`` holding ``{"image_feature": (frames, 2048)}`` at ``--fps`` 25) and labels JSON
``{"fps": 25, "gts": [{"url": ".../<video>.mp4", "total_frames", "actions": [{"label_ids",
"label_names", "start_id", "end_id"}]}]}`` with action times in seconds.

``build``: slides a window of ``train_window_frames`` (8 s) with ``--stride_frames`` over every
labelled video and keeps the windows that hold at least one whole action and cut none; each window's
features are rescaled to ``tscale`` steps and saved as ``<out_dir>/features/<video>_<first>_<end>.npy``
with the annotations in ``<out_dir>/label.json`` (PaddleVideo BMN label layout, ``subset`` from
``--train_labels`` / ``--val_labels``): train on them with ``feature_path`` = that folder,
``annotation_path`` = label.json and no ``video_info_path`` (configs/bmn/tabletennis.yaml).
Label / feature mismatches are fixed and reported (``<out_dir>/build_report.json``): labels
without a pickle and pickles without labels are skipped, features shorter than ``total_frames``
cut the video (actions past the features are clipped or dropped), actions with end <= start are
dropped, unreadable pickles and videos shorter than the window are skipped.

``infer``: cuts each whole video into ``window_frames`` (4 s) windows (the last one padded by
repeating the final frame), runs BMN on every window, shifts each window's candidates by the window
offset, merges them over the whole video with Gaussian Soft-NMS (so duplicates across window borders
are suppressed) keeping ``--proposals_per_window`` x windows proposals, and writes
``{"version", "results": {video: [{"score", "segment"}]}, "external_data"}``. With ``--label_file``
the proposals are also scored (AR@AN with all proposals, AUC) into ``<out>_metrics.json``. A feature
file that cannot be read is skipped with its reason; the others are written and the command exits
with status 1 (``--strict true``: stop at the first; none readable: an error). ``--backend``
chooses what runs the BMN: ``auto`` (ONNX Runtime on a CPU when installed; the checkpoint is
exported once to ``onnx_cache/`` beside it), ``mindspore`` or ``onnxruntime``, with the same
proposals; ``--num_threads`` sets its CPU threads.

Examples::

    python -m src.applications.tabletennis build --feature_dir FEATS --train_labels labels_train.json \\
        --val_labels labels_val.json --out_dir INSTANCES --config_path configs/bmn/tabletennis.yaml
    python -m src.applications.tabletennis infer --feature_dir FEATS --checkpoint_path bmn.ckpt \\
        --out submission.json --config_path configs/bmn/tabletennis.yaml --label_file labels_val.json
"""
import dataclasses
import json
import numbers
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from src.config import load_config
from src.data.bmn_data import DataReport, clean_segment
from src.options import parse_bool
from src.proposals.bmn_proposals import SoftNMSParams, map_candidates, soft_nms, write_proposals
from src.tools.cli import ToolError, add_backend_options, backend_overrides, check_positive, run_main, tool_parser
from src.utils.io import read_json
from src.utils.numbers import MAX_FRAMES, MAX_SECONDS, checked_number
from src.utils.progress import progress
from src.utils.safe_pickle import load_array_pickle

REPORT_FILE = "build_report.json"
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "bmn", "tabletennis.yaml")


# --- inputs -------------------------------------------------------------------------------------

def video_name_of(url: str) -> str:
    return os.path.splitext(os.path.basename(url))[0]


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_gt(path: str, position: int, gt) -> None:
    """A ToolError naming the file, the entry and the key when ``gt`` (``gts[position]``) has a wrong type."""
    where = f"{path}: gts[{position}]"
    if not isinstance(gt, dict) or not isinstance(gt.get("url"), str) or not isinstance(gt.get("actions", []), list):
        raise ToolError(f"{where} needs 'url' (a string) and a list of 'actions'")
    if "total_frames" in gt:
        checked_number(gt["total_frames"], where, "total_frames", integer=True, low=0, high=MAX_FRAMES,
                       error=ToolError)
    for index, action in enumerate(gt.get("actions", [])):
        if not isinstance(action, dict):
            raise ToolError(f"{where}.actions[{index}] must be an object with start_id, end_id, label_ids, "
                            f"label_names; got {action!r}")
        for key in ("start_id", "end_id"):
            if _is_number(action.get(key)):  # other types are counted and dropped by clean_actions
                checked_number(action[key], f"{where}.actions[{index}]", key, low=-MAX_SECONDS, high=MAX_SECONDS,
                               error=ToolError)
        for key in ("label_ids", "label_names"):
            if key in action and not isinstance(action[key], list):
                raise ToolError(f"{where}.actions[{index}].{key} must be a list, got {action[key]!r}")


def read_labels(path: str) -> Tuple[float, Dict[str, dict]]:
    """``(fps, {video: gt})`` from a labels JSON; duplicates and malformed entries are errors naming
    the file, the entry and the key (actions whose times are not numbers are reported by ``build``)."""
    data = read_json(path, ToolError, "give the labels file of the table-tennis data")
    if not isinstance(data, dict) or not isinstance(data.get("gts"), list) or "fps" not in data:
        raise ToolError(f"{path} must be {{'fps': 25, 'gts': [{{'url', 'total_frames', 'actions'}}]}}")
    checked_number(data["fps"], path, "fps (frames per second)", low=0, low_open=True, high=10000, error=ToolError)
    videos = {}
    for position, gt in enumerate(data["gts"]):
        _check_gt(path, position, gt)
        name = video_name_of(gt["url"])
        if name in videos:
            raise ToolError(f"{path}: video {name} is listed twice")
        videos[name] = gt
    return float(data["fps"]), videos


def list_pickles(feature_dir: str) -> Dict[str, str]:
    if not os.path.isdir(feature_dir):
        raise ToolError(f"feature folder {feature_dir} does not exist; pass --feature_dir, the folder of "
                        f"<video>.pkl files")
    return {os.path.splitext(name)[0]: os.path.join(feature_dir, name)
            for name in sorted(os.listdir(feature_dir)) if name.endswith(".pkl")}


def load_video_features(path: str, feat_dim: int) -> np.ndarray:
    """(frames, feat_dim) float32 ``image_feature`` of a pickle; ValueError naming the file otherwise.
    The pickle may hold only arrays and containers: a file naming any other object is refused unread."""
    data = load_array_pickle(path, "expected {'image_feature': (frames, feat_dim) array}")
    if not isinstance(data, dict) or "image_feature" not in data:
        raise ValueError(f"{path} has no 'image_feature' entry")
    features = np.asarray(data["image_feature"], dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != feat_dim or len(features) == 0:
        raise ValueError(f"{path}: image_feature has shape {features.shape}, expected (frames, {feat_dim})")
    if not np.isfinite(features).all():
        raise ValueError(f"{path}: image_feature holds NaN or infinite values")
    return features


def rescale_features(features: np.ndarray, steps: int) -> np.ndarray:
    """(L, C) -> (steps, C) by linear interpolation at the centres of ``steps`` equal cells."""
    length = len(features)
    if length == steps:
        return features
    position = np.clip((np.arange(steps) + 0.5) * length / steps - 0.5, 0, length - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, length - 1)
    weight = (position - low)[:, None].astype(np.float32)
    return features[low] * (1.0 - weight) + features[high] * weight


def clean_actions(name: str, actions: Sequence[dict], seconds: float, report: DataReport) -> List[dict]:
    """Actions with numeric times, clipped to [0, seconds], end > start; problems counted."""
    kept = []
    for action in actions:
        try:
            start, end = float(action["start_id"]), float(action["end_id"])
        except (KeyError, TypeError, ValueError):
            report.add("actions without numeric start_id / end_id (dropped)", name)
            continue
        segment = clean_segment(name, start, end, seconds, report, kind="actions")
        if segment is None:
            continue
        start, end = segment
        label_ids, label_names = action.get("label_ids") or [0], action.get("label_names") or [""]
        kept.append({"start": start, "end": end, "label": str(label_ids[0]), "label_name": str(label_names[0])})
    return kept


# --- build --------------------------------------------------------------------------------------

def window_instances(name: str, actions: List[dict], num_frames: int, fps: float, window: int, stride: int,
                     report: DataReport) -> List[Tuple[int, List[dict]]]:
    """``[(first_frame, annotations relative to the window in seconds)]`` of the kept windows."""
    if num_frames < window:
        report.add(f"videos shorter than the {window}-frame window (skipped)", f"{name} ({num_frames} frames)")
        return []
    starts = np.array([a["start"] for a in actions]) * fps
    ends = np.array([a["end"] for a in actions]) * fps
    kept = []
    for first in range(0, num_frames - window + 1, stride):
        last = first + window
        inside = (starts >= first) & (ends <= last)
        cut = (starts < last) & (ends > first) & ~inside
        if cut.any():
            report.add("windows cutting an action (skipped)", f"{name}@{first}")
            continue
        if not inside.any():
            report.add("windows without an action (skipped)", f"{name}@{first}")
            continue
        annotations = [{"segment": [round(a["start"] - first / fps, 4), round(a["end"] - first / fps, 4)],
                        "label": a["label"], "label_name": a["label_name"]}
                       for a, take in zip(actions, inside) if take]
        kept.append((first, annotations))
    return kept


def build(feature_dir: str, label_files: Dict[str, str], out_dir: str, cfg, stride: int) -> dict:
    """Write the instances (see the module docstring); returns the report as a dict."""
    window, tscale = cfg.train_window_frames, cfg.tscale
    check_positive("stride_frames", stride)
    check_positive("train_window_frames", window)
    pickles = list_pickles(feature_dir)
    report = DataReport()
    feature_out = os.path.join(out_dir, "features")
    os.makedirs(feature_out, exist_ok=True)
    labels_out, labelled = {}, set()
    for subset, label_file in label_files.items():
        fps, videos = read_labels(label_file)
        for name, gt in progress(videos.items(), desc=f"{subset} instances", unit="video", dynamic_ncols=True):
            labelled.add(name)
            if name not in pickles:
                report.add(f"labelled videos without a pickle in {feature_dir} (skipped)", name)
                continue
            try:
                features = load_video_features(pickles[name], cfg.feat_dim)
            except ValueError as err:
                report.add("unreadable or malformed pickles (skipped)", str(err))
                continue
            num_frames = len(features)
            total = int(gt.get("total_frames") or num_frames)
            if total != num_frames:
                report.add("videos whose features and total_frames differ (the shorter is used)",
                           f"{name} ({num_frames} vs {total})")
                num_frames = min(num_frames, total)
            actions = clean_actions(name, gt.get("actions", []), num_frames / fps, report)
            for first, annotations in window_instances(name, actions, num_frames, fps, window, stride, report):
                instance = f"{name}_{first}_{first + window}"
                np.save(os.path.join(feature_out, instance + ".npy"),
                        rescale_features(features[first:first + window], tscale))
                labels_out[instance] = {"duration_second": window / fps, "duration_frame": window,
                                        "feature_frame": window, "subset": subset, "annotations": annotations}
    for name in pickles:
        if name not in labelled:
            report.add("pickles without labels (ignored)", name)
    with open(os.path.join(out_dir, "label.json"), "w", encoding="utf-8") as handle:
        json.dump(labels_out, handle, indent=1)
    subsets = [entry["subset"] for entry in labels_out.values()]
    summary = {"instances": {subset: subsets.count(subset) for subset in label_files},
               "problems": dict(report.counts), "examples": report.examples}
    with open(os.path.join(out_dir, REPORT_FILE), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    print(f"wrote {len(labels_out)} instances to {out_dir} "
          + ", ".join(f"{count} {subset}" for subset, count in summary["instances"].items()))
    for line in report.lines():
        print(f"  {line}")
    return summary


# --- infer --------------------------------------------------------------------------------------

def split_windows(features: np.ndarray, window: int, tscale: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(windows (K, C, tscale) float32, first frames (K,))``: the whole video cut into K windows of
    ``window`` frames, the last one padded with the final frame, each rescaled to ``tscale``."""
    count = -(-len(features) // window)
    padded = np.concatenate([features, np.repeat(features[-1:], count * window - len(features), axis=0)])
    windows = np.stack([rescale_features(padded[k * window:(k + 1) * window], tscale) for k in range(count)])
    return np.ascontiguousarray(windows.transpose(0, 2, 1)), np.arange(count) * window


def merge_windows(outputs: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]], first_frames: np.ndarray,
                  window: int, num_frames: int, fps: float, params: SoftNMSParams,
                  proposals_per_window: int, bm_layout: str = "duration_start") -> np.ndarray:
    """(M, 3) ``[start s, end s, score]`` of a whole video from per-window ``(start, end, confidence)``.

    Each window keeps its ``params.top_k`` best candidates; they are shifted by the window's first
    frame, clipped to the video, and Soft-NMS over the whole video (widths in window lengths) keeps
    ``proposals_per_window`` x windows of them.
    """
    seconds = num_frames / fps
    shifted = []
    for (start, end, confidence), first in zip(outputs, first_frames):
        candidates = map_candidates(start, end, confidence, bm_layout, params.candidates)
        candidates = candidates[np.argsort(candidates[:, 2])[::-1][:params.top_k]]
        times = (first + candidates[:, :2] * window) / fps
        inside = times[:, 0] < seconds
        shifted.append(np.column_stack([times[inside, 0], np.minimum(times[inside, 1], seconds),
                                        candidates[inside, 2]]))
    merged = np.concatenate(shifted) if shifted else np.zeros((0, 3))
    keep = dataclasses.replace(params, top_k=proposals_per_window * len(first_frames))
    return soft_nms(merged, keep, width_unit=window / fps)


def infer_video(features: np.ndarray, run_windows: Callable[[np.ndarray], tuple], window: int, tscale: int,
                fps: float, params: SoftNMSParams, proposals_per_window: int,
                bm_layout: str = "duration_start") -> List[dict]:
    """Proposals ``[{"score", "segment"}]`` of one video; ``run_windows`` maps (K, C, tscale) windows
    to the network outputs ``(confidence (K, 2, T, T), start (K, T), end (K, T))``."""
    windows, first_frames = split_windows(features, window, tscale)
    confidence, start, end = run_windows(windows)
    outputs = [(start[k], end[k], confidence[k]) for k in range(len(windows))]
    merged = merge_windows(outputs, first_frames, window, len(features), fps, params, proposals_per_window,
                           bm_layout)
    return [{"score": float(score), "segment": [float(begin), float(finish)]} for begin, finish, score in merged]


def network_runner(net, batch_size: int) -> Callable[[np.ndarray], tuple]:
    """``run_windows`` for :func:`infer_video` evaluating ``net`` in batches of ``batch_size`` windows."""
    import mindspore as ms

    def run(windows: np.ndarray):
        parts = [net(ms.Tensor(windows[i:i + batch_size])) for i in range(0, len(windows), batch_size)]
        return tuple(np.concatenate([part[j].asnumpy() for part in parts]) for j in range(3))

    return run


def infer(feature_dir: str, checkpoint_path: str, out_path: str, cfg, fps: float, batch_size: int,
          proposals_per_window: int, label_file: Optional[str], strict: bool = False) -> dict:
    """Proposals of every video of ``feature_dir`` into ``out_path``; a feature file that cannot be read
    is skipped and listed in the summary's ``skipped`` (``strict``: the first one stops it)."""
    import mindspore as ms

    from src.infer.backends import inference_network
    from src.metrics.proposal_metrics import proposal_metrics

    check_positive("window_frames", cfg.window_frames)
    check_positive("proposals_per_window", proposals_per_window)
    pickles = list_pickles(feature_dir)
    ground_truth = None
    if label_file:
        fps, labelled = read_labels(label_file)
        ground_truth = {name: [[a["start_id"], a["end_id"]] for a in gt.get("actions", [])
                               if _is_number(a.get("start_id")) and _is_number(a.get("end_id"))]
                        for name, gt in labelled.items()}
        missing = sorted(set(labelled) - set(pickles))
        if missing:
            print(f"warning: {len(missing)} labelled video(s) have no pickle (zero recall): {', '.join(missing[:5])}")
        pickles = {name: path for name, path in pickles.items() if name in labelled}
    if not pickles:
        raise ToolError(f"no video to infer in {feature_dir}")
    ms.set_context(mode=ms.GRAPH_MODE if cfg.context == "gr" else ms.PYNATIVE_MODE)
    net = inference_network(cfg, checkpoint_path)
    run_windows = network_runner(net, batch_size)
    params = SoftNMSParams.from_config(cfg)
    results, short, skipped = {}, [], []
    for name, path in progress(pickles.items(), desc="long-video inference", unit="video", dynamic_ncols=True):
        try:
            features = load_video_features(path, cfg.feat_dim)
        except ValueError as err:
            if strict:
                raise ToolError(str(err)) from err
            skipped.append((name, str(err)))
            continue
        if len(features) < cfg.window_frames:
            short.append(name)
        results[name] = infer_video(features, run_windows, cfg.window_frames, cfg.tscale, fps, params,
                                    proposals_per_window, cfg.bm_layout)
    if short:
        print(f"warning: {len(short)} video(s) shorter than the {cfg.window_frames}-frame window were padded: "
              f"{', '.join(short[:5])}")
    if not results:
        raise ToolError(f"none of the {len(pickles)} feature files of {feature_dir} can be read (first: "
                        f"{skipped[0][0]}: {skipped[0][1]}); nothing written")
    write_proposals(results, out_path)
    print(f"wrote {out_path}: {sum(len(p) for p in results.values())} proposals for {len(results)} video(s)")
    summary = {"videos": len(results), "skipped": [{"video": name, "reason": reason} for name, reason in skipped]}
    for name, reason in skipped:
        print(f"  SKIPPED {name}: {reason}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} of {len(pickles)} videos skipped", file=sys.stderr)
    if ground_truth:
        average = sum(len(p) for p in results.values()) / max(len(ground_truth), 1)
        metrics = proposal_metrics(ground_truth, results, max_avg_nr_proposals=average)
        summary.update({key: metrics[key] for key in ("AR@1", "AR@5", "AR@10", "AUC")})
        summary["AR@all"] = 100.0 * metrics["average_recall"][-1]
        summary["proposals_per_video"] = average
        print(f"AR with all {average:.0f} proposals per video {summary['AR@all']:.2f}, AUC {summary['AUC']:.2f}")
        metrics_path = os.path.splitext(out_path)[0] + "_metrics.json"
        with open(metrics_path, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1)
        print(f"wrote {metrics_path}")
    return summary


# --- CLI ----------------------------------------------------------------------------------------

def build_parser():
    parser = tool_parser("src.applications.tabletennis", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    common = {"--feature_dir": dict(required=True, help="folder of <video>.pkl feature files"),
              "--config_path": dict(default=os.path.normpath(DEFAULT_CONFIG),
                                    help="BMN configuration (tscale, feat_dim, windows, Soft-NMS)"),
              "--tscale": dict(type=int, default=None, help="override the configuration's tscale"),
              "--feat_dim": dict(type=int, default=None, help="override the configuration's feat_dim")}
    build_command = commands.add_parser("build", help="training instances from sliding windows",
                                        formatter_class=parser.formatter_class)
    infer_command = commands.add_parser("infer", help="proposals of whole videos (submission.json)",
                                        formatter_class=parser.formatter_class)
    for sub in (build_command, infer_command):
        for flag, options in common.items():
            sub.add_argument(flag, **options)
    build_command.add_argument("--train_labels", required=True, help="labels JSON of the training videos")
    build_command.add_argument("--val_labels", default="", help="labels JSON of the validation videos")
    build_command.add_argument("--out_dir", required=True, help="output folder (features/, label.json)")
    build_command.add_argument("--train_window_frames", type=int, default=None,
                               help="override the configuration's train_window_frames")
    build_command.add_argument("--stride_frames", type=int, default=50, help="step between window starts")
    infer_command.add_argument("--checkpoint_path", required=True, help="trained BMN checkpoint")
    infer_command.add_argument("--out", default="submission.json", help="proposals JSON to write")
    infer_command.add_argument("--window_frames", type=int, default=None,
                               help="override the configuration's window_frames")
    infer_command.add_argument("--fps", type=float, default=25.0,
                               help="feature rate (taken from --label_file when given)")
    infer_command.add_argument("--batch_size", type=int, default=1,
                               help="windows per network call (1 is fastest per window on CPU)")
    infer_command.add_argument("--proposals_per_window", type=int, default=5,
                               help="proposals kept per video = this x its number of windows")
    infer_command.add_argument("--label_file", default="", help="labels JSON: also score the proposals")
    infer_command.add_argument("--strict", type=parse_bool, default=False,
                               help="stop at the first feature file that cannot be read (default: skip it, infer "
                                    "the others and exit with status 1)")
    add_backend_options(infer_command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        overrides = {key: getattr(args, key) for key in ("tscale", "feat_dim", "train_window_frames", "window_frames")
                     if getattr(args, key, None) is not None}
        overrides.update(backend_overrides(args))
        try:
            cfg = load_config(args.config_path, overrides)
        except ValueError as err:
            raise ToolError(str(err)) from err
        if args.command == "build":
            labels = {"training": args.train_labels}
            if args.val_labels:
                labels["validation"] = args.val_labels
            build(args.feature_dir, labels, args.out_dir, cfg, args.stride_frames)
        else:
            summary = infer(args.feature_dir, args.checkpoint_path, args.out, cfg, args.fps, args.batch_size,
                            args.proposals_per_window, args.label_file or None, args.strict)
            return 1 if summary["skipped"] else 0
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
