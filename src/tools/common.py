"""Shared pieces of the data-preparation tools.

* listing the class-folder layout used by UCF101 and HMDB51 (``<root>/<class>/<video>.avi``) and
  the frame-folder layout the tools produce (``<root>/<class>/<video>/``);
* the ``n_frames`` file: one integer per video folder, written last (atomically) so its presence
  marks a finished video and makes every tool resumable;
* :func:`run_per_video`: a per-video job run serially or over a process pool behind one tqdm bar,
  where each job returns a :class:`VideoOutcome` instead of raising, so one bad video never stops
  the others, and :func:`report_outcomes` lists the problems at the end;
* :func:`tool_parser` and friends: the command-line conventions every tool shares;
* :func:`write_annotation`: the Kinetics-style annotation JSON shared by the UCF101 and HMDB51
  converters.
"""
import argparse
import glob
import json
import multiprocessing
import os
import re
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
from tqdm import tqdm

from src.config import parse_bool

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv")
N_FRAMES_FILE = "n_frames"
RGB_PATTERN = "image_{:05d}.jpg"
FLOW_PATTERN = "flow_{}_{:05d}.jpg"

DONE, SKIPPED, WARNED, FAILED = "done", "skipped", "warned", "failed"


class ToolError(Exception):
    """Bad input that stops a tool; ``main`` prints it and exits with status 2."""


@dataclass(frozen=True)
class VideoOutcome:
    """What happened to one video: ``status`` is done, skipped (already complete), warned (done,
    with a problem worth reading) or failed (no usable output); ``message`` says why."""
    name: str
    status: str
    message: str = ""


# --- layouts ---------------------------------------------------------------------------------

def require_dir(path: str, what: str, fix: str) -> str:
    if not os.path.isdir(path):
        raise ToolError(f"{what} not found: {path}; {fix}")
    return path


def _class_entries(root: str, accept: Callable[[str], bool]) -> List[Tuple[str, str]]:
    """``(class_name, path)`` of every ``<root>/<class>/<entry>`` that ``accept(path)`` keeps, sorted."""
    entries = []
    for class_name in sorted(os.listdir(root)):
        class_dir = os.path.join(root, class_name)
        if os.path.isdir(class_dir):
            paths = (os.path.join(class_dir, name) for name in sorted(os.listdir(class_dir)))
            entries.extend((class_name, path) for path in paths if accept(path))
    return entries


