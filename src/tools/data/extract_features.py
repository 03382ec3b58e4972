"""Snippet features of videos from the zoo's own recognizers, in the ActivityNet (BSN/BMN) layout.

    python -m src.tools.data.extract_features --src_path VIDEOS --dst_path FEATURES \\
        [--rgb_config configs/tsn/demo_rgb.yaml --rgb_checkpoint tsn_rgb.ckpt] \\
        [--flow_config configs/tsn/demo_flow.yaml --flow_checkpoint tsn_flow.ckpt] [--tscale 100]

``--src_path`` is a video file or a folder of them (any depth). Each video is decoded (frames
resized to the short side ``resize_short`` of the first stream's config), cut into snippets of
``--snippet_frames`` frames, one every ``--interval`` frames (16 and 16: the ActivityNet features),
and every snippet goes through the recognizer's ``forward_features`` (pooled features before the
classifier): a clip model (I3D, 3D-ResNet) takes the snippet's frames, a segment model (TSN) one
segment around the snippet's centre, sampled as its config says (``new_length`` frames or flow pairs,
every ``frame_interval``-th; an RGB-difference config, ``mode: rgbdiff``, reads one frame more and
takes the differences). Frames are centre-cropped to ``spatial_size``
and normalised as the recognizer's config says. One stream or both: the flow stream reads the flow
of consecutive frames (``--flow_method``, DIS by default: about 100x faster than TV-L1), and with
both the feature of a snippet is [RGB, flow] concatenated, as in the ActivityNet features.

The (snippets, D) sequence is rescaled to ``--tscale`` steps by the BSN/BMN interpolation (0 keeps
the snippets) and written as ``<dst_path>/v_<video>.csv`` (a header row, one row per step), then the
video's row of ``video_info_new.csv`` (video, numFrame, seconds, fps, rfps, subset, featureFrame;
subset ``--subset``) as ``<dst_path>/video_info_rows/v_<video>.csv``. Both are written atomically and
the row last, so a video with both is complete and is skipped by a rerun (``--overwrite true`` redoes
it): a run killed at any point resumes where it stopped. At the end ``<dst_path>/video_info_new.csv``
is rewritten (atomically) from the rows. Videos are processed in ``--num_workers`` processes behind
one progress bar. A video shorter than one snippet, or one that cannot be decoded, is reported naming
the file and skipped; the run writes the others and exits with status 1 (``--strict true``: it stops
at the first such video). Ctrl-C stops with status 130.

Shards: ``--shard I/N`` (or the RANK_ID/RANK_SIZE of a rank launcher, or msrun's
MS_NODE_ID/MS_WORKER_NUM) processes every N-th video of the sorted names from the I-th, so ranks or
hosts writing into one ``--dst_path`` share no file; a shard does not write ``video_info_new.csv``.
Once every shard has finished, ``--merge`` (same ``--src_path`` and ``--dst_path``) writes it from
the rows, and refuses, naming them, when videos have no features or no row (``--allow_missing true``
writes what there is).

``--backend`` chooses what runs the recognizers: ``auto`` (ONNX Runtime on a CPU when installed; the
features are exported once to ``onnx_cache/`` beside the checkpoint), ``mindspore`` or
``onnxruntime``, with the same features; ``--num_threads`` sets their CPU threads (per worker).
"""
import csv
import functools
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from src.config import load_config
from src.data.flow import FLOW_METHODS, compute_flow, flow_to_uint8
from src.data.readers import DecodeCount
from src.options import appearance_modality
from src.tools.cli import (STRICT_STOP_HELP, ToolError, add_backend_options, add_run_options, backend_overrides,
                           check_positive, run_main, tool_parser)
from src.tools.data.videos import (DONE, FAILED, SKIPPED, VIDEO_EXTENSIONS, WARNED, Shard, VideoOutcome,
                                   add_shard_options, is_msrun_scheduler, missing_outputs_error, report_outcomes,
                                   resolve_shard, run_interruptible, run_per_video)
from src.utils.io import atomic_path, atomic_write
from src.utils.numbers import MAX_FRAMES, MAX_SECONDS, checked_number

