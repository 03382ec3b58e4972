"""Write the ``n_frames`` file of every video folder of a frame or flow root.

For each ``<video_path>/<class>/<video>/`` the count of ``image_*.jpg`` files (RGB) or of
``flow_x_*.jpg`` files (flow) is written to ``<video>/n_frames``, replacing any existing one. Use it
for frame folders made by other tools; ``generate_rgb_jpgs`` and ``convert_rgb_to_flow`` already
write ``n_frames`` themselves. ``--kind auto`` picks RGB when a folder has image_*.jpg files and flow
otherwise. Folders without frames, and frames not numbered 1..N, are reported (exit status 1 with
``--strict true``); a folder without frames gets no ``n_frames``.

Example::

    python -m src.tools.data.generate_n_frames --video_path data/ucf101_jpg
"""
import functools
import sys

from src.tools.cli import add_run_options, check_positive, run_main, tool_parser
from src.tools.data.videos import (DONE, FAILED, WARNED, VideoOutcome, list_video_folders, numbered_files,
                                   report_outcomes, run_per_video, video_name, write_n_frames)

PREFIX_OF_KIND = {"rgb": "image_", "flow": "flow_x_"}


def count_frames(folder: str, kind: str = "auto"):
    """``(prefix, sorted 1-based indices)`` of the frames of ``folder``."""
    if kind == "auto":
        kind = "rgb" if numbered_files(folder, PREFIX_OF_KIND["rgb"]) else "flow"
    prefix = PREFIX_OF_KIND[kind]
    return prefix, numbered_files(folder, prefix)


def process_folder(item, kind: str) -> VideoOutcome:
    class_name, folder = item
    name = video_name(class_name, folder)
    prefix, indices = count_frames(folder, kind)
    if not indices:
        return VideoOutcome(name, FAILED, f"no {prefix}*.jpg files in {folder}; n_frames not written")
    write_n_frames(folder, len(indices))
    if indices[-1] != len(indices):
        missing = sorted(set(range(1, indices[-1] + 1)) - set(indices))
        return VideoOutcome(name, WARNED, f"{folder}: {prefix}*.jpg are not numbered 1..{len(indices)} "
                                          f"(missing {missing[:5]}); wrote n_frames = {len(indices)}")
    return VideoOutcome(name, DONE)


def build_parser():
    parser = tool_parser("src.tools.data.generate_n_frames", __doc__)
    parser.add_argument("--video_path", required=True, help="frame or flow root: <video_path>/<class>/<video>/")
    parser.add_argument("--kind", choices=("auto", "rgb", "flow"), default="auto",
                        help="count image_*.jpg (rgb) or flow_x_*.jpg (flow)")
    add_run_options(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("num_workers", args.num_workers)
        folders = list_video_folders(args.video_path)
        outcomes = run_per_video(functools.partial(process_folder, kind=args.kind), folders,
                                 args.num_workers, desc="n_frames")
        return report_outcomes(outcomes, args.strict, f"n_frames of {len(folders)} folders in {args.video_path}")

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
