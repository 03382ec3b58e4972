"""How many frames a video has, counted once.

* Frame folders: their ``n_frames`` file (what the frame and flow tools write last), else the frames
  present that match the folder's name template (mmaction2 / PaddleVideo rawframes have no
  ``n_frames``).
* Video files: the decoder's count (:func:`src.data.readers.count_video_frames`), never the
  header's, cached in ``frame_counts.json`` beside the videos (keyed by path, size and time stamp,
  so a changed file is counted again). Short decodes are returned with their reason so callers
  report them in one counted warning.
"""
import dataclasses
import json
import os
import re
import string
import warnings
from typing import Dict, List, Sequence

from src.utils.io import atomic_write
from src.utils.progress import progress

from .readers import DecodeCount, FrameReadError, count_video_frames

__all__ = ["N_FRAMES_FILE", "COUNT_CACHE_FILE", "frame_pattern", "frame_glob", "numbered_frames", "folder_frame_count",
           "video_frame_counts"]

N_FRAMES_FILE = "n_frames"
COUNT_CACHE_FILE = "frame_counts.json"


def frame_pattern(template: str, axis: str = "") -> "re.Pattern":
    """Regex matching the file names of ``template`` (frame number in group 1); ``axis`` fills the
    ``{}`` of flow templates ('x' / 'y')."""
    parts, fields = [], 0
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is None:
            continue
        fields += 1
        parts.append(re.escape(axis) if axis and fields == 1 else r"(\d+)")
    expected = 2 if axis else 1
    if fields != expected:
        option = "flow_template" if axis else "rgb_template"
        raise FrameReadError(f"frame-name template {template!r} has {fields} field(s), expected {expected} "
                             f"({'{}' + ' for x/y, then ' if axis else ''}{{:05d}} for the frame number); "
                             f"set {option} (tools: --{option})")
    return re.compile("".join(parts) + "$")


def frame_glob(template: str, axis: str = "") -> str:
    """The file names of ``template`` as a glob: ``img_{:05d}.jpg`` -> ``img_*.jpg``."""
    parts = list(string.Formatter().parse(template))
    values = iter([axis] if axis else [])
    return "".join(literal + ("" if field is None else next(values, "*")) for literal, field, _, _ in parts)


def numbered_frames(folder: str, template: str, axis: str = "") -> List[int]:
    """Sorted frame numbers of the files of ``folder`` named by ``template``."""
    pattern = frame_pattern(template, axis)
    numbers = []
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            numbers.append(int(match.group(1)))
    return sorted(numbers)


def folder_frame_count(folder: str, template: str, axis: str = "") -> int:
    """Frames of a frame folder: its ``n_frames`` file, else the files named by ``template``."""
    marker = os.path.join(folder, N_FRAMES_FILE)
    if os.path.isfile(marker):
        with open(marker, "r", encoding="utf-8") as handle:
            text = handle.read().strip()
        if not text.isdigit():
            raise FrameReadError(f"{marker} must hold one non-negative integer, found {text[:40]!r}; rewrite it "
                                 f"with `python -m src.tools.data.generate_n_frames`")
        return int(text)
    return len(numbered_frames(folder, template, axis))


def _file_key(path: str) -> List[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def video_frame_counts(paths: Sequence[str], cache_folder: str) -> Dict[str, DecodeCount]:
    """Decoder counts of video files, cached in ``<cache_folder>/frame_counts.json``.

    Files counted before (same size and time stamp) are not decoded again. A cache that cannot be
    written (read-only data) only costs a recount next time.
    """
    cache_path = os.path.join(cache_folder, COUNT_CACHE_FILE)
    cache = {}
    if os.path.isfile(cache_path):
        try:
            with open(cache_path, "r", encoding="utf-8") as handle:
                cache = json.load(handle)
        except (OSError, ValueError):
            pass  # a damaged cache is only a cache: count again
    cache = cache if isinstance(cache, dict) else {}
    counts, to_count = {}, []
    for path in paths:
        key = os.path.relpath(os.path.abspath(path), os.path.abspath(cache_folder))
        entry = cache.get(key)
        try:
            if entry["file"] == _file_key(path):
                counts[path] = DecodeCount(**entry["count"])
                continue
        except (KeyError, TypeError):
            pass  # not counted yet, or an entry this version does not read: count again
        to_count.append((path, key))
    for path, key in progress(to_count, desc="count frames", unit="video", leave=False, disable=len(to_count) < 2):
        counts[path] = count_video_frames(path)
        cache[key] = {"file": _file_key(path), "count": dataclasses.asdict(counts[path])}
    if to_count:
        try:
            with atomic_write(cache_path) as handle:  # ranks of one run may count at once
                json.dump(cache, handle, indent=0, sort_keys=True)
        except OSError as err:
            warnings.warn(f"cannot write the frame-count cache {cache_path} ({err.strerror}); the {len(to_count)} "
                          f"videos counted now will be decoded again by the next run")
    return counts
