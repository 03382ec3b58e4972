"""The dataset layer: small random-access sources wrapped by :func:`dataset_from_source`.

Recognizers read videos through :class:`VideoClipSource` (frame folders + annotation JSON, list
files, or video files decoded on the fly); localizers read feature sequences
(:mod:`src.data.bmn_data`). Both end in a ``mindspore.dataset.GeneratorDataset`` with shuffling on
train, python worker processes, sharding for distributed runs and batching (drop_remainder on train
only); each task's ``create_dataset`` (:mod:`src.tasks`) picks its source. Worker
processes hand items over in shared memory whose rows MindSpore (>= 2.6) sizes dynamically, so
64x224x224 clips and 25-segment TenCrop test items pass without a fixed row limit.
"""
import functools
import multiprocessing
import os
import warnings
from typing import Dict, List, Optional, Sequence

import mindspore.dataset as ds
import numpy as np

from src.options import appearance_modality, output_classes, stream_config
from src.transforms import SoftTargets
from src.utils.runtime import get_logger, run_folder

from .annotations import AnnotationError, VideoRecord, drop_missing, load_annotation_json, load_list_file
from .bad_samples import BAD_SAMPLES_FILE, BadSampleList
from .frame_counts import cached_video_counts, folder_frame_count, record_video_count
from .pipelines import build_pipeline, frames_needed
from .readers import FlowFrameReader, FrameReadError, RGBFrameReader, ShortVideoError, VideoFileReader

# A training item tries this many videos, from its own on, before an unreadable stretch stops the run.
MAX_SKIPPED_IN_A_ROW = 10

__all__ = ["VideoClipSource", "build_video_source", "create_video_dataset", "dataset_from_source",
           "usable_workers", "uses_soft_targets"]


