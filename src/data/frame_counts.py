"""How many frames a video has, counted once.

* Frame folders: their ``n_frames`` file (what the frame and flow tools write last), else the frames
  present that match the folder's name template (mmaction2 / PaddleVideo rawframes have no
  ``n_frames``).
* Video files: nothing is decoded before the first step. A full decoder count
  (:func:`src.data.readers.count_video_frames`) is used where ``frame_counts.tsv`` beside the videos
  holds one (``python -m src.tools.data.count_frames`` builds it ahead of a run, over all cores,
  resumably); otherwise the container's count is used and checked when a clip is read
  (:class:`src.data.readers.ShortVideoError`), and a reader that finds a file shorter records its
  real count here. Entries are keyed by path, size and time stamp, so a changed file is counted again.
"""
import os
import re
import string
from typing import Dict, List, Sequence, Tuple

from .readers import DecodeCount, FrameReadError

__all__ = ["N_FRAMES_FILE", "COUNT_CACHE_FILE", "CACHE_COLUMNS", "frame_pattern", "frame_glob", "numbered_frames",
           "folder_frame_count", "cached_video_counts", "record_video_count"]

N_FRAMES_FILE = "n_frames"
COUNT_CACHE_FILE = "frame_counts.tsv"
# One line per counted file, tab-separated: its path relative to the cache's folder, size and time
# stamp when counted, then the DecodeCount.
CACHE_COLUMNS = ("path", "size", "mtime_ns", "frames", "declared", "fps", "last_ms")


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


def _file_key(path: str) -> Tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _cache_key(path: str, cache_folder: str) -> str:
    return os.path.relpath(os.path.abspath(path), os.path.abspath(cache_folder))


def cached_video_counts(paths: Sequence[str], cache_folder: str) -> Dict[str, DecodeCount]:
    """Decoder counts of the ``paths`` counted before and unchanged since (same size and time stamp),
    from ``<cache_folder>/frame_counts.tsv``; paths not counted yet are absent.

    The cache is read line by line, so its size costs no memory beyond the answer; a later line of one
    file replaces an earlier one (a correction), and a torn or foreign line is skipped.
    """
    cache_path = os.path.join(cache_folder, COUNT_CACHE_FILE)
    if not os.path.isfile(cache_path):
        return {}
    wanted = {_cache_key(path, cache_folder): path for path in paths}
    found = {}
    try:
        with open(cache_path, "r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                if len(fields) != len(CACHE_COLUMNS) or fields[0] not in wanted or not line.endswith("\n"):
                    continue
                try:
                    size, mtime_ns, frames, declared = (int(value) for value in fields[1:5])
                    fps, last_ms = float(fields[5]), float(fields[6])
                except ValueError:
                    continue
                found[wanted[fields[0]]] = ((size, mtime_ns), DecodeCount(frames, declared, fps, last_ms))
    except OSError:
        return {}  # an unreadable cache is only a cache: the containers' counts are used
    counts = {}
    for path, (key, count) in found.items():
        try:
            if _file_key(path) == key:
                counts[path] = count
        except OSError:
            continue
    return counts


def record_video_count(path: str, cache_folder: str, count: DecodeCount) -> bool:
    """Append ``path``'s decoder count to ``<cache_folder>/frame_counts.tsv``; False when the cache
    cannot be written. One ``write`` of one line in append mode, so the processes of a run (loader
    workers, ranks, the counting tool's workers) may record at once and a kill tears at most one line,
    which readers skip."""
    size, mtime_ns = _file_key(path)
    # led by a newline too: a line torn by a kill stays a line of its own, which readers skip
    line = "\n" + "\t".join([_cache_key(path, cache_folder).replace("\t", " ").replace("\n", " "), str(size),
                      str(mtime_ns), str(count.frames), str(count.declared), repr(count.fps),
                      repr(count.last_ms)]) + "\n"
    try:
        descriptor = os.open(os.path.join(cache_folder, COUNT_CACHE_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                             0o644)
    except OSError:
        return False
    try:
        os.write(descriptor, line.encode("utf-8"))
    finally:
        os.close(descriptor)
    return True
