"""BMN data: per-video feature sequences, ActivityNet-style annotations and BMN training targets.

Inputs:

* features: one file per video in ``feature_path``, ``<name>.csv`` (a header row, then T rows of
  feat_dim values: the BSN/BMN "csv_mean_100" files) or ``<name>.npy`` (a (T, feat_dim) array);
  ``<name>`` is the annotation key (``v_<youtube id>`` for ActivityNet).
* annotations, two layouts:
  - BSN: ``anet_anno_action.json`` ``{name: {duration_second, duration_frame, feature_frame,
    annotations: [{segment: [s, e] seconds, label}]}}`` + ``video_info_new.csv`` (video, numFrame,
    seconds, fps, rfps, subset, featureFrame) giving the subset;
  - PaddleVideo: the same JSON with a ``subset`` field per video (``video_info_path`` empty).

Clean-up, all counted and reported once per split with example video names: videos without a
feature file or without subset are skipped; segments running past the video are clipped to it;
segments with end <= start are dropped; training videos left with no segment are skipped;
disagreements between the CSV and the JSON metadata are reported (the JSON wins, like BSN/BMN).
A feature file with the wrong shape or non-finite values is reported naming the file: when training
the next video is used, so an epoch never stops; when evaluating the video gets no proposals (its
item carries the index ``-1 - index``), so it counts as zero recall, as a video without a feature
file does.

Targets (vectorised NumPy, same definitions as the ports): with the features covering
``duration = feature_frame / duration_frame * duration_second`` seconds and segments normalised by
it,

* ``gt_iou_map``: for every map cell, the max tIoU of its proposal (:func:`src.models.bmn.proposal_steps`
  / T, in the configured ``bm_layout``) with a ground-truth segment;
* ``gt_start[t]`` / ``gt_end[t]``: max intersection-over-anchor of the anchor
  [(t-0.5)/T, (t+1.5)/T] with a ground-truth start / end region of width 3/T.

Seconds of the proposals (``duration_rule``): ``feature_frame`` scales the [0, 1] positions by the
same span as the targets; ``interval_floor`` by ``(duration_frame // feature_interval *
feature_interval) / duration_frame * duration_second``, the rule of JJBOY's and mmaction2's
post-processing behind the published figures (on ActivityNet-1.3 validation the two differ for
1,572 of 4,728 videos).

Videos of the evaluated split without annotations (``testing``, unlabelled) are kept: they get
proposals, and the metric is skipped when no video of the split has ground truth.

Datasets: :func:`create_bmn_dataset` gives batched columns ``(features, gt_iou_map, gt_start,
gt_end)`` for training and ``(features, video_index)`` otherwise; ``dataset.video_source`` is the
:class:`BMNFeatureSource`, whose :meth:`~BMNFeatureSource.video_info` maps an index to the video's
id and duration and whose ``ground_truth`` holds the split's annotations for the metric.
"""
import csv
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from src.data.annotations import SPLIT_SUBSETS
from src.data.dataset import dataset_from_source
from src.metrics.proposal_metrics import temporal_iou
from src.proposals.bm_layout import proposal_steps
from src.utils.io import read_json
from src.utils.numbers import MAX_FRAMES, MAX_SECONDS, checked_number
from src.utils.runtime import get_logger

__all__ = ["BMNDataError", "BMNVideo", "BMNFeatureSource", "DataReport", "unusable_index", "canonical_split",
           "read_annotation_database", "load_feature_file", "bmn_targets", "build_bmn_source",
           "create_bmn_dataset", "official_video_id", "clean_segment"]

TRAIN_COLUMNS = ["features", "gt_iou_map", "gt_start", "gt_end"]
EVAL_COLUMNS = ["features", "video_index"]
EXAMPLES_SHOWN = 5
MAX_SUBSTITUTIONS = 20


def unusable_index(index: int) -> int:
    """The video index an evaluation item carries when its feature file is unusable (negative: the
    evaluation skips it); the same function maps it back."""
    return -1 - index


class BMNDataError(ValueError):
    """Unusable BMN input; the message names the file or video and the fix."""


def canonical_split(split: str) -> str:
    """``train`` / ``val`` / ``test`` from any accepted spelling (training, validation, ...)."""
    for name, subsets in SPLIT_SUBSETS.items():
        if split == name or split in subsets:
            return name
    raise BMNDataError(f"unknown split {split!r}; use one of {sorted(SPLIT_SUBSETS)}")