class VideoClipSource:
    """Random-access source for ``GeneratorDataset``: one item per video.

    One or more *streams* (RGB, flow) of the same videos are read on the same frame indices and
    the same random draws, so joint RGB+flow evaluation sees the same clips in both streams.

    Item ``i`` -> per stream a float32 array, then the label (int32), then at test time the video
    index (int32). Training arrays are one view, ``(C, T, H, W)`` or ``(S, C, H, W)``; test arrays
    hold every view of the video, ``(V, C, T, H, W)`` or ``(V, S, C, H, W)``.

    Random draws come from ``numpy.random.default_rng([seed, index, draw])`` where ``draw`` counts
    the items this process has produced, so a run is reproducible for a given seed and worker count
    while every epoch draws new crops.

    A clip its pipeline mirrored (``flip`` set by :class:`RandomHorizontalFlip`) gets the label
    ``mirrored_labels`` gives its class, when it gives one (left <-> right in direction classes).
    """

    def __init__(self, streams: Sequence[dict], class_names: Sequence[str], seed: int, test_mode: bool,
                 mirrored_labels: Optional[Dict[int, int]] = None, bad_samples: Optional[BadSampleList] = None,
                 count_cache: str = ""):
        """``streams``: dicts with ``modality``, ``reader``, ``records`` (aligned across streams),
        ``temporal`` (sampler; each stream's draws use the same seed, so equal samplers pick equal
        frames) and ``pipeline``. ``bad_samples``: where a training source lists the videos it skips;
        ``count_cache``: the folder whose frame-count cache records videos found shorter than counted."""
        lengths = {len(stream["records"]) for stream in streams}
        if len(lengths) != 1:
            raise ValueError("streams of one source must list the same videos")
        self.streams = list(streams)
        self.class_names = list(class_names)
        self.seed = seed
        self.test_mode = test_mode
        self.mirrored_labels = dict(mirrored_labels or {})
        self.bad_samples = bad_samples
        self.count_cache = count_cache
        self._draws = 0
        # per process, and only for videos that went wrong: real counts of videos shorter than counted,
        # and the indices found unreadable
        self._real_frames: Dict[int, int] = {}
        self._unreadable = set()

    @property
    def records(self) -> List[VideoRecord]:
        return self.streams[0]["records"]

    def column_names(self) -> List[str]:
        names = ["imgs"] if len(self.streams) == 1 else [f"imgs_{s['modality']}" for s in self.streams]
        return names + (["label", "index"] if self.test_mode else ["label"])

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index: int):
        index = int(index)
        seed_words = [self.seed, index] if self.test_mode else [self.seed, index, self._draws]
        self._draws += 1
        if self.test_mode or self.bad_samples is None:
            return self._item(index, seed_words)
        # training: an unreadable video is listed and replaced by the next readable one, on the same draws
        for offset in range(min(len(self), MAX_SKIPPED_IN_A_ROW)):
            candidate = (index + offset) % len(self)
            if candidate in self._unreadable:
                continue
            try:
                return self._item(candidate, seed_words)
            except FrameReadError as err:
                self._unreadable.add(candidate)
                self.bad_samples.add(self.records[candidate].path, str(err))
        raise FrameReadError(f"{MAX_SKIPPED_IN_A_ROW} videos in a row from {self.records[index].path} on are "
                             f"unreadable (listed in {self.bad_samples.file}): check the data")

    def _frame_count(self, stream: dict, index: int) -> int:
        record = stream["records"][index]
        if index in self._real_frames:
            return self._real_frames[index]
        return record.num_frames or stream["reader"].frame_count(record.path)

    def _item(self, index: int, seed_words: List[int]):
        """The item of ``index``; a video shorter than counted is sampled again within its real length."""
        try:
            return self._read(index, seed_words)
        except ShortVideoError as short:
            self._real_frames[index] = short.count.frames
            problem = short.count.problem() or f"it decodes {short.count.frames} frames, fewer than counted"
            warnings.warn(f"{short.path}: {problem}")
            if self.count_cache:
                record_video_count(short.path, self.count_cache, short.count)
            if short.count.frames <= 0:
                raise FrameReadError(f"video {short.path} decodes no frame") from None
            return self._read(index, seed_words)

    def _read(self, index: int, seed_words: List[int]):
        num_frames = min(self._frame_count(stream, index) for stream in self.streams)
        outputs, mirrored = [], False
        for stream in self.streams:
            record = stream["records"][index]
            sampled = stream["temporal"]({"total_frames": num_frames, "rng": np.random.default_rng(seed_words)})
            results = dict(sampled, modality=stream["modality"], num_crops=1,
                           rng=np.random.default_rng(seed_words + [1]))
            results["imgs"] = stream["reader"].read(record.path, results["frame_inds"])
            results["img_shape"] = results["imgs"].shape[1:3]
            results = stream["pipeline"](results)
            mirrored = bool(results.get("flip", False))  # equal draws: every stream flips alike
            outputs.append(results["imgs"] if self.test_mode else results["imgs"][0])
        label = self.records[index].label
        if mirrored:
            label = self.mirrored_labels.get(label, label)
        label = np.int32(label)
        return tuple(outputs) + ((label, np.int32(index)) if self.test_mode else (label,))


def _shown(items: Sequence[str]) -> str:
    return "; ".join(items[:3]) + (" ..." if len(items) > 3 else "")


