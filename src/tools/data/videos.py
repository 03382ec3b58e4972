"""Per-video helpers of the data-preparation tools.

* listing the class-folder layout used by UCF101 and HMDB51 (``<root>/<class>/<video>.avi``) and
  the frame-folder layout the tools produce (``<root>/<class>/<video>/``);
* the ``n_frames`` file: one integer per video folder, written last (atomically) so its presence
  marks a finished video and makes every tool resumable;
* the frame-name options every tool shares (``--rgb_template``, ``--flow_template``,
  ``--start_index``: the names the data sources read, so mmaction2 / PaddleVideo rawframes work);
* :func:`run_per_video`: a per-video job run serially or over a process pool behind one progress bar,
  where each job returns a :class:`VideoOutcome` instead of raising, so one bad video never stops
  the others, and :func:`report_outcomes` lists the problems at the end; :func:`run_interruptible`
  turns Ctrl-C into one ``interrupted`` line and exit status 130;
* :class:`Shard`: the disjoint part of the videos one rank or host processes (``--shard I/N``, or the
  rank a launcher sets in the environment), with ``--merge`` to combine the shards' outputs.
"""
import argparse
import glob
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import cv2

from src.data.frame_counts import N_FRAMES_FILE, frame_pattern
from src.data.readers import DEFAULT_FLOW_TEMPLATE, DEFAULT_RGB_TEMPLATE, FrameReadError
from src.options import parse_bool
from src.tools.cli import ToolError
from src.utils.io import atomic_write
from src.utils.progress import progress

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv")

DONE, SKIPPED, WARNED, FAILED = "done", "skipped", "warned", "failed"


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


def remove_files(folder: str, patterns: Iterable[str]) -> None:
    """Delete the files of ``folder`` matching the glob ``patterns`` (stale partial outputs)."""
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(folder), pattern)):
            os.remove(path)


def remove_frames(folder: str, template: str, axes: Sequence[str] = ("",), *records: str) -> None:
    """Delete the frames of ``folder`` named by ``template`` (for each flow ``axes``), ``n_frames`` and
    the files named in ``records``: the outputs of a tool, before it writes them again."""
    patterns = [frame_pattern(template, axis) for axis in axes]
    for name in os.listdir(folder):
        if any(pattern.match(name) for pattern in patterns):
            os.remove(os.path.join(folder, name))
    remove_files(folder, [N_FRAMES_FILE, *records])


# --- frame names -----------------------------------------------------------------------------

def add_template_options(parser, rgb: bool = True, flow: bool = False) -> None:
    """The frame-name options of a tool: the same names and defaults as the data sources' keys."""
    if rgb:
        parser.add_argument("--rgb_template", default=DEFAULT_RGB_TEMPLATE,
                            help="RGB frame file name (mmaction2 rawframes: img_{:05d}.jpg)")
    if flow:
        parser.add_argument("--flow_template", default=DEFAULT_FLOW_TEMPLATE,
                            help="flow frame file name, {} = x or y (mmaction2 rawframes: {}_{:05d}.jpg)")
    parser.add_argument("--start_index", type=int, default=1, help="number of a folder's first frame (0 or 1)")


def check_template_options(args) -> None:
    """:class:`ToolError` naming the option when a template or the start index is unusable."""
    if args.start_index not in (0, 1):
        raise ToolError(f"--start_index must be 0 or 1, got {args.start_index}")
    try:
        if getattr(args, "rgb_template", None) is not None:
            frame_pattern(args.rgb_template)
        if getattr(args, "flow_template", None) is not None:
            frame_pattern(args.flow_template, "x")
    except FrameReadError as err:
        raise ToolError(str(err)) from err


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
                        f"rewrite it with `python -m src.tools.data.generate_n_frames`")
    return int(text)


def write_n_frames(folder: str, count: int) -> None:
    """Write ``n_frames`` atomically: a half-written marker must never look like a finished video."""
    with atomic_write(n_frames_path(folder)) as handle:
        handle.write(f"{count}\n")


