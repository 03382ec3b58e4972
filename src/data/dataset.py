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
from .frame_counts import cached_video_counts, folder_frame_count, numbered_frames, record_video_count
from .pipelines import build_pipeline, frames_needed
from .readers import FlowFrameReader, FrameReadError, RGBFrameReader, ShortVideoError, VideoFileReader, frame_file

# A training item tries this many videos, from its own on, before an unreadable stretch stops the run.
MAX_SKIPPED_IN_A_ROW = 10
# The label of a test item whose video could not be read: zero views that no metric may count.
UNREADABLE_LABEL = -1
# Where an evaluation lists the validation videos it could not read (beside its results).
EVAL_BAD_SAMPLES_FILE = "bad_samples_val.tsv"

__all__ = ["UNREADABLE_LABEL", "EVAL_BAD_SAMPLES_FILE", "VideoClipSource", "EpochOrder", "start_data_at_epoch",
           "build_video_source", "create_video_dataset", "dataset_from_source", "usable_workers", "uses_soft_targets"]


class VideoClipSource:
    """Random-access source for ``GeneratorDataset``: one item per video.

    One or more *streams* (RGB, flow) of the same videos are read on the same frame indices and
    the same random draws, so joint RGB+flow evaluation sees the same clips in both streams.

    Item ``i`` -> per stream a float32 array, then the label (int32), then at test time the video
    index (int32). Training arrays are one view, ``(C, T, H, W)`` or ``(S, C, H, W)``; test arrays
    hold every view of the video, ``(V, C, T, H, W)`` or ``(V, S, C, H, W)``.

    Training items are keyed ``epoch * len + index`` (:class:`EpochOrder` yields such keys; a plain
    index is epoch 0) and draw their augmentation from ``numpy.random.default_rng([seed, index, epoch])``:
    every epoch draws new crops, and an epoch's draws depend on nothing else (not the worker count, nor
    what came before), so a resumed run draws what the uninterrupted one drew. Test items draw from
    ``[seed, index]``.

    A clip its pipeline mirrored (``flip`` set by :class:`RandomHorizontalFlip`) gets the label
    ``mirrored_labels`` gives its class, when it gives one (left <-> right in direction classes).

    With a bad-sample list, an unreadable video is listed there with its reason: a training item
    takes the next readable video instead; a test item keeps its place (every index is scored once)
    as zero views labelled :data:`UNREADABLE_LABEL`, which the evaluation leaves out and counts.
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
        self.epoch_keyed = not test_mode
        self.emit_keys = False  # a 'key' column after the label (training), for per-batch draws downstream
        # per process, and only for videos that went wrong: real counts of videos shorter than counted,
        # and the indices found unreadable
        self._real_frames: Dict[int, int] = {}
        self._unreadable = set()

    @property
    def records(self) -> List[VideoRecord]:
        return self.streams[0]["records"]

    def column_names(self) -> List[str]:
        names = ["imgs"] if len(self.streams) == 1 else [f"imgs_{s['modality']}" for s in self.streams]
        if self.test_mode:
            return names + ["label", "index"]
        return names + (["label", "key"] if self.emit_keys else ["label"])

    def __len__(self):
        return len(self.records)

    def __getitem__(self, key: int):
        if self.test_mode:
            index, seed_words = int(key), [self.seed, int(key)]
        else:
            epoch, index = divmod(int(key), len(self))
            seed_words = [self.seed, index, epoch]
        if self.bad_samples is None:
            item = self._item(index, seed_words)
        elif self.test_mode:
            item = self._item_or_placeholder(index, seed_words)
        else:
            item = self._readable_item(index, seed_words)
        return item + (np.int64(key),) if self.emit_keys else item

    def _item_or_placeholder(self, index: int, seed_words: List[int]):
        """Test: the item, or, for an unreadable video (listed), zero views labelled UNREADABLE_LABEL."""
        try:
            return self._item(index, seed_words)
        except FrameReadError as err:
            self.bad_samples.add(self.records[index].path, str(err))
        views = []
        for stream in self.streams:
            sampled = stream["temporal"]({"total_frames": 1, "rng": np.random.default_rng(seed_words)})
            channels = 2 if stream["modality"] == "flow" else 3
            # any frame size gives the pipeline's output shape (it resizes and crops to fixed sizes)
            frames = np.zeros((len(sampled["frame_inds"]), 32, 32, channels), np.uint8)
            results = stream["pipeline"](dict(sampled, modality=stream["modality"], num_crops=1, imgs=frames,
                                              img_shape=frames.shape[1:3], rng=np.random.default_rng(seed_words)))
            views.append(np.zeros_like(results["imgs"]))
        return tuple(views) + (np.int32(UNREADABLE_LABEL), np.int32(index))

    def _readable_item(self, index: int, seed_words: List[int]):
        """Training: an unreadable video is listed and replaced by the next readable one, on the same draws."""
        tries = min(len(self), MAX_SKIPPED_IN_A_ROW)
        for offset in range(tries):
            candidate = (index + offset) % len(self)
            if candidate in self._unreadable:
                continue
            try:
                return self._item(candidate, seed_words)
            except FrameReadError as err:
                self._unreadable.add(candidate)
                self.bad_samples.add(self.records[candidate].path, str(err))
        which = f"all {tries} videos" if tries == len(self) else \
            f"{tries} videos in a row from {self.records[index].path} on"
        raise FrameReadError(f"{which} are unreadable (listed in {self.bad_samples.file}): check the data")

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


def _count_frame_folders(records: List[VideoRecord], modality: str, template: str,
                         start_index: int) -> List[VideoRecord]:
    """Frame counts of frame folders: a count from the annotation is an RGB count (a flow folder holds
    one frame fewer) or, when the flow folder holds that many, a flow count (mmaction2's flow lists);
    it is checked by the presence of its last frame (one ``stat`` per video) and replaced by the
    folder's own count, in one counted warning, where that frame is missing; without one the folder is
    counted (``n_frames``, else files named by ``template``)."""
    files = [record.path for record in records if not os.path.isdir(record.path)]
    if files:
        raise AnnotationError(f"{len(files)} entries of the list are files, not frame folders ({_shown(files)}); "
                              f"set data_source to 'video' to decode video files")
    axis = "x" if modality == "flow" else ""
    shorter = []
    for record in records:
        if not record.num_frames:
            record.num_frames = folder_frame_count(record.path, template, axis)
            continue
        listed = record.num_frames
        # an RGB count gives one flow frame fewer, unless the count is the flow folder's own (mmaction2's
        # flow lists): then frame n is there
        if modality == "flow" and not os.path.exists(os.path.join(record.path, frame_file(
                template, listed - 1, start_index, axis))):
            listed = max(listed - 1, 0)
        last = os.path.join(record.path, frame_file(template, listed - 1, start_index, axis)) if listed else ""
        if not last or os.path.exists(last):
            record.num_frames = listed
            continue
        numbers = numbered_frames(record.path, template, axis)
        if numbers and numbers[0] != start_index:
            raise AnnotationError(f"{record.path}: {os.path.basename(last)} is missing, and its {len(numbers)} "
                                  f"frames named like {template!r} are numbered {numbers[0]}..{numbers[-1]}: set "
                                  f"frame_start_index {numbers[0]} (or rgb_template / flow_template)")
        record.num_frames = len(numbers)
        shorter.append(f"{record.video_id} (listed {listed}, holds {record.num_frames})")
    if shorter:
        warnings.warn(f"{len(shorter)} of {len(records)} {modality} frame folders hold fewer frames named like "
                      f"{template!r} than their annotation or list gives; their own counts are used: "
                      f"{_shown(shorter)}")
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
    return _count_frame_folders(records, modality, template, cfg.frame_start_index), class_names


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
    ``bad_samples_file`` unreadable videos are listed there (and skipped: :class:`VideoClipSource`).
    """
    bad_samples = BadSampleList(bad_samples_file) if bad_samples_file else None
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


class EpochOrder(ds.Sampler):
    """The order of the videos in a training epoch, drawn from ``(seed, epoch)`` alone, so a run resumed
    at epoch e reads the videos in the order the uninterrupted run read them (MindSpore's own shuffle
    continues from wherever its generator stands, which a resumed process cannot restore).

    Sharded like MindSpore's distributed sampler: the order is padded to a multiple of ``num_shards``
    by repeating its start, and shard r takes positions r, r + num_shards, ... ``num_samples`` (> 0)
    keeps the first of them. For a source with ``epoch_keyed`` set, the sampler yields
    ``epoch * size + index`` so the source draws the epoch's augmentation from it too. ``epoch``
    is the epoch the next pass is (:func:`start_data_at_epoch` sets it when a run resumes).
    """

    def __init__(self, size: int, seed: int, num_shards: int = 1, shard_id: int = 0, num_samples: int = 0,
                 keyed: bool = False):
        self.size, self.seed, self.keyed = size, seed, keyed
        self.num_shards, self.shard_id = num_shards, shard_id
        per_shard = -(-size // num_shards)
        self.per_shard = per_shard
        self.epoch = 0
        super().__init__(num_samples=min(num_samples, per_shard) if num_samples else per_shard)

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        order = np.resize(np.random.default_rng([self.seed, epoch]).permutation(self.size),
                          self.per_shard * self.num_shards)
        mine = order[self.shard_id::self.num_shards][:self.num_samples]
        return iter((mine + (epoch * self.size if self.keyed else 0)).tolist())

    def __len__(self):
        return self.num_samples


def start_data_at_epoch(dataset, epoch: int) -> None:
    """Make the training ``dataset``'s next pass epoch ``epoch`` (a resumed run's first)."""
    for sampler in _epoch_orders(dataset):
        sampler.epoch = epoch


def _epoch_orders(dataset):
    sampler = getattr(dataset, "sampler", None)
    if isinstance(sampler, EpochOrder):
        yield sampler
    for child in getattr(dataset, "children", ()):
        yield from _epoch_orders(child)


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
    with ``drop_remainder`` on 'train' in an :class:`EpochOrder` (which a resumed run restores), in order
    otherwise; python workers; sharded over ranks. With ``max_steps_per_epoch`` a training epoch samples
    only the videos of those steps."""
    train = split == "train"
    workers = usable_workers(cfg.num_workers)
    if batch_size is None:
        batch_size = cfg.batch_size if train else cfg.eval_batch_size
    if train:
        # a capped epoch is drawn by the sampler, not cut after batching: the workers would read the rest
        sampling = {"sampler": EpochOrder(len(source), cfg.seed, group_size, rank_id,
                                          cfg.max_steps_per_epoch * batch_size,
                                          keyed=getattr(source, "epoch_keyed", False))}
    else:
        sampling = dict(shuffle=False, **({"num_shards": group_size, "shard_id": rank_id} if group_size > 1 else {}))
    dataset = ds.GeneratorDataset(source, column_names=source.column_names(), num_parallel_workers=workers,
                                  python_multiprocessing=workers > 1, **sampling)
    return dataset.batch(batch_size, drop_remainder=train)


def uses_soft_targets(cfg) -> bool:
    """Whether training labels are soft target rows (label smoothing or mixup) instead of indices."""
    return cfg.label_smoothing > 0 or cfg.mixup_alpha > 0


def create_video_dataset(cfg, split: str, rank_id: int = 0, group_size: int = 1):
    """The batched recognizer dataset of ``split`` (one stream, ``cfg.mode``); on 'train' with label
    smoothing or mixup, its labels are :class:`SoftTargets` rows, and unreadable videos are skipped
    and listed in the run folder's ``bad_samples.tsv``."""
    bad_samples_file = os.path.join(run_folder(cfg.save_dir, rank_id), BAD_SAMPLES_FILE) if split == "train" else ""
    source = build_video_source(cfg, split, bad_samples_file=bad_samples_file)
    blended = split == "train" and uses_soft_targets(cfg)
    source.emit_keys = blended
    dataset = dataset_from_source(cfg, source, split, rank_id, group_size)
    if not blended:
        return dataset
    # each batch's mixup is drawn from its first item's key: it repeats on resume (one stream per rank)
    soft_targets = SoftTargets(output_classes(cfg), cfg.label_smoothing, cfg.mixup_alpha, seed=cfg.seed + rank_id)
    return dataset.map(soft_targets, input_columns=["imgs", "label", "key"], output_columns=["imgs", "label"],
                       num_parallel_workers=1, python_multiprocessing=False)