def _count_video_files(records: List[VideoRecord], root: str,
                       bad_samples: Optional[BadSampleList]) -> List[VideoRecord]:
    """Frame counts of video files without decoding them: the cached decoder count where there is one,
    else 0 (the container's count, checked when a clip is read). Empty and unreadable files, and files
    cached as undecodable, are dropped in one counted warning (and listed in ``bad_samples``); cached
    short decodes are one counted warning, as the counting tool reports them."""
    counts = cached_video_counts([record.path for record in records], root)
    kept, dropped, short = [], [], []
    for record in records:
        count = counts.get(record.path)
        reason = _unusable_file(record.path) or (count is not None and count.frames <= 0 and "no frame decodes")
        if reason:
            dropped.append((record.path, reason))
            continue
        if count is not None:
            record.num_frames = count.frames
            if count.problem():
                short.append(f"{record.path}: {count.problem()}")
        kept.append(record)
    if short:
        warnings.warn(f"{len(short)} of {len(records)} videos decode fewer frames than their header declares; "
                      f"the decoded frames are used: {_shown(short)}")
    if dropped:
        for path, reason in dropped if bad_samples else ():
            bad_samples.add(path, reason, warn=False)
        listed = f"; listed in {bad_samples.file}" if bad_samples else ""
        warnings.warn(f"{len(dropped)} of {len(records)} videos are unusable and skipped{listed}: "
                      f"{_shown([f'{path} ({reason})' for path, reason in dropped])}")
    if not kept:
        raise AnnotationError(f"none of the {len(records)} videos can be read (first: {dropped[0][0]}: "
                              f"{dropped[0][1]})")
    uncounted = sum(1 for record in kept if not record.num_frames)
    if uncounted:
        get_logger().info(f"{uncounted} of {len(kept)} videos have no cached decoder count: their containers' "
                          f"counts are used and checked as clips are read (count them ahead with `python -m "
                          f"src.tools.data.count_frames --video_path {root}`)")
    return kept


def _unusable_file(path: str) -> str:
    """Why a video file cannot be read, from its metadata alone ('' when it may be)."""
    try:
        if os.stat(path).st_size == 0:
            return "empty file"
    except OSError as err:
        return err.strerror or "cannot be read"
    return "" if os.access(path, os.R_OK) else "no read permission"


def _count_frame_folders(records: List[VideoRecord], modality: str, template: str) -> List[VideoRecord]:
    """Frame counts of frame folders: a count from the annotation is an RGB count (a flow folder holds
    one frame fewer); without one the folder is counted (``n_frames``, else files named by ``template``)."""
    files = [record.path for record in records if not os.path.isdir(record.path)]
    if files:
        raise AnnotationError(f"{len(files)} entries of the list are files, not frame folders ({_shown(files)}); "
                              f"set data_source to 'video' to decode video files")
    axis = "x" if modality == "flow" else ""
    for record in records:
        if record.num_frames:
            record.num_frames = max(record.num_frames - 1, 0) if modality == "flow" else record.num_frames
        else:
            record.num_frames = folder_frame_count(record.path, template, axis)
    return _drop_empty(records, f"frame folders hold no frame named like {template!r} and no n_frames file")


def _drop_empty(records: List[VideoRecord], what: str) -> List[VideoRecord]:
    empty = [record.path for record in records if record.num_frames <= 0]
    if empty:
        warnings.warn(f"{len(empty)} of {len(records)} {what} and are skipped: {_shown(empty)}")
    kept = [record for record in records if record.num_frames > 0]
    if not kept:
        raise AnnotationError(f"none of the {len(records)} videos has a frame to read ({what}; first: {empty[0]})")
    return kept


def _stream_records(cfg, split: str, modality: str, root: str, annotation: str,
                    bad_samples: Optional[BadSampleList] = None):
    """Records and class names of one stream, with missing and unreadable videos dropped."""
    if cfg.data_source == "frames":
        records, class_names = load_annotation_json(annotation, split, root)
    else:
        records, class_names = load_list_file(annotation, root, output_classes(cfg))
    records = drop_missing(records, f"{modality} videos of {annotation}")
    if cfg.data_source == "video":
        return _count_video_files(records, root, bad_samples), class_names
    template = cfg.flow_template if modality == "flow" else cfg.rgb_template
    return _count_frame_folders(records, modality, template), class_names


def _annotation_for(cfg, split: str, joint_flow: bool) -> str:
    if joint_flow and cfg.annotation_path_joint_flow:
        return cfg.annotation_path_joint_flow
    if cfg.data_source != "frames" and split == "val" and cfg.val_annotation_path:
        return cfg.val_annotation_path
    return cfg.annotation_path


