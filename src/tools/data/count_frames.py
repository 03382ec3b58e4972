"""Count the frames of every video file by decoding it, ahead of training, into the count cache.

    python -m src.tools.data.count_frames --video_path VIDEOS [--annotation_path LIST] [--num_workers N]

Training and evaluation on video files (``data_source: video``) decode nothing before the first step:
they use each file's cached decoder count, else its container's count, checked as clips are read
(:mod:`src.data.frame_counts`). The container's count is wrong for variable-frame-rate files and
truncated files, which the reader then finds one clip at a time; this tool finds them all at once and
makes every count exact. It decodes each video of ``--annotation_path`` (a list file, as train.py
reads it), or every video file under ``--video_path``, over ``--num_workers`` processes behind a
progress bar, and appends each count to ``<video_path>/frame_counts.tsv`` as it is made: a killed run
resumes where it stopped, and files counted before (same size and time stamp) are not decoded again.
Variable-frame-rate and truncated files are reported as warnings, files that do not decode as failures
(``--strict true``: exit status 1 when there are any).
"""
import functools
import os
import sys
from typing import List

from src.data.annotations import AnnotationError, load_list_file
from src.data.frame_counts import COUNT_CACHE_FILE, cached_video_counts, record_video_count
from src.data.readers import count_video_frames
from src.tools.cli import ToolError, add_run_options, check_positive, run_main, tool_parser
from src.tools.data.videos import (DONE, FAILED, SKIPPED, VIDEO_EXTENSIONS, WARNED, VideoOutcome, report_outcomes,
                                   require_dir, run_per_video)


def build_parser():
    parser = tool_parser("src.tools.data.count_frames", __doc__)
    parser.add_argument("--video_path", required=True, help="root of the video files (where the cache is kept)")
    parser.add_argument("--annotation_path", default="",
                        help="list file of the videos to count, paths relative to --video_path (default: every "
                             "video file under --video_path)")
    add_run_options(parser)
    return parser


def list_videos(video_path: str, annotation_path: str) -> List[str]:
    """The video files to count: those of the list file, else every video file under ``video_path``."""
    if annotation_path:
        records, _ = load_list_file(annotation_path, video_path)
        return [record.path for record in records if os.path.isfile(record.path)]
    found = []
    for folder, _, names in os.walk(video_path):
        found.extend(os.path.join(folder, name) for name in names if name.lower().endswith(VIDEO_EXTENSIONS))
    return sorted(found)


def count_one(path: str, cache_folder: str) -> VideoOutcome:
    count = count_video_frames(path)
    name = os.path.relpath(path, cache_folder)
    if not record_video_count(path, cache_folder, count):
        return VideoOutcome(name, FAILED, f"cannot append to {os.path.join(cache_folder, COUNT_CACHE_FILE)}")
    if count.frames <= 0:
        return VideoOutcome(name, FAILED, "no frame decodes (empty, unreadable or not a video)")
    return VideoOutcome(name, WARNED if count.problem() else DONE, count.problem())


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("--num_workers", args.num_workers)
        root = require_dir(args.video_path, "--video_path", "give the root of the video files")
        if not os.access(root, os.W_OK):
            raise ToolError(f"--video_path {root} is not writable, and the counts are kept there "
                            f"({COUNT_CACHE_FILE}): make it writable, or count a writable copy")
        paths = list_videos(root, args.annotation_path)
        if not paths:
            raise ToolError(f"no video file to count under {root}"
                            + (f" from {args.annotation_path}" if args.annotation_path else ""))
        counted = cached_video_counts(paths, root)
        todo = [path for path in paths if path not in counted]
        print(f"{len(paths)} videos, {len(counted)} counted before, {len(todo)} to decode "
              f"({args.num_workers} workers)", flush=True)
        outcomes = run_per_video(functools.partial(count_one, cache_folder=root), todo, args.num_workers,
                                 "count frames") if todo else []
        outcomes += [VideoOutcome(os.path.relpath(path, root), SKIPPED) if count.frames > 0 else
                     VideoOutcome(os.path.relpath(path, root), FAILED, "no frame decoded when it was counted")
                     for path, count in counted.items()]
        print(f"counts in {os.path.join(root, COUNT_CACHE_FILE)}")
        return report_outcomes(outcomes, args.strict, "count_frames")
    return run_main(body, known_errors=(AnnotationError,))


if __name__ == "__main__":
    sys.exit(main())