# --- running over videos ---------------------------------------------------------------------

def _single_threaded_opencv() -> None:
    # Parallelism comes from the worker processes; OpenCV's own threads would only oversubscribe.
    cv2.setNumThreads(1)


def reclaim_ctrl_c() -> None:
    """Give SIGINT back to Python's handler (Ctrl-C raises KeyboardInterrupt): MindSpore's runtime
    installs its own while it runs, which turns Ctrl-C into SIGTERM."""
    handler = signal.getsignal(signal.SIGINT)
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)


INTERRUPTED_STATUS = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def run_interruptible(body: Callable[[], int]) -> int:
    """``body()``; Ctrl-C prints one ``interrupted`` line and returns :data:`INTERRUPTED_STATUS`
    (every finished video is complete on disk, so the same command resumes)."""
    try:
        return body()
    except KeyboardInterrupt:
        sys.stdout.flush()
        print("interrupted: the videos finished so far are kept; run the same command again to resume",
              file=sys.stderr, flush=True)
        return INTERRUPTED_STATUS


def run_per_video(job: Callable[[object], VideoOutcome], items: Sequence, num_workers: int,
                  desc: str, stop_at_failure: bool = False) -> List[VideoOutcome]:
    """Run ``job`` on every item behind one progress bar; ``num_workers`` > 1 uses a process pool.

    ``job`` must be a module-level function (or a ``functools.partial`` of one) so it pickles.
    Outcomes are returned in the order of ``items``. Ctrl-C raises KeyboardInterrupt between items.
    With ``stop_at_failure`` the first failed item ends the run (videos still being processed by the
    pool are abandoned: every output is written atomically, so none is left half-written) and only the
    outcomes of the items that finished are returned.
    """
    outcomes: List[Optional[VideoOutcome]] = [None] * len(items)
    with progress(total=len(items), desc=desc, unit="video", dynamic_ncols=True) as bar:
        if num_workers <= 1 or len(items) <= 1:
            for index, item in enumerate(items):
                reclaim_ctrl_c()
                outcomes[index] = job(item)
                bar.update()
                if stop_at_failure and outcomes[index].status == FAILED:
                    break
        else:
            # spawn, not fork: a parent that already runs threads (MindSpore, OpenCV) can deadlock
            # forked children
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(num_workers, len(items)), initializer=_single_threaded_opencv) as pool:
                indexed = pool.imap_unordered(_IndexedJob(job), enumerate(items))
                reclaim_ctrl_c()
                for index, outcome in indexed:
                    outcomes[index] = outcome
                    bar.update()
                    if stop_at_failure and outcome.status == FAILED:
                        break  # leaving the block terminates the pool
    return [outcome for outcome in outcomes if outcome is not None]


class _IndexedJob:
    """Carries an item's index through ``imap_unordered`` (a class, so it pickles)."""

    def __init__(self, job):
        self.job = job

    def __call__(self, indexed_item):
        index, item = indexed_item
        return index, self.job(item)


def report_outcomes(outcomes: Sequence[VideoOutcome], strict: bool, what: str, failures_fail: bool = False,
                    total: Optional[int] = None) -> int:
    """Print a summary and every problem; the exit status is 1 for problems under ``strict``, and with
    ``failures_fail`` (jobs whose every video matters, not data preparation) for any failed video.
    ``total``: the number of videos of the run, when it stopped at a failure before the end."""
    counts = {status: sum(o.status == status for o in outcomes) for status in (DONE, WARNED, SKIPPED, FAILED)}
    print(f"{what}: {counts[DONE] + counts[WARNED]} done, {counts[SKIPPED]} skipped (already complete), "
          f"{counts[WARNED]} with warnings, {counts[FAILED]} failed")
    if total is not None and len(outcomes) < total:
        print(f"stopped at the first failure (--strict): {total - len(outcomes)} of {total} videos not processed; "
              f"the finished ones are kept, and the same command without --strict goes on with the rest",
              file=sys.stderr)
    problems = [o for o in outcomes if o.status in (WARNED, FAILED)]
    for outcome in problems:
        label = "FAILED " if outcome.status == FAILED else "WARNING"
        print(f"  {label} {outcome.name}: {outcome.message}", file=sys.stderr)
    if problems and strict:
        print(f"{len(problems)} problem(s) and --strict is set: exiting with status 1", file=sys.stderr)
        return 1
    if counts[FAILED] and failures_fail:
        print(f"{counts[FAILED]} of {len(outcomes)} videos failed and were skipped (the others are written): "
              f"exiting with status 1", file=sys.stderr)
        return 1
    return 0


