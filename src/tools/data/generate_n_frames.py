"""Write the ``n_frames`` file of every video folder of a frame or flow root.

For each ``<video_path>/<class>/<video>/`` the count of RGB frames (``--rgb_template``, default
``image_{:05d}.jpg``) or of x flow frames (``--flow_template``, default ``flow_{}_{:05d}.jpg``) is
written to ``<video>/n_frames``, replacing any existing one. Use it for frame folders made by other
tools; ``generate_rgb_jpgs`` and ``convert_rgb_to_flow`` already write ``n_frames`` themselves.
``--kind auto`` picks RGB when a folder has RGB frames and flow otherwise. Folders without frames,
and frames not numbered ``start_index``..N, are reported (exit status 1 with ``--strict true``); a
folder without frames gets no ``n_frames``. mmaction2 rawframes (``img_00001.jpg``,
``x_00001.jpg``): ``--rgb_template img_{:05d}.jpg --flow_template {}_{:05d}.jpg``. (The data sources
count such folders themselves when ``n_frames`` is absent; writing it only saves that listing.)

Example::

    python -m src.tools.data.generate_n_frames --video_path data/ucf101_jpg
"""
import functools
import sys

from src.data.frame_counts import frame_glob, numbered_frames
from src.data.readers import DEFAULT_FLOW_TEMPLATE, DEFAULT_RGB_TEMPLATE
from src.tools.cli import add_run_options, check_positive, run_main, tool_parser
from src.tools.data.videos import (DONE, FAILED, WARNED, VideoOutcome, add_template_options, check_template_options,
                                   list_video_folders, report_outcomes, run_per_video, video_name, write_n_frames)


def count_frames(folder: str, kind: str = "auto", rgb_template: str = DEFAULT_RGB_TEMPLATE,
                 flow_template: str = DEFAULT_FLOW_TEMPLATE):
    """``(template, axis, sorted frame numbers)`` of the frames of ``folder`` (flow: the x frames)."""
    rgb = numbered_frames(folder, rgb_template)
    if kind == "rgb" or (kind == "auto" and rgb):
        return rgb_template, "", rgb
    return flow_template, "x", numbered_frames(folder, flow_template, "x")


def process_folder(item, kind: str, rgb_template: str, flow_template: str, start_index: int) -> VideoOutcome:
    class_name, folder = item
    name = video_name(class_name, folder)
    template, axis, numbers = count_frames(folder, kind, rgb_template, flow_template)
    shown = frame_glob(template, axis)
    if not numbers:
        return VideoOutcome(name, FAILED, f"no {shown} files in {folder}; n_frames not written (set --rgb_template / "
                                          f"--flow_template if its frames are named another way)")
    write_n_frames(folder, len(numbers))
    expected = list(range(start_index, start_index + len(numbers)))
    if numbers != expected:
        missing = sorted(set(range(start_index, numbers[-1] + 1)) - set(numbers))
        return VideoOutcome(name, WARNED, f"{folder}: {shown} are not numbered {start_index}..{expected[-1]} "
                                          f"(missing {missing[:5]}, first {numbers[0]}; --start_index {numbers[0]} "
                                          f"if the folder starts there); wrote n_frames = {len(numbers)}")
    return VideoOutcome(name, DONE)


def build_parser():
    parser = tool_parser("src.tools.data.generate_n_frames", __doc__)
    parser.add_argument("--video_path", required=True, help="frame or flow root: <video_path>/<class>/<video>/")
    parser.add_argument("--kind", choices=("auto", "rgb", "flow"), default="auto",
                        help="count RGB frames or x flow frames")
    add_template_options(parser, flow=True)
    add_run_options(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("num_workers", args.num_workers)
        check_template_options(args)
        folders = list_video_folders(args.video_path)
        job = functools.partial(process_folder, kind=args.kind, rgb_template=args.rgb_template,
                                flow_template=args.flow_template, start_index=args.start_index)
        outcomes = run_per_video(job, folders, args.num_workers, desc="n_frames")
        return report_outcomes(outcomes, args.strict, f"n_frames of {len(folders)} folders in {args.video_path}")

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