def official_video_id(name: str) -> str:
    """The id used by the official evaluation files: the annotation key without ``v_``."""
    return name[2:] if name.startswith("v_") else name


@dataclass
class DataReport:
    """Counted problems, each with a few example videos, printed as one summary."""
    counts: Dict[str, int] = field(default_factory=OrderedDict)
    examples: Dict[str, List[str]] = field(default_factory=dict)

    def add(self, problem: str, example: str) -> None:
        self.counts[problem] = self.counts.get(problem, 0) + 1
        shown = self.examples.setdefault(problem, [])
        if len(shown) < EXAMPLES_SHOWN:
            shown.append(example)

    def lines(self) -> List[str]:
        return [f"{count} x {problem} (e.g. {', '.join(self.examples[problem])})"
                for problem, count in self.counts.items()]


@dataclass
class BMNVideo:
    """One video of a split: ``segments`` (G, 2) in seconds, clipped to the video and checked;
    ``duration`` is the span of the features in seconds (segments / duration, clipped to [0, 1],
    are the normalised targets); proposals * ``proposal_seconds`` are seconds (``duration_rule``)."""
    name: str
    duration: float
    segments: np.ndarray
    feature_file: str
    proposal_seconds: float

    @property
    def official_id(self) -> str:
        return official_video_id(self.name)


# --- annotations ----------------------------------------------------------------------------------

def _read_json(path: str):
    data = read_json(path, BMNDataError,
                     "set --annotation_path to anet_anno_action.json or a PaddleVideo BMN label JSON")
    if not isinstance(data, dict):
        raise BMNDataError(f"{path} must map video names to their annotations")
    return data


def _read_video_info(path: str) -> Dict[str, dict]:
    if not os.path.isfile(path):
        raise BMNDataError(f"video info file {path} does not exist; set --video_info_path to "
                           f"video_info_new.csv, or leave it empty when the annotation JSON has a "
                           f"'subset' field per video")
    with open(path, "r", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"video", "subset"} - set(reader.fieldnames or ())
        if missing:
            raise BMNDataError(f"{path} lacks the column(s) {sorted(missing)}; expected the BSN "
                               f"header video,numFrame,seconds,fps,rfps,subset,featureFrame")
        return {row["video"]: row for row in reader}


_METADATA_PAIRS = (("seconds", "duration_second", 0.01), ("numFrame", "duration_frame", 0.5),
                   ("featureFrame", "feature_frame", 0.5))


def _metadata_disagrees(row: dict, entry: dict) -> bool:
    for column, key, tolerance in _METADATA_PAIRS:
        if row.get(column) not in (None, "") and key in entry:
            try:
                if abs(float(row[column]) - float(entry[key])) > tolerance:
                    return True
            except (TypeError, ValueError):
                return True
    return False


def read_annotation_database(annotation_path: str, video_info_path: str = "",
                             report: Optional[DataReport] = None) -> Dict[str, dict]:
    """``{name: entry}`` with every entry's ``subset`` resolved (BSN CSV or the JSON's own field).

    Videos present in only one of the two files are skipped and counted in ``report``.
    """
    report = report if report is not None else DataReport()
    database = _read_json(annotation_path)
    if video_info_path:
        info = _read_video_info(video_info_path)
        resolved = {}
        for name, entry in database.items():
            row = info.get(name)
            if row is None:
                report.add(f"videos of {os.path.basename(annotation_path)} missing from "
                           f"{os.path.basename(video_info_path)} (skipped)", name)
                continue
            if entry.get("subset") not in (None, row["subset"]):
                report.add("videos whose subset differs between the two files (CSV used)", name)
            if _metadata_disagrees(row, entry):
                report.add("videos whose CSV frame counts / seconds differ from the JSON (JSON used)", name)
            resolved[name] = dict(entry, subset=row["subset"])
        for name in info:
            if name not in database:
                report.add(f"videos of {os.path.basename(video_info_path)} missing from "
                           f"{os.path.basename(annotation_path)} (skipped)", name)
        return resolved
    without_subset = [name for name, entry in database.items() if "subset" not in entry]
    if without_subset and len(without_subset) == len(database):
        raise BMNDataError(f"{annotation_path} has no 'subset' field; pass --video_info_path "
                           f"(video_info_new.csv, BSN layout) to say which videos are training / validation")
    for name in without_subset:
        report.add("videos without a 'subset' field (skipped)", name)
    return {name: entry for name, entry in database.items() if "subset" in entry}


