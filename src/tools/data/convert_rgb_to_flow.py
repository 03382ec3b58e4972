"""Compute optical flow between consecutive frames of JPEG frame folders.

``<src_path>/<class>/<video>/image_%05d.jpg`` (n frames) becomes
``<dst_path>/<class>/<video>/flow_x_%05d.jpg`` and ``flow_y_%05d.jpg`` (n - 1 pairs: pair i is the
motion from frame i to frame i + 1) plus ``n_frames`` = n - 1, written last so interrupted runs resume.
``--rgb_template`` / ``--flow_template`` / ``--start_index`` read and write other names (mmaction2
rawframes: ``img_{:05d}.jpg`` -> ``{}_{:05d}.jpg``). The destination is a root of its own: a flow
folder's ``n_frames`` counts flow pairs.

Each flow folder records how its flow was made (``flow.json``: method and bound); a rerun asking
for another method or bound refuses to mix them in one folder and names it (``--overwrite true``
recomputes it).

Flow is computed on greyscale frames, clipped to +-bound pixels and mapped linearly to 0..255 as
``(f + bound) * 255 / (2 * bound)`` (so 127.5 means no motion), and saved as grey JPEGs. Sign
convention: x grows to the right and y downwards, so an object moving right has positive x flow.

Methods (:mod:`src.data.flow`): ``tvl1`` (OpenCV's Dual TV-L1 with its default parameters, the I3D
paper's choice; slow: 0.8-1.8 s per 320x240 pair on one CPU core depending on content: 2-4 weeks for UCF101 on 2 cores),
``dis`` (DIS, medium preset; 70-150x faster), ``farneback`` (about 30x faster). See
benchmarks/bench_flow.py for the figures of a machine.

A video with a missing or unreadable frame is reported naming the file and skipped (its partial flow
files are removed and no ``n_frames`` is written, so the next run retries it); ``--strict true``
turns such problems into exit status 1.

Example::

    python -m src.tools.data.convert_rgb_to_flow --src_path data/ucf101_jpg --dst_path data/ucf101_flow --method dis
"""
import functools
import json
import os
import sys
from dataclasses import dataclass

import cv2
import numpy as np

from src.data.flow import FLOW_METHODS as METHODS, compute_flow, flow_to_uint8
from src.data.frame_counts import numbered_frames
from src.data.readers import DEFAULT_FLOW_TEMPLATE, DEFAULT_RGB_TEMPLATE, frame_file
from src.tools.cli import ToolError, add_run_options, check_positive, run_main, tool_parser
from src.tools.data.videos import (DONE, FAILED, SKIPPED, WARNED, VideoOutcome, add_template_options,
                                   check_jpeg_quality, check_template_options, is_complete, list_video_folders,
                                   read_n_frames, remove_frames, report_outcomes, run_per_video, video_name,
                                   write_n_frames)

FLOW_RECORD_FILE = "flow.json"


def read_grey(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        if not os.path.exists(path):
            raise ToolError(f"frame {path} is missing; if the frames of {os.path.dirname(path)} are named another "
                            f"way (mmaction2: img_00001.jpg, possibly from 0) set --rgb_template / --start_index")
        raise ToolError(f"cannot read frame {path}: not a valid JPEG; extract this video's frames again "
                        f"(delete its n_frames file and rerun src.tools.data.generate_rgb_jpgs)")
    return image


def count_rgb_frames(frame_dir: str, rgb_template: str = DEFAULT_RGB_TEMPLATE) -> int:
    """Frames of a folder: its ``n_frames`` file, or (when absent) the number of frames named by the template."""
    if is_complete(frame_dir):
        return read_n_frames(frame_dir)
    return len(numbered_frames(frame_dir, rgb_template))


@dataclass(frozen=True)
class FlowOptions:
    method: str
    bound: float
    jpeg_quality: int
    overwrite: bool
    rgb_template: str = DEFAULT_RGB_TEMPLATE
    flow_template: str = DEFAULT_FLOW_TEMPLATE
    start_index: int = 1

    def record(self) -> dict:
        """What decides a flow folder's values: folders made with other values must not be mixed."""
        return {"method": self.method, "bound": self.bound}


def write_video_flow(frame_dir: str, out_dir: str, options: FlowOptions) -> int:
    """Flow of every consecutive pair of ``frame_dir`` into ``out_dir``; returns the pairs written."""
    n_frames = count_rgb_frames(frame_dir, options.rgb_template)
    if n_frames < 2:
        raise ToolError(f"{frame_dir} has {n_frames} frame(s) named like {options.rgb_template!r}; flow needs "
                        f"at least 2 (set --rgb_template / --start_index if its frames are named another way)")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(options.jpeg_quality)]
    previous = read_grey(os.path.join(frame_dir, frame_file(options.rgb_template, 0, options.start_index)))
    for index in range(1, n_frames):
        path = os.path.join(frame_dir, frame_file(options.rgb_template, index, options.start_index))
        current = read_grey(path)
        if current.shape != previous.shape:
            raise ToolError(f"{path} is {current.shape[1]}x{current.shape[0]} but the previous frame is "
                            f"{previous.shape[1]}x{previous.shape[0]}; frames of a video must share one size")
        encoded = flow_to_uint8(compute_flow(previous, current, options.method), options.bound)
        for channel, axis in enumerate("xy"):
            out_file = os.path.join(out_dir, frame_file(options.flow_template, index - 1, options.start_index, axis))
            if not cv2.imwrite(out_file, encoded[..., channel], params):
                raise ToolError(f"cannot write {out_file} (disk full or no permission?)")
        previous = current
    return n_frames - 1


