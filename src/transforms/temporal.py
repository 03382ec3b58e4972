"""Temporal sampling: which frames of a video a sample reads.

Every sampler reads ``total_frames`` (frames available, indexed from 0) and writes
``frame_inds`` (flat int64, ``num_clips * clip_len`` entries, clip-major), ``clip_len``,
``num_clips``, ``frame_interval`` and ``padded``. A clip of ``clip_len`` frames taken every
``frame_interval`` frames covers ``(clip_len - 1) * frame_interval + 1`` frames of the video.
Videos shorter than that are loop-padded: the video is played again from its start, so
``padded`` is True exactly when some frame had to be read twice.
"""
import numpy as np

from .base import Transform, get_rng, get_total_frames

__all__ = ["loop_pad", "TemporalRandomCrop", "TemporalCenterCrop", "UniformClipSampler",
           "SegmentSampler"]


def loop_pad(indices, total_frames: int) -> np.ndarray:
    """Wrap ``indices`` into ``[0, total_frames)`` as if the video looped from its start.

    ``loop_pad([0, 2, 4, 6, 8], 5) -> [0, 2, 4, 1, 3]``: frame 5 is frame 0 of the replay.
    """
    if total_frames < 1:
        raise ValueError(f"loop_pad: total_frames must be >= 1, got {total_frames}")
    return np.mod(np.asarray(indices, dtype=np.int64), total_frames)


def _clip_extent(clip_len: int, frame_interval: int) -> int:
    """Frames of the video a clip covers, first to last sampled frame inclusive."""
    return (clip_len - 1) * frame_interval + 1


def _check_positive(owner: str, **values) -> None:
    for name, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{owner}: {name} must be >= 1, got {value}")


def _write_clips(results: dict, starts: np.ndarray, clip_len: int, frame_interval: int) -> dict:
    """Expand clip starts into frame indices (loop-padded) and record the sampling keys."""
    total = results["total_frames"]
    offsets = np.arange(clip_len, dtype=np.int64) * frame_interval
    indices = (np.asarray(starts, dtype=np.int64)[:, None] + offsets[None, :]).reshape(-1)
    results["padded"] = bool(indices.max() >= total)
    results["frame_inds"] = loop_pad(indices, total)
    results["clip_len"] = clip_len
    results["num_clips"] = len(starts)
    results["frame_interval"] = frame_interval
    return results


class TemporalRandomCrop(Transform):
    """Training clip at a random position (one draw per clip).

    Reads ``total_frames``, ``rng``. Writes ``frame_inds`` (int64, ``clip_len``), ``clip_len``,
    ``num_clips`` = 1, ``frame_interval``, ``padded``. The start is uniform over every position
    where the clip fits; a shorter video starts at 0 and is loop-padded.
    """

    def __init__(self, clip_len: int, frame_interval: int = 1):
        _check_positive("TemporalRandomCrop", clip_len=clip_len, frame_interval=frame_interval)
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)

    def __call__(self, results: dict) -> dict:
        total = get_total_frames(results, "TemporalRandomCrop")
        rng = get_rng(results, "TemporalRandomCrop")
        max_start = max(total - _clip_extent(self.clip_len, self.frame_interval), 0)
        start = rng.integers(0, max_start + 1)
        return _write_clips(results, np.array([start]), self.clip_len, self.frame_interval)


class TemporalCenterCrop(Transform):
    """The clip centred in the video (deterministic).

    Reads ``total_frames``. Writes ``frame_inds`` (int64, ``clip_len``), ``clip_len``,
    ``num_clips`` = 1, ``frame_interval``, ``padded``.
    """

    def __init__(self, clip_len: int, frame_interval: int = 1):
        _check_positive("TemporalCenterCrop", clip_len=clip_len, frame_interval=frame_interval)
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)

    def __call__(self, results: dict) -> dict:
        total = get_total_frames(results, "TemporalCenterCrop")
        start = max(total - _clip_extent(self.clip_len, self.frame_interval), 0) // 2
        return _write_clips(results, np.array([start]), self.clip_len, self.frame_interval)


class UniformClipSampler(Transform):
    """Test-time clips spread uniformly over the video (deterministic).

    Reads ``total_frames``. Writes ``frame_inds`` (int64, ``num_clips * clip_len``, clip-major),
    ``clip_len``, ``num_clips``, ``frame_interval``, ``padded``. With several clips the first
    starts at frame 0 and the last ends on the last frame; ``num_clips=1`` gives the centre clip.
    A video shorter than one clip gives ``num_clips`` copies of the loop-padded clip from 0.
    """

    def __init__(self, clip_len: int, num_clips: int, frame_interval: int = 1):
        _check_positive("UniformClipSampler", clip_len=clip_len, num_clips=num_clips,
                        frame_interval=frame_interval)
        self.clip_len = int(clip_len)
        self.num_clips = int(num_clips)
        self.frame_interval = int(frame_interval)

    def __call__(self, results: dict) -> dict:
        total = get_total_frames(results, "UniformClipSampler")
        max_start = max(total - _clip_extent(self.clip_len, self.frame_interval), 0)
        if self.num_clips == 1:
            starts = np.array([max_start // 2])
        else:
            starts = np.round(np.linspace(0, max_start, self.num_clips))
        return _write_clips(results, starts, self.clip_len, self.frame_interval)


class SegmentSampler(Transform):
    """TSN sampling: ``num_segments`` snippets of ``new_length`` frames, taken every
    ``frame_interval`` frames (1: consecutive, as in the TSN paper).

    Reads ``total_frames``, ``rng`` (training only). Writes ``frame_inds`` (int64,
    ``num_segments * new_length``, segment-major), ``clip_len`` = ``new_length``, ``num_clips`` =
    ``num_segments``, ``frame_interval``, ``padded``.

    The snippet starts ``[0, total_frames - extent]`` (extent = ``(new_length - 1) * frame_interval
    + 1``) are split into ``num_segments`` equal (real-valued) segments; training takes a random start
    in each segment (one draw per segment), testing the segment centre. ``padded`` is True when there
    are fewer starts than segments (so snippets repeat), including videos shorter than a snippet
    (loop-padded from 0).
    """

    def __init__(self, num_segments: int, new_length: int = 1, test_mode: bool = False, frame_interval: int = 1):
        _check_positive("SegmentSampler", num_segments=num_segments, new_length=new_length,
                        frame_interval=frame_interval)
        self.num_segments = int(num_segments)
        self.new_length = int(new_length)
        self.test_mode = bool(test_mode)
        self.frame_interval = int(frame_interval)

    def __call__(self, results: dict) -> dict:
        total = get_total_frames(results, "SegmentSampler")
        num_starts = max(total - _clip_extent(self.new_length, self.frame_interval) + 1, 1)
        segment_len = num_starts / self.num_segments
        if self.test_mode:
            position = np.full(self.num_segments, 0.5)
        else:
            position = get_rng(results, "SegmentSampler").random(self.num_segments)
        starts = np.floor((np.arange(self.num_segments) + position) * segment_len)
        starts = np.minimum(starts, num_starts - 1)  # guards float rounding at the last segment end
        results = _write_clips(results, starts, self.new_length, self.frame_interval)
        results["padded"] = results["padded"] or num_starts < self.num_segments
        return results