def list_class_videos(root: str, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[Tuple[str, str]]:
    """``(class_name, video_file)`` of every ``<root>/<class>/<video>.<ext>``, sorted."""
    require_dir(root, "video folder", "pass the folder that holds <class>/<video>.avi")
    wanted = tuple(ext.lower() for ext in extensions)
    videos = _class_entries(root, lambda path: path.lower().endswith(wanted) and os.path.isfile(path))
    if not videos:
        raise ToolError(f"no videos ({', '.join(wanted)}) found in {root}; "
                        f"expected the layout <root>/<class>/<video>.avi")
    return videos


def list_video_folders(root: str) -> List[Tuple[str, str]]:
    """``(class_name, video_folder)`` of every ``<root>/<class>/<video>/``, sorted."""
    require_dir(root, "frame folder root", "pass the folder that holds <class>/<video>/")
    folders = _class_entries(root, os.path.isdir)
    if not folders:
        raise ToolError(f"no video folders found in {root}; expected the layout <root>/<class>/<video>/")
    return folders


def video_name(class_name: str, path: str) -> str:
    """``<class>/<video stem>``: how a video is named in progress messages and reports."""
    return f"{class_name}/{os.path.splitext(os.path.basename(path.rstrip(os.sep)))[0]}"


def numbered_files(folder: str, prefix: str) -> List[int]:
    """Sorted 1-based indices of ``<prefix>NNNNN.jpg`` files in ``folder``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.jpg$")
    indices = []
    for file_name in os.listdir(folder):
        match = pattern.match(file_name)
        if match:
            indices.append(int(match.group(1)))
    return sorted(indices)


def remove_files(folder: str, patterns: Iterable[str]) -> None:
    """Delete the files of ``folder`` matching the glob ``patterns`` (stale partial outputs)."""
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(folder), pattern)):
            os.remove(path)


# --- the n_frames marker ---------------------------------------------------------------------

def n_frames_path(folder: str) -> str:
    return os.path.join(folder, N_FRAMES_FILE)


def is_complete(folder: str) -> bool:
    return os.path.isfile(n_frames_path(folder))


def read_n_frames(folder: str) -> int:
    """The integer in ``<folder>/n_frames``; :class:`ToolError` naming the file otherwise."""
    path = n_frames_path(folder)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError as err:
        raise ToolError(f"cannot read {path}: {err.strerror}") from err
    if not text.isdigit():
        raise ToolError(f"{path} must hold one non-negative integer, found {text[:40]!r}; "
                        f"rewrite it with `python -m src.tools.generate_n_frames`")
    return int(text)


def write_n_frames(folder: str, count: int) -> None:
    """Write ``n_frames`` atomically: a half-written marker must never look like a finished video."""
    temporary = n_frames_path(folder) + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(f"{count}\n")
    os.replace(temporary, n_frames_path(folder))


# --- running over videos ---------------------------------------------------------------------

def _single_threaded_opencv() -> None:
    # Parallelism comes from the worker processes; OpenCV's own threads would only oversubscribe.
    cv2.setNumThreads(1)


def run_per_video(job: Callable[[object], VideoOutcome], items: Sequence, num_workers: int,
                  desc: str) -> List[VideoOutcome]:
    """Run ``job`` on every item behind one progress bar; ``num_workers`` > 1 uses a process pool.

    ``job`` must be a module-level function (or a ``functools.partial`` of one) so it pickles.
    Outcomes are returned in the order of ``items``.
    """
    outcomes: List[Optional[VideoOutcome]] = [None] * len(items)
    with tqdm(total=len(items), desc=desc, unit="video", dynamic_ncols=True) as bar:
        if num_workers <= 1 or len(items) <= 1:
            for index, item in enumerate(items):
                outcomes[index] = job(item)
                bar.update()
        else:
            # spawn, not fork: a parent that already runs threads (MindSpore, OpenCV) can deadlock
            # forked children
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(num_workers, len(items)), initializer=_single_threaded_opencv) as pool:
                indexed = pool.imap_unordered(_IndexedJob(job), enumerate(items))
                for index, outcome in indexed:
                    outcomes[index] = outcome
                    bar.update()
    return outcomes  # type: ignore[return-value]


class _IndexedJob:
    """Carries an item's index through ``imap_unordered`` (a class, so it pickles)."""

    def __init__(self, job):
        self.job = job

    def __call__(self, indexed_item):
        index, item = indexed_item
        return index, self.job(item)


def report_outcomes(outcomes: Sequence[VideoOutcome], strict: bool, what: str) -> int:
    """Print a summary and every problem; the exit status is 1 only for problems under ``strict``."""
    counts = {status: sum(o.status == status for o in outcomes) for status in (DONE, WARNED, SKIPPED, FAILED)}
    print(f"{what}: {counts[DONE] + counts[WARNED]} done, {counts[SKIPPED]} skipped (already complete), "
          f"{counts[WARNED]} with warnings, {counts[FAILED]} failed")
    problems = [o for o in outcomes if o.status in (WARNED, FAILED)]
    for outcome in problems:
        label = "FAILED " if outcome.status == FAILED else "WARNING"
        print(f"  {label} {outcome.name}: {outcome.message}", file=sys.stderr)
    if problems and strict:
        print(f"{len(problems)} problem(s) and --strict is set: exiting with status 1", file=sys.stderr)
        return 1
    return 0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the module docstring's layout and appends each optional argument's default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or action.default in (None, argparse.SUPPRESS) or "%(default)" in text:
            return text
        return text + " (default: %(default)s)"


def tool_parser(module_name: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of ``python -m <module_name>``, described by the module's docstring."""
    return argparse.ArgumentParser(prog=f"python -m {module_name}", description=doc,
                                   formatter_class=_HelpFormatter, allow_abbrev=False)


def add_run_options(parser: argparse.ArgumentParser, overwrite_help: Optional[str] = None) -> None:
    """``--num_workers`` and ``--strict`` (and ``--overwrite`` when ``overwrite_help`` is given)."""
    parser.add_argument("--num_workers", type=int, default=1, help="parallel worker processes")
    if overwrite_help:
        parser.add_argument("--overwrite", type=parse_bool, default=False, help=overwrite_help)
    parser.add_argument("--strict", type=parse_bool, default=False,
                        help="exit with status 1 when any video fails or has a warning")


def add_annotation_options(parser: argparse.ArgumentParser, annotation_help: str) -> None:
    """The arguments shared by the annotation-JSON converters."""
    parser.add_argument("--annotation_dir", required=True, help=annotation_help)
    parser.add_argument("--video_path", required=True, help="frame root: <video_path>/<class>/<video>/n_frames")
    parser.add_argument("--split", type=int, choices=(1, 2, 3), default=1, help="official split number")
    parser.add_argument("--dst_path", required=True, help="annotation JSON to write")
    parser.add_argument("--strict", type=parse_bool, default=False,
                        help="fail (status 1, nothing written) when a listed video has no finished frame folder")


def run_main(body: Callable[[], int]) -> int:
    """Call a tool's body; a :class:`ToolError` becomes one clear line on stderr and status 2."""
    try:
        return body()
    except ToolError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ToolError(f"--{name} must be >= 1, got {value}")


def check_jpeg_quality(value: int) -> None:
    if not 1 <= value <= 100:
        raise ToolError(f"--jpeg_quality must be within 1..100, got {value}")


# --- annotation JSON -------------------------------------------------------------------------

@dataclass(frozen=True)
class ListedVideo:
    """One video of a split list: ``source`` (``file:line``) is quoted in error messages."""
    label: str
    video_id: str
    subset: str
    source: str


def build_database(labels: Sequence[str], labels_source: str, videos: Sequence[ListedVideo],
                   video_path: str) -> Tuple[Dict[str, dict], List[str]]:
    """Kinetics-style ``database`` with ``segment = [1, n_frames]`` read from each frame folder.

    ``labels_source`` names where the labels came from, for the error on an unknown label.
    Returns the database and one message per video left out (no frame folder or no ``n_frames``).
    """
    known = set(labels)
    database: Dict[str, dict] = {}
    first_seen: Dict[str, str] = {}
    missing: List[str] = []
    for video in videos:
        if video.label not in known:
            raise ToolError(f"{video.source}: class {video.label!r} is not in {labels_source}; "
                            f"fix the line or add the class there")
        if video.video_id in first_seen:
            raise ToolError(f"{video.source}: video {video.video_id!r} is listed twice "
                            f"(first at {first_seen[video.video_id]})")
        first_seen[video.video_id] = video.source
        folder = os.path.join(video_path, video.label, video.video_id)
        if not os.path.isdir(folder):
            missing.append(f"{video.source}: frame folder {folder} does not exist")
            continue
        if not is_complete(folder):
            missing.append(f"{video.source}: {n_frames_path(folder)} is missing (extraction unfinished?)")
            continue
        n_frames = read_n_frames(folder)
        if n_frames < 1:
            missing.append(f"{video.source}: {n_frames_path(folder)} says the video has no frames")
            continue
        database[video.video_id] = {"subset": video.subset,
                                    "annotations": {"label": video.label, "segment": [1, n_frames]}}
    return database, missing


def write_annotation(labels: Sequence[str], labels_source: str, videos: Sequence[ListedVideo],
                     video_path: str, dst_path: str, strict: bool) -> int:
    """Build the annotation JSON, report left-out videos and write ``dst_path``; returns the exit
    status (1 when videos are left out under ``strict``, and then nothing is written)."""
    require_dir(video_path, "frame folder root (--video_path)", "run generate_rgb_jpgs first")
    database, missing = build_database(labels, labels_source, videos, video_path)
    for message in missing:
        print(f"  WARNING {message}", file=sys.stderr)
    if missing and strict:
        print(f"{len(missing)} listed video(s) have no usable frame folder and --strict is set: "
              f"nothing written to {dst_path}", file=sys.stderr)
        return 1
    folder = os.path.dirname(os.path.abspath(dst_path))
    os.makedirs(folder, exist_ok=True)
    with open(dst_path, "w", encoding="utf-8") as handle:
        json.dump({"labels": list(labels), "database": database}, handle)
    subsets = [entry["subset"] for entry in database.values()]
    print(f"wrote {dst_path}: {len(labels)} labels, {subsets.count('training')} training + "
          f"{subsets.count('validation')} validation videos, {len(missing)} left out")
    return 0