def read_flow_record(out_dir: str):
    """The ``flow.json`` of a flow folder (None when it has none)."""
    path = os.path.join(out_dir, FLOW_RECORD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as err:
        raise ToolError(f"{path} is unreadable ({err}); delete the folder's n_frames and rerun to "
                        f"recompute it") from err


def _skip_complete(name: str, out_dir: str, options: FlowOptions) -> VideoOutcome:
    """The outcome of a folder that is already complete: skipped, or refused when made another way."""
    record = read_flow_record(out_dir)
    if record is None:
        return VideoOutcome(name, WARNED, f"{out_dir} is complete but has no {FLOW_RECORD_FILE}, so how its flow "
                                          f"was made is unknown; kept as it is (--overwrite true recomputes it)")
    if record != options.record():
        return VideoOutcome(name, FAILED, f"{out_dir} holds flow made with {record}, this run asks for "
                                          f"{options.record()}; flows of one folder are not mixed: pass "
                                          f"--overwrite true to recompute it, or write to another --dst_path")
    return VideoOutcome(name, SKIPPED)


def process_video(item, options: FlowOptions, dst_path: str) -> VideoOutcome:
    """Flow of one ``(class_name, frame_dir)``; never raises, the outcome says what happened."""
    class_name, frame_dir = item
    name = video_name(class_name, frame_dir)
    out_dir = os.path.join(dst_path, class_name, os.path.basename(frame_dir.rstrip(os.sep)))
    try:
        if is_complete(out_dir) and not options.overwrite:
            return _skip_complete(name, out_dir, options)
    except ToolError as err:
        return VideoOutcome(name, FAILED, str(err))
    os.makedirs(out_dir, exist_ok=True)
    stale = functools.partial(remove_frames, out_dir, options.flow_template, ("x", "y"), FLOW_RECORD_FILE)
    stale()  # leftovers of an interrupted run, or of another method when overwriting
    try:
        pairs = write_video_flow(frame_dir, out_dir, options)
    except ToolError as err:
        stale()
        return VideoOutcome(name, FAILED, f"{err}; video skipped")
    with open(os.path.join(out_dir, FLOW_RECORD_FILE), "w", encoding="utf-8") as handle:
        json.dump(options.record(), handle)
    write_n_frames(out_dir, pairs)
    return VideoOutcome(name, DONE)


def build_parser():
    parser = tool_parser("src.tools.data.convert_rgb_to_flow", __doc__)
    parser.add_argument("--src_path", required=True, help="frame root: <src_path>/<class>/<video>/image_00001.jpg")
    parser.add_argument("--dst_path", required=True, help="flow root, written as <dst_path>/<class>/<video>/")
    parser.add_argument("--method", choices=METHODS, default="tvl1", help="optical-flow algorithm")
    parser.add_argument("--bound", type=float, default=20.0, help="flow is clipped to +-bound pixels")
    parser.add_argument("--jpeg_quality", type=int, default=95, help="JPEG quality of the flow images, 1..100")
    add_template_options(parser, flow=True)
    add_run_options(parser, overwrite_help="compute again videos that are already complete")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("num_workers", args.num_workers)
        if args.bound <= 0:
            raise ToolError(f"--bound must be > 0, got {args.bound}")
        check_jpeg_quality(args.jpeg_quality)
        check_template_options(args)
        if os.path.abspath(args.dst_path) == os.path.abspath(args.src_path):
            raise ToolError(f"--dst_path is --src_path ({args.src_path}): a flow folder's n_frames counts flow "
                            f"pairs, so flow needs a root of its own (the data sources take it as "
                            f"video_path_joint_flow, or as video_path with --mode flow)")
        folders = list_video_folders(args.src_path)
        options = FlowOptions(args.method, args.bound, args.jpeg_quality, args.overwrite, args.rgb_template,
                              args.flow_template, args.start_index)
        job = functools.partial(process_video, options=options, dst_path=args.dst_path)
        outcomes = run_per_video(job, folders, args.num_workers, desc=f"flow ({args.method})")
        return report_outcomes(outcomes, args.strict, f"{args.method} flow of {len(folders)} videos in {args.dst_path}")

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