def _entry_number(source: str, name: str, entry: dict, key: str, integer: bool = False) -> float:
    """A number of a video's annotation entry: finite, not negative, not beyond any real video."""
    return checked_number(entry[key], f"{source}: video {name}", key, integer=integer, low=0,
                          high=MAX_FRAMES if integer else MAX_SECONDS, error=BMNDataError)


def _feature_duration(name: str, entry: dict, source: str) -> float:
    """Seconds covered by the features: feature_frame / duration_frame * duration_second."""
    if "duration_second" not in entry:
        raise BMNDataError(f"{source}: video {name} has no 'duration_second'")
    seconds = _entry_number(source, name, entry, "duration_second")
    if entry.get("duration_frame") and entry.get("feature_frame"):
        frames = _entry_number(source, name, entry, "duration_frame")
        seconds = _entry_number(source, name, entry, "feature_frame") / frames * seconds
    return seconds


def _proposal_seconds(name: str, entry: dict, source: str, feature_span: float, duration_rule: str,
                      feature_interval: int) -> float:
    """Seconds that the [0, 1] proposal positions scale to, by ``duration_rule`` (module docstring)."""
    if duration_rule == "feature_frame":
        return feature_span
    if "duration_frame" not in entry:
        raise BMNDataError(f"{source}: video {name} has no 'duration_frame', which duration_rule interval_floor "
                           f"needs; use --duration_rule feature_frame")
    frames = int(_entry_number(source, name, entry, "duration_frame"))
    if frames <= 0:
        raise BMNDataError(f"{source}: video {name} has duration_frame {frames}; it must be positive")
    return (frames // feature_interval * feature_interval) / frames * _entry_number(source, name, entry,
                                                                                   "duration_second")


def clean_segment(name: str, start: float, end: float, duration: float, report: DataReport,
                  kind: str = "segments") -> Optional[Tuple[float, float]]:
    """``(start, end)`` seconds clipped to the video's [0, duration], or None when nothing is left
    (end <= start); each clipped or dropped ``kind`` is counted in ``report`` under the video ``name``."""
    if start < 0.0 or end > duration:
        report.add(f"{kind} running past the video, clipped to it", f"{name} [{start:.2f}, {end:.2f}]")
        start, end = max(start, 0.0), min(end, duration)
    if end <= start:
        report.add(f"{kind} with end <= start (dropped)", f"{name} [{start:.2f}, {end:.2f}]")
        return None
    return start, end


def _segments(source: str, name: str, annotations) -> List[Optional[Tuple[float, float]]]:
    """Each annotation's ``(start, end)`` seconds, None for one without a numeric two-value 'segment';
    an infinite or absurd number is an error naming the file and the video."""
    segments = []
    for annotation in annotations or ():
        segment = annotation.get("segment") if isinstance(annotation, dict) else None
        if not isinstance(segment, (list, tuple)) or len(segment) != 2 or \
                any(isinstance(value, bool) or not isinstance(value, (int, float, str)) for value in segment):
            segments.append(None)
            continue
        try:
            start, end = (float(value) for value in segment)
        except (ValueError, OverflowError):
            segments.append(None)
            continue
        where = f"{source}: video {name}"
        segments.append(tuple(checked_number(value, where, "segment", low=-MAX_SECONDS, high=MAX_SECONDS,
                                             error=BMNDataError) for value in (start, end)))
    return segments


def _clean_segments(name: str, segments, duration: float, report: DataReport) -> np.ndarray:
    """(G, 2) float64 segments clipped to the video's [0, duration] with end > start; problems counted."""
    kept = []
    for segment in segments:
        if segment is None:
            report.add("annotations without a numeric [start, end] 'segment' (dropped)", name)
            continue
        segment = clean_segment(name, *segment, duration, report)
        if segment:
            kept.append(segment)
    return np.asarray(kept, dtype=np.float64).reshape(-1, 2)


# --- features -------------------------------------------------------------------------------------

def _list_feature_files(feature_path: str) -> Dict[str, str]:
    if not os.path.isdir(feature_path):
        raise BMNDataError(f"feature folder {feature_path} does not exist; set --feature_path to the "
                           f"folder of <video>.csv / <video>.npy files")
    files = {}
    for file_name in sorted(os.listdir(feature_path)):
        stem, extension = os.path.splitext(file_name)
        if extension in (".npy", ".csv") and (stem not in files or extension == ".npy"):
            files[stem] = os.path.join(feature_path, file_name)
    return files