__all__ = ["VIDEO_INFO_FILE", "SnippetStream", "StreamSpec", "list_videos", "decode_video", "frames_flow",
           "snippet_count", "bsn_rescale", "video_info_name", "feature_file", "row_file", "write_feature_csv",
           "read_feature_csv", "write_video_info", "read_video_info", "row_numbers", "check_feature_length",
           "extract_video", "extract_all", "merge_video_info", "build_parser", "main"]

VIDEO_INFO_FILE = "video_info_new.csv"
ROWS_FOLDER = "video_info_rows"  # one video_info row per finished video, written after its features
VIDEO_INFO_HEADER = ["video", "numFrame", "seconds", "fps", "rfps", "subset", "featureFrame"]
BATCH = 8  # snippets per forward pass (fixed, so graph mode compiles once)


def list_videos(src_path: str) -> Dict[str, str]:
    """``{name: path}`` of a video file or of every video under a folder (names are file stems)."""
    if os.path.isfile(src_path):
        return {os.path.splitext(os.path.basename(src_path))[0]: src_path}
    if not os.path.isdir(src_path):
        raise ToolError(f"{src_path} is neither a video file nor a folder; pass --src_path")
    videos = {}
    for folder, _, files in sorted(os.walk(src_path)):
        for file_name in sorted(files):
            if file_name.lower().endswith(VIDEO_EXTENSIONS):
                videos.setdefault(os.path.splitext(file_name)[0], os.path.join(folder, file_name))
    if not videos:
        raise ToolError(f"no video file ({', '.join(VIDEO_EXTENSIONS)}) under {src_path}")
    return videos