def _reader(cfg, modality: str):
    if modality == "flow":
        if cfg.data_source == "video":
            raise ValueError("flow needs precomputed flow frames: set data_source to 'frames' or 'list' "
                             "and extract flow with `python -m src.tools.data.convert_rgb_to_flow`")
        return FlowFrameReader(cfg.flow_template, cfg.frame_start_index)
    return VideoFileReader() if cfg.data_source == "video" else RGBFrameReader(cfg.rgb_template, cfg.frame_start_index)


def _warn_short(records: List[VideoRecord], needed: int, what: str) -> None:
    short = [r.video_id for r in records if 0 < r.num_frames < needed]
    if short:
        warnings.warn(f"{len(short)} of {len(records)} {what} have fewer than {needed} frames and are "
                      f"loop-padded: {', '.join(short[:3])}{' ...' if len(short) > 3 else ''}")


def build_video_source(cfg, split: str, joint: bool = False, bad_samples_file: str = "") -> VideoClipSource:
    """The recognizer source of ``split`` ('train' | 'val').

    ``joint`` reads RGB from ``video_path`` and flow from ``video_path_joint_flow`` for the same
    videos (joint evaluation); otherwise one stream of ``cfg.mode`` from ``video_path``. With
    ``bad_samples_file`` a training source skips unreadable videos and lists them there.
    """
    bad_samples = BadSampleList(bad_samples_file) if bad_samples_file and split == "train" else None
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if joint:
        wanted = [(appearance_modality(cfg), cfg.video_path, False), ("flow", cfg.video_path_joint_flow, True)]
    else:
        wanted = [(cfg.mode, cfg.video_path, False)]
    streams, class_names, frames_wanted = [], None, 0
    for modality, root, is_joint_flow in wanted:
        if not root:
            raise ValueError(f"no {modality} frame root: set --video_path"
                             + (" and --video_path_joint_flow" if joint else ""))
        reader = _reader(cfg, modality)
        annotation = _annotation_for(cfg, split, is_joint_flow)
        records, names = _stream_records(cfg, split, modality, root, annotation, bad_samples)
        if class_names is not None and names != class_names:
            raise AnnotationError(f"{annotation}: its classes differ from the RGB annotation's")
        class_names = names
        stream_cfg = stream_config(cfg, modality) if joint else cfg
        temporal, pipeline = build_pipeline(stream_cfg, split, modality)
        frames_wanted = max(frames_wanted, frames_needed(stream_cfg, split))
        streams.append({"modality": modality, "records": records, "reader": reader, "temporal": temporal,
                        "pipeline": pipeline})
    if joint:  # keep the videos both streams have, in the RGB order
        common = set(r.video_id for r in streams[0]["records"]) & set(r.video_id for r in streams[1]["records"])
        for stream in streams:
            stream["records"] = [r for r in stream["records"] if r.video_id in common]
        flow_by_id = {r.video_id: r for r in streams[1]["records"]}
        streams[1]["records"] = [flow_by_id[r.video_id] for r in streams[0]["records"]]
        if not common:
            raise AnnotationError("the RGB and flow annotations share no video")
    network_classes = output_classes(cfg)
    if len(class_names) != network_classes:
        if cfg.finetune_num_classes:
            fix = (f"finetune_num_classes is {cfg.finetune_num_classes}; set --finetune_num_classes "
                   f"{len(class_names)}")
        else:
            fix = (f"num_classes is {cfg.num_classes}; set --num_classes {len(class_names)} (or "
                   f"--finetune_num_classes {len(class_names)} to fine-tune)")
        raise AnnotationError(f"{cfg.annotation_path} has {len(class_names)} classes but {fix}")
    _warn_short(streams[0]["records"], frames_wanted, f"{split} videos")
    return VideoClipSource(streams, class_names, cfg.seed, test_mode=split != "train",
                           mirrored_labels=mirrored_labels(cfg.flip_label_pairs, class_names,
                                                           cfg.config_path or "the configuration"),
                           bad_samples=bad_samples, count_cache=cfg.video_path if cfg.data_source == "video" else "")