# --- shards ----------------------------------------------------------------------------------

# Where a launcher says which rank this process is: rank-table launches and msrun's workers set
# RANK_ID/RANK_SIZE; msrun's MS_NODE_ID/MS_WORKER_NUM are the fallback.
SHARD_ENVIRONMENT = (("RANK_ID", "RANK_SIZE"), ("MS_NODE_ID", "MS_WORKER_NUM"))


class Shard(NamedTuple):
    """The ``index``-th of ``count`` disjoint parts of a sorted list: every ``count``-th item from the
    ``index``-th (so every part holds long and short videos alike); ``source`` says where it came from."""
    index: int = 0
    count: int = 1
    source: str = ""

    def of(self, items: Sequence) -> list:
        return list(items)[self.index::self.count]

    def __str__(self) -> str:
        return f"shard {self.index}/{self.count}" + (f" (from {self.source})" if self.source else "")


def parse_shard(text: str) -> Tuple[int, int]:
    """``(I, N)`` of ``"I/N"``; :class:`argparse.ArgumentTypeError` unless 0 <= I < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shard I/N with 0 <= I < N "
                                         f"(0/4 is the first of four shards)")
    return index, count


def is_msrun_scheduler(environ: Mapping[str, str] = os.environ) -> bool:
    """msrun starts the command once more as its scheduler, which must not process videos."""
    return environ.get("MS_ROLE") == "MS_SCHED"


def resolve_shard(option: Optional[Tuple[int, int]], environ: Mapping[str, str] = os.environ) -> Shard:
    """``--shard`` when given, else the rank of :data:`SHARD_ENVIRONMENT`, else every video."""
    if option:
        return Shard(*option, "--shard")
    for index_key, count_key in SHARD_ENVIRONMENT:
        if environ.get(count_key):
            source = f"{index_key}/{count_key}"
            try:
                return Shard(*parse_shard(f"{environ.get(index_key, '')}/{environ[count_key]}"), source)
            except argparse.ArgumentTypeError as err:
                raise ToolError(f"the environment's {source}: {err}; set both, or pass --shard I/N") from None
    return Shard()


def add_shard_options(parser, merge_help: str) -> None:
    """``--shard I/N``, ``--merge`` (with ``merge_help``) and ``--allow_missing``."""
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                        help="process the I-th of N disjoint parts of the videos (0-based; sorted names, every "
                             "N-th from the I-th); shards may share one output folder (default: RANK_ID/RANK_SIZE "
                             "or msrun's MS_NODE_ID/MS_WORKER_NUM when set, else every video)")
    parser.add_argument("--merge", type=parse_bool, nargs="?", const=True, default=False, metavar="BOOL",
                        help=merge_help)
    parser.add_argument("--allow_missing", type=parse_bool, nargs="?", const=True, default=False, metavar="BOOL",
                        help="with --merge: write what there is when some videos have no output (instead of "
                             "the error naming them)")


def missing_outputs_error(missing: Sequence[str], total: int, where: str, what: str) -> ToolError:
    """The merge's refusal: which videos have no ``what`` in ``where``, and the two ways on."""
    shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
    return ToolError(f"{len(missing)} of {total} videos without {what} in {where}: {shown}; run their shards "
                     f"again (each resumes), or merge with --allow_missing true to write what there is")


def check_jpeg_quality(value: int) -> None:
    if not 1 <= value <= 100:
        raise ToolError(f"--jpeg_quality must be within 1..100, got {value}")