def _resize_short(frame: np.ndarray, short_side: int) -> np.ndarray:
    height, width = frame.shape[:2]
    scale = short_side / min(height, width)
    if short_side <= 0 or scale == 1:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def decode_video(path: str, short_side: int) -> Tuple[np.ndarray, DecodeCount]:
    """``(frames (N, H, W, 3) uint8 RGB, what the decode delivered)``: the count carries the header's
    frame count and rate and the time stamp of the last frame, so a video's seconds come from its
    decoded time stamps (:meth:`DecodeCount.seconds`), not frames / header rate. ToolError naming the file
    when it cannot be decoded."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ToolError(f"cannot open {path}: not a video or an unsupported codec")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    frames, last_ms = [], 0.0
    try:
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            last_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
            frames.append(cv2.cvtColor(_resize_short(frame, short_side), cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise ToolError(f"{path} has no decodable frame")
    if fps <= 0:
        raise ToolError(f"{path} declares no frame rate; re-encode it with one")
    return np.stack(frames), DecodeCount(len(frames), declared, fps, last_ms)


def frames_flow(frames: np.ndarray, method: str) -> np.ndarray:
    """(N, H, W, 2) uint8 flow (x, y; 127.5 = still) of consecutive frames; the last pair repeats so
    every frame has one."""
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    pairs = [flow_to_uint8(compute_flow(grey[i], grey[i + 1], method)) for i in range(len(grey) - 1)]
    pairs.append(pairs[-1] if pairs else np.full(grey[0].shape + (2,), 128, np.uint8))
    return np.stack(pairs)


def snippet_count(num_frames: int, snippet_frames: int, interval: int) -> int:
    """Snippets of a video: one every ``interval`` frames while a whole snippet fits."""
    if num_frames < snippet_frames:
        return 0
    return (num_frames - snippet_frames) // interval + 1


def bsn_rescale(features: np.ndarray, steps: int) -> np.ndarray:
    """(steps, D) from (n, D) by the BSN/BMN rescaling: linear interpolation of the snippet sequence
    (snippet k at position k + 0.5) averaged over 3 points inside each output step."""
    count = len(features)
    points_per_step = 3
    edges = np.linspace(0.0, count, steps + 1)
    offsets = (np.arange(points_per_step) + 0.5) / points_per_step
    positions = edges[:-1, None] + offsets[None, :] * (edges[1:] - edges[:-1])[:, None]  # (steps, 3)
    centres = np.arange(count) + 0.5
    columns = [np.interp(positions.ravel(), centres, features[:, d]) for d in range(features.shape[1])]
    return np.stack(columns, axis=1).reshape(steps, points_per_step, -1).mean(axis=1).astype(np.float32)


@dataclass(frozen=True)
class StreamSpec:
    """One recognizer stream: its config, checkpoint and modality, and configuration keys given over
    the config (``(("backend", "mindspore"), ...)``: what runs the network, its threads)."""
    config_path: str
    checkpoint: str
    modality: str
    overrides: Tuple[Tuple[str, Any], ...] = ()


class SnippetStream:
    """A recognizer in eval mode that maps a video's snippets to ``(snippets, num_features)``."""

    def __init__(self, spec: StreamSpec):
        import mindspore as ms

        from src.data.pipelines import format_and_normalize
        from src.infer.backends import inference_network
        from src.models.registry import model_layout
        from src.models.weights import CheckpointMismatchError
        from src.transforms import CenterCrop, Compose

        modality = spec.modality
        overrides = dict(spec.overrides)
        if modality == "rgb":  # an RGB-difference config gives the RGB stream its differences
            modality = appearance_modality(load_config(spec.config_path, overrides))
        cfg = load_config(spec.config_path, dict(overrides, mode=modality))
        ms.set_context(mode=ms.GRAPH_MODE if cfg.context == "gr" else ms.PYNATIVE_MODE)
        try:
            self.network = inference_network(cfg, spec.checkpoint, features=True)
        except CheckpointMismatchError as err:
            if not err.classifier_only:
                raise
            # features come before the classifier: its class count is the checkpoint's, whatever the config says
            cfg.update(num_classes=err.file_classes, finetune_num_classes=0)
            self.network = inference_network(cfg, spec.checkpoint, features=True)
        except TypeError as err:  # a network without features
            raise ToolError(f"{cfg.model} ({spec.config_path}): {err}; use a recognizer config") from err
        self.tensor = ms.Tensor
        self.modality = spec.modality
        self.layout = model_layout(cfg.model)
        difference = modality == "rgbdiff"
        self.extra_frame = int(difference)  # n differences take n + 1 frames
        self.new_length = cfg.new_length
        self.frame_interval = cfg.frame_interval
        self.num_features = self.network.num_features
        self.short_side = cfg.resize_short
        self.spatial = Compose([CenterCrop(cfg.spatial_size)] + format_and_normalize(cfg, modality, self.layout))

    def _snippet_frames(self, start: int, snippet_frames: int, total: int) -> np.ndarray:
        if self.layout == "NSCHW":  # one segment, sampled as the config says, around the snippet's centre
            offsets = np.arange(self.new_length + self.extra_frame) * self.frame_interval
            first = start + (snippet_frames - offsets[-1] - 1) // 2
            return np.clip(first + offsets, 0, total - 1)
        return np.clip(np.arange(start, start + snippet_frames + self.extra_frame), 0, total - 1)

    def features(self, frames: np.ndarray, snippet_frames: int, interval: int) -> np.ndarray:
        """(snippets, num_features) float32 of ``frames`` ((N, H, W, C) uint8 of this modality)."""
        count = snippet_count(len(frames), snippet_frames, interval)
        views = []
        for k in range(count):
            indices = self._snippet_frames(k * interval, snippet_frames, len(frames))
            results = self.spatial({"imgs": frames[indices], "modality": self.modality, "num_clips": 1,
                                    "clip_len": len(indices)})
            views.append(results["imgs"][0])
        outputs = []
        for first in range(0, count, BATCH):
            batch = np.stack(views[first:first + BATCH])
            padded = np.concatenate([batch, np.repeat(batch[-1:], BATCH - len(batch), axis=0)])
            outputs.append(self.network(self.tensor(padded)).asnumpy()[:len(batch)])
        return np.concatenate(outputs).astype(np.float32) if outputs else np.zeros((0, self.num_features), np.float32)


def video_info_name(name: str) -> str:
    """A video's name in ``video_info_new.csv`` and its feature file: ``v_<name>``."""
    return name if name.startswith("v_") else f"v_{name}"