def mirrored_labels(pairs: Sequence[str], class_names: Sequence[str], where: str) -> Dict[int, int]:
    """``['A:B', ...]`` -> ``{index(A): index(B), index(B): index(A), ...}`` over ``class_names``."""
    mapping = {}
    for pair in pairs:
        names = [name.strip() for name in pair.split(":")]
        unknown = [name for name in names if name not in class_names]
        if len(names) != 2 or unknown or names[0] == names[1]:
            raise AnnotationError(
                f"{where}: flip_label_pairs entry {pair!r} must be two different classes of the annotation "
                f"as 'A:B'" + (f"; {unknown} are not among {list(class_names)}" if unknown else ""))
        first, second = (class_names.index(name) for name in names)
        if first in mapping or second in mapping:
            raise AnnotationError(f"{where}: flip_label_pairs names a class twice ({pair!r})")
        mapping.update({first: second, second: first})
    return mapping


@functools.lru_cache(maxsize=None)
def usable_workers(requested: int) -> int:
    """``requested`` loader workers, at least 1 and at most the CPU cores (MindSpore refuses more);
    a lowered count is noted once in the log."""
    cores = multiprocessing.cpu_count()  # the bound MindSpore checks num_parallel_workers against
    if requested > cores:
        get_logger().info(f"note: num_workers {requested} lowered to {cores}, the CPU cores of this machine")
    return min(max(1, requested), cores)


def dataset_from_source(cfg, source, split: str, rank_id: int = 0, group_size: int = 1,
                        batch_size: Optional[int] = None):
    """Wrap a random-access ``source`` (with ``column_names()``) in a batched GeneratorDataset: shuffled
    with ``drop_remainder`` on 'train', in order otherwise; python workers; sharded over ranks. With
    ``max_steps_per_epoch`` a training epoch samples only the videos of those steps."""
    train = split == "train"
    workers = usable_workers(cfg.num_workers)
    if batch_size is None:
        batch_size = cfg.batch_size if train else cfg.eval_batch_size
    sampling = {"num_shards": group_size, "shard_id": rank_id} if group_size > 1 else {}
    if train and cfg.max_steps_per_epoch:
        # drawn by the sampler, not cut after batching: the workers would read the rest of the epoch
        sampling["num_samples"] = min(cfg.max_steps_per_epoch * batch_size, len(source))
    dataset = ds.GeneratorDataset(source, column_names=source.column_names(), shuffle=train,
                                  num_parallel_workers=workers, python_multiprocessing=workers > 1, **sampling)
    return dataset.batch(batch_size, drop_remainder=train)


def uses_soft_targets(cfg) -> bool:
    """Whether training labels are soft target rows (label smoothing or mixup) instead of indices."""
    return cfg.label_smoothing > 0 or cfg.mixup_alpha > 0


def create_video_dataset(cfg, split: str, rank_id: int = 0, group_size: int = 1):
    """The batched recognizer dataset of ``split`` (one stream, ``cfg.mode``); on 'train' with label
    smoothing or mixup, its labels are :class:`SoftTargets` rows, and unreadable videos are skipped
    and listed in the run folder's ``bad_samples.tsv``."""
    bad_samples_file = os.path.join(run_folder(cfg.save_dir, rank_id), BAD_SAMPLES_FILE) if split == "train" else ""
    dataset = dataset_from_source(cfg, build_video_source(cfg, split, bad_samples_file=bad_samples_file), split,
                                  rank_id, group_size)
    if split != "train" or not uses_soft_targets(cfg):
        return dataset
    # one thread, batch after batch: the draws of mixup repeat under the seed (one stream per rank)
    soft_targets = SoftTargets(output_classes(cfg), cfg.label_smoothing, cfg.mixup_alpha, seed=cfg.seed + rank_id)
    return dataset.map(soft_targets, input_columns=["imgs", "label"], num_parallel_workers=1,
                       python_multiprocessing=False)