def load_feature_file(path: str, tscale: int, feat_dim: int) -> np.ndarray:
    """(feat_dim, tscale) float32 from a ``.csv`` (header + T rows) or ``.npy`` (T, feat_dim) file."""
    try:
        if path.endswith(".npy"):
            values = np.load(path, allow_pickle=False)
        else:
            values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as err:
        if "allow_pickle" in str(err):
            raise BMNDataError(f"feature file {path} holds Python objects, not numbers; it is not read (loading it "
                               f"could run code): save the (T, feat_dim) float array with numpy.save") from err
        raise BMNDataError(f"cannot read feature file {path}: {err}") from err
    if not isinstance(values, np.ndarray):  # np.load opens an .npz archive whatever its name
        values.close()
        raise BMNDataError(f"feature file {path} is an .npz archive under an .npy name; save the (T, feat_dim) "
                           f"array itself with numpy.save")
    if values.shape != (tscale, feat_dim):
        raise BMNDataError(f"feature file {path} has shape {values.shape}, expected (tscale, feat_dim) = "
                           f"({tscale}, {feat_dim}); set --tscale / --feat_dim to match the features "
                           f"or regenerate the file")
    values = values.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise BMNDataError(f"feature file {path} holds NaN or infinite values; regenerate it")
    return np.ascontiguousarray(values.T)


# --- targets --------------------------------------------------------------------------------------