def feature_file(dst_path: str, name: str) -> str:
    return os.path.join(dst_path, f"{video_info_name(name)}.csv")


def row_file(dst_path: str, name: str) -> str:
    """The file of a video's ``video_info`` row: its presence marks the video finished."""
    return os.path.join(dst_path, ROWS_FOLDER, f"{video_info_name(name)}.csv")


def write_feature_csv(path: str, features: np.ndarray) -> None:
    """Header + one row per step, written to a temporary file first (a csv on disk is complete)."""
    header = ",".join(f"f{i}" for i in range(features.shape[1]))
    with atomic_write(path) as handle:
        np.savetxt(handle, features, fmt="%.6f", delimiter=",", header=header, comments="")


def read_feature_csv(path: str) -> np.ndarray:
    try:
        features = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as err:
        raise ToolError(f"cannot read feature file {path}: {err}") from err
    if not np.isfinite(features).all():
        raise ToolError(f"feature file {path} holds NaN or infinite values; extract it again with --overwrite true")
    return features


def write_video_info(path: str, rows: Dict[str, dict]) -> None:
    """The rows, sorted by video, written to a temporary file first (the file on disk is whole)."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=VIDEO_INFO_HEADER)
        writer.writeheader()
        writer.writerows(rows[name] for name in sorted(rows))


def read_video_info(path: str) -> Dict[str, dict]:
    if not os.path.isfile(path):
        return {}
    with open(path, "r", encoding="utf-8", newline="") as handle:
        return {row["video"]: row for row in csv.DictReader(handle)}


class RowNumbers(NamedTuple):
    """The numbers of a ``video_info`` row: decoded frames, their seconds, frames the features cover."""
    num_frames: int
    seconds: float
    feature_frames: int


def row_numbers(row: dict, source: str) -> RowNumbers:
    """The numbers of ``row`` (read from the file ``source``), checked: ToolError naming the file, the
    video and the column of one that is not a finite number in range."""
    where = f"{source}: {row.get('video')}"
    num_frames = checked_number(row.get("numFrame"), where, "numFrame", integer=True, low=1, high=MAX_FRAMES,
                                error=ToolError)
    return RowNumbers(num_frames,
                      checked_number(row.get("seconds"), where, "seconds", low=0, low_open=True, high=MAX_SECONDS,
                                     error=ToolError),
                      checked_number(row.get("featureFrame"), where, "featureFrame", integer=True, low=1,
                                     high=num_frames, error=ToolError))


def check_feature_length(path: str, features: np.ndarray, row: dict, tscale: int, interval: int) -> None:
    """A feature file must have ``tscale`` rows, or (``tscale`` 0) the snippets its ``video_info``
    row declares (featureFrame / interval); ToolError naming both files otherwise."""
    expected = tscale or int(float(row["featureFrame"])) // interval
    if len(features) != expected:
        raise ToolError(f"feature file {path} has {len(features)} rows but its video_info row ({row['video']}: "
                        f"featureFrame {row['featureFrame']}, interval {interval}, tscale {tscale}) says "
                        f"{expected}; extract it again with --overwrite true")


@dataclass(frozen=True)
class ExtractOptions:
    streams: Tuple[StreamSpec, ...]
    snippet_frames: int
    interval: int
    tscale: int
    flow_method: str
    subset: str


_STREAMS: Dict[Tuple[StreamSpec, ...], List[SnippetStream]] = {}  # per process: built once


def _streams(specs: Tuple[StreamSpec, ...]) -> List[SnippetStream]:
    if specs not in _STREAMS:
        _STREAMS[specs] = [SnippetStream(spec) for spec in specs]
    return _STREAMS[specs]


def extract_video(path: str, options: ExtractOptions) -> Tuple[np.ndarray, dict, str]:
    """``(features (steps, D), video_info row, problem)`` of one video file; ``problem`` says how its decode
    differs from its header (variable frame rate, truncation), '' when it does not."""
    streams = _streams(options.streams)
    frames, decoded = decode_video(path, streams[0].short_side)
    seconds = decoded.seconds()
    count = snippet_count(len(frames), options.snippet_frames, options.interval)
    if count == 0:
        raise ToolError(f"{path} has {len(frames)} frames, fewer than one snippet of {options.snippet_frames}; "
                        f"lower --snippet_frames or drop the video")
    parts = []
    for stream in streams:
        source = frames_flow(frames, options.flow_method) if stream.modality == "flow" else frames
        parts.append(stream.features(source, options.snippet_frames, options.interval))
    features = np.concatenate(parts, axis=1)
    if options.tscale:
        features = bsn_rescale(features, options.tscale)
    name = os.path.splitext(os.path.basename(path))[0]
    feature_frames = (count - 1) * options.interval + options.snippet_frames
    row = {"video": video_info_name(name), "numFrame": len(frames),
           "seconds": round(seconds, 3), "fps": decoded.fps, "rfps": round(len(frames) / seconds, 3),
           "subset": options.subset,
           "featureFrame": feature_frames}
    return features, row, decoded.problem()


def _extract_job(item, options: ExtractOptions, dst_path: str, overwrite: bool) -> VideoOutcome:
    name, path = item
    out_file, info_file = feature_file(dst_path, name), row_file(dst_path, name)
    if os.path.isfile(out_file) and os.path.isfile(info_file) and not overwrite:
        return VideoOutcome(name, SKIPPED, "features exist")
    try:
        features, row, problem = extract_video(path, options)
    except ToolError as err:
        return VideoOutcome(name, FAILED, str(err))
    write_feature_csv(out_file, features)
    write_video_info(info_file, {row["video"]: row})
    return VideoOutcome(name, WARNED, problem) if problem else VideoOutcome(name, DONE)


def add_snippet_options(parser) -> None:
    """The recognizer streams and snippet sampling of feature extraction (also used by the
    long-video proposals command)."""
    parser.add_argument("--rgb_config", default="", help="recognizer config of the RGB stream")
    parser.add_argument("--rgb_checkpoint", default="", help="its checkpoint")
    parser.add_argument("--flow_config", default="", help="recognizer config of the flow stream")
    parser.add_argument("--flow_checkpoint", default="", help="its checkpoint")
    parser.add_argument("--flow_method", default="dis", choices=FLOW_METHODS, help="optical flow of the flow stream")
    parser.add_argument("--snippet_frames", type=int, default=16, help="frames per snippet")
    parser.add_argument("--interval", type=int, default=16, help="frames between snippet starts")


def build_parser():
    parser = tool_parser("src.tools.data.extract_features", __doc__)
    parser.add_argument("--src_path", required=True, help="a video file or a folder of videos")
    parser.add_argument("--dst_path", required=True, help="folder of the feature csv files and video_info_new.csv")
    add_snippet_options(parser)
    parser.add_argument("--tscale", type=int, default=100, help="steps the features are rescaled to (0 = keep)")
    parser.add_argument("--subset", default="testing", help="subset column of video_info_new.csv")
    add_backend_options(parser)
    add_run_options(parser, overwrite_help="extract videos whose csv exists again", strict_help=STRICT_STOP_HELP)
    add_shard_options(parser, merge_help="write video_info_new.csv from the rows of every shard (extracts nothing)")
    return parser


def stream_specs(rgb_config: str, rgb_checkpoint: str, flow_config: str = "", flow_checkpoint: str = "",
                 overrides: Optional[dict] = None) -> Tuple[StreamSpec, ...]:
    """The streams given (RGB first), with configuration ``overrides`` over their configs (the
    backend options); ToolError unless each has a config and a checkpoint."""
    specs = []
    for modality, config, checkpoint in (("rgb", rgb_config, rgb_checkpoint), ("flow", flow_config, flow_checkpoint)):
        if bool(config) != bool(checkpoint):
            raise ToolError(f"give both --{modality}_config and --{modality}_checkpoint, or neither")
        if config:
            specs.append(StreamSpec(config, checkpoint, modality, tuple(sorted((overrides or {}).items()))))
    if not specs:
        raise ToolError("give a recognizer: --rgb_config/--rgb_checkpoint and/or --flow_config/--flow_checkpoint")
    for spec in specs:
        for path in (spec.config_path, spec.checkpoint):
            if not os.path.isfile(path):
                raise ToolError(f"{path} does not exist")
    return tuple(specs)


def _adopt_rows(items: List[Tuple[str, str]], dst_path: str) -> None:
    """Row files of videos whose features and ``video_info_new.csv`` row predate the row files."""
    earlier = read_video_info(os.path.join(dst_path, VIDEO_INFO_FILE))
    for name, _ in items:
        video = video_info_name(name)
        if video in earlier and os.path.isfile(feature_file(dst_path, name)) \
                and not os.path.isfile(row_file(dst_path, name)):
            write_video_info(row_file(dst_path, name), {video: earlier[video]})


def extract_all(videos: Dict[str, str], dst_path: str, options: ExtractOptions, num_workers: int = 1,
                overwrite: bool = False, shard: Shard = Shard(), stop_at_failure: bool = False) -> List[VideoOutcome]:
    """Extract the videos of ``shard`` (each resumable; with ``stop_at_failure`` up to the first that
    fails) and, unsharded, (re)write ``dst_path/video_info_new.csv``."""
    os.makedirs(os.path.join(dst_path, ROWS_FOLDER), exist_ok=True)
    items = shard.of(sorted(videos.items()))
    if not overwrite:
        _adopt_rows(items, dst_path)
    job = functools.partial(_extract_job, options=options, dst_path=dst_path, overwrite=overwrite)
    desc = "snippet features" + (f", {shard}" if shard.count > 1 else "")
    outcomes = run_per_video(job, items, num_workers, desc, stop_at_failure)
    if shard.count == 1:
        merge_video_info(videos, dst_path, allow_missing=True)
    return outcomes


def merge_video_info(videos: Dict[str, str], dst_path: str, allow_missing: bool = False) -> List[str]:
    """Write ``dst_path/video_info_new.csv`` from the rows of ``videos`` (over the rows it held, which
    are kept for other videos); the names of the videos without features or row. ToolError naming
    them unless ``allow_missing``."""
    info_path = os.path.join(dst_path, VIDEO_INFO_FILE)
    rows = read_video_info(info_path)
    missing = []
    for name in sorted(videos):
        rows.update(read_video_info(row_file(dst_path, name)))
        if video_info_name(name) not in rows or not os.path.isfile(feature_file(dst_path, name)):
            missing.append(name)
    if missing and not allow_missing:
        raise missing_outputs_error(missing, len(videos), dst_path, "features or video_info row")
    os.makedirs(dst_path, exist_ok=True)
    write_video_info(info_path, rows)
    return missing


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if is_msrun_scheduler():
            print("msrun's scheduler process: the workers extract the features")
            return 0
        videos = list_videos(args.src_path)
        if args.merge:
            missing = merge_video_info(videos, args.dst_path, args.allow_missing)
            print(f"wrote {os.path.join(args.dst_path, VIDEO_INFO_FILE)}: {len(videos) - len(missing)} of "
                  f"{len(videos)} videos" + (f" ({len(missing)} without features or row)" if missing else ""))
            return 0
        for name in ("snippet_frames", "interval"):
            check_positive(name, getattr(args, name))
        options = ExtractOptions(stream_specs(args.rgb_config, args.rgb_checkpoint, args.flow_config,
                                              args.flow_checkpoint, backend_overrides(args)),
                                 args.snippet_frames, args.interval, args.tscale, args.flow_method, args.subset)
        shard = resolve_shard(args.shard)
        outcomes = extract_all(videos, args.dst_path, options, args.num_workers, args.overwrite, shard,
                               stop_at_failure=args.strict)
        status = report_outcomes(outcomes, args.strict, f"videos of {shard}" if shard.count > 1 else "videos",
                                 failures_fail=True, total=len(shard.of(videos)))
        if shard.count > 1:
            print(f"{shard}: {len(outcomes)} of {len(videos)} videos; when every shard has finished, write "
                  f"{VIDEO_INFO_FILE} with the same command and --merge")
        return status

    return run_main(lambda: run_interruptible(body))


if __name__ == "__main__":
    sys.exit(main())