def bmn_targets(segments: np.ndarray, tscale: int,
                bm_layout: str = "duration_start") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(gt_iou_map (T, T), gt_start (T,), gt_end (T,))`` float32 for normalised (G, 2) segments;
    the map in ``bm_layout``."""
    gap = 1.0 / tscale
    gt_min = np.clip(segments[:, 0], 0.0, 1.0)[:, None, None]
    gt_max = np.clip(segments[:, 1], 0.0, 1.0)[:, None, None]
    proposals = proposal_steps(tscale, bm_layout) * gap  # (T, T, 2)
    gt_iou_map = temporal_iou(proposals, np.concatenate([gt_min, gt_max], axis=-1)[:, None]).max(axis=0)

    anchor_min = (np.arange(tscale) - 0.5) * gap
    anchor_max = (np.arange(tscale) + 1.5) * gap

    def match(boundaries):
        low, high = boundaries[:, None] - 1.5 * gap, boundaries[:, None] + 1.5 * gap
        overlap = np.clip(np.minimum(anchor_max, high) - np.maximum(anchor_min, low), 0.0, None)
        return (overlap / (anchor_max - anchor_min)).max(axis=0)

    return (gt_iou_map.astype(np.float32), match(gt_min[:, 0, 0]).astype(np.float32),
            match(gt_max[:, 0, 0]).astype(np.float32))


# --- the source -----------------------------------------------------------------------------------

class BMNFeatureSource:
    """Random-access source of one split for ``GeneratorDataset`` (see the module docstring)."""

    def __init__(self, videos: List[BMNVideo], tscale: int, feat_dim: int, training: bool,
                 ground_truth: Dict[str, List[List[float]]], bm_layout: str = "duration_start"):
        self.videos = videos
        self.tscale = tscale
        self.bm_layout = bm_layout
        self.feat_dim = feat_dim
        self.training = training
        self.ground_truth = ground_truth
        self._bad_files: Dict[int, str] = {}

    def column_names(self) -> List[str]:
        return list(TRAIN_COLUMNS if self.training else EVAL_COLUMNS)

    def __len__(self) -> int:
        return len(self.videos)

    def video_info(self, index: int) -> dict:
        video = self.videos[int(index)]
        return {"id": video.official_id, "name": video.name, "duration": video.proposal_seconds}

    def _training_item(self, index: int):
        video = self.videos[index]
        features = load_feature_file(video.feature_file, self.tscale, self.feat_dim)
        return (features,) + bmn_targets(video.segments / video.duration, self.tscale, self.bm_layout)

    def __getitem__(self, index):
        index = int(index)
        if not self.training:
            video = self.videos[index]
            try:
                return load_feature_file(video.feature_file, self.tscale, self.feat_dim), np.int32(index)
            except BMNDataError as err:
                get_logger().warning(f"{video.name} gets no proposals (it counts as zero recall): {err}")
                return np.zeros((self.feat_dim, self.tscale), np.float32), np.int32(unusable_index(index))
        for attempt in range(MAX_SUBSTITUTIONS):
            candidate = (index + attempt) % len(self.videos)
            if candidate in self._bad_files:
                continue
            try:
                return self._training_item(candidate)
            except BMNDataError as err:
                self._bad_files[candidate] = str(err)
                get_logger().warning(f"skipping training video {self.videos[candidate].name} "
                                     f"({len(self._bad_files)} bad feature file(s) so far in this "
                                     f"worker): {err}")
        raise BMNDataError(f"{MAX_SUBSTITUTIONS} consecutive training videos from index {index} have "
                           f"unusable feature files; last problem: {list(self._bad_files.values())[-1]}")


def _build_source(annotation_path: str, video_info_path: str, feature_path: str, split: str,
                  tscale: int, feat_dim: int, bm_layout: str = "duration_start", duration_rule: str = "feature_frame",
                  feature_interval: int = 16) -> Tuple[BMNFeatureSource, DataReport]:
    report = DataReport()
    database = read_annotation_database(annotation_path, video_info_path, report)
    feature_files = _list_feature_files(feature_path)
    subsets = SPLIT_SUBSETS[split]
    training = split == "train"
    videos, ground_truth = [], {}
    for name, entry in database.items():
        if entry["subset"] not in subsets:
            continue
        written = _segments(annotation_path, name, entry.get("annotations"))
        raw = [list(segment) for segment in written if segment]  # the metric's ground truth, as written
        if raw:
            ground_truth[official_video_id(name)] = raw
        duration = _feature_duration(name, entry, annotation_path)
        if not duration > 0:
            report.add("videos with a non-positive duration (skipped)", name)
            continue
        segments = _clean_segments(name, written, _entry_number(annotation_path, name, entry, "duration_second"),
                                   report)
        if training and len(segments) == 0:
            report.add("training videos without a usable segment (skipped)", name)
            continue
        if name not in feature_files:
            report.add(f"videos without a feature file in {feature_path} (skipped)", name)
            continue
        seconds = _proposal_seconds(name, entry, annotation_path, duration, duration_rule, feature_interval)
        videos.append(BMNVideo(name, duration, segments, feature_files[name], seconds))
    if not videos:
        raise BMNDataError(f"no usable {split} video: {annotation_path} lists "
                           f"{sum(e['subset'] in subsets for e in database.values())} video(s) of subset "
                           f"{'/'.join(subsets)} and none has both annotations and a feature file in "
                           f"{feature_path}")
    return BMNFeatureSource(videos, tscale, feat_dim, training, ground_truth, bm_layout), report


_SOURCES: Dict[tuple, BMNFeatureSource] = {}


def build_bmn_source(cfg, split: str) -> BMNFeatureSource:
    """The source of ``split`` (train / val / test), built once per process and configuration;
    the first build logs the clean-up report."""
    split = canonical_split(split)
    key = (os.path.abspath(cfg.annotation_path), cfg.video_info_path and os.path.abspath(cfg.video_info_path),
           os.path.abspath(cfg.feature_path), split, cfg.tscale, cfg.feat_dim, cfg.bm_layout, cfg.duration_rule,
           cfg.feature_interval)
    if key not in _SOURCES:
        source, report = _build_source(cfg.annotation_path, cfg.video_info_path, cfg.feature_path, split,
                                       cfg.tscale, cfg.feat_dim, cfg.bm_layout, cfg.duration_rule,
                                       cfg.feature_interval)
        logger = get_logger()
        logger.info(f"BMN {split} split: {len(source)} videos from {cfg.annotation_path}"
                    + (f"; {len(report.counts)} kind(s) of problem:" if report.counts else ""))
        for line in report.lines():
            logger.warning(f"  {line}")
        _SOURCES[key] = source
    return _SOURCES[key]


def create_bmn_dataset(cfg, split: str, rank_id: int = 0, group_size: int = 1):
    """Batched dataset of ``split``: shuffled, ``drop_remainder`` and target columns for training;
    ``(features, video_index)`` in order otherwise. ``dataset.video_source`` is the source."""
    source = build_bmn_source(cfg, split)
    dataset = dataset_from_source(cfg, source, canonical_split(split), rank_id, group_size)
    dataset.video_source = source
    return dataset
