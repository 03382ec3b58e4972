"""Compute optical flow between consecutive frames of JPEG frame folders.

``<src_path>/<class>/<video>/image_%05d.jpg`` (n frames) becomes
``<dst_path>/<class>/<video>/flow_x_%05d.jpg`` and ``flow_y_%05d.jpg`` (n - 1 pairs: pair i is the
motion from frame i to frame i + 1) plus ``n_frames`` = n - 1, written last so interrupted runs resume.

Flow is computed on greyscale frames, clipped to +-bound pixels and mapped linearly to 0..255 as
``(f + bound) * 255 / (2 * bound)`` (so 127.5 means no motion), and saved as grey JPEGs. Sign
convention: x grows to the right and y downwards, so an object moving right has positive x flow.

Methods: ``tvl1`` (OpenCV's Dual TV-L1 with its default parameters, the I3D paper's choice; slow:
0.8-1.8 s per 320x240 pair on one CPU core depending on content: 2-4 weeks for UCF101 on 2 cores),
``dis`` (DIS, medium preset; 70-150x faster), ``farneback`` (about 30x faster). See
benchmarks/bench_flow.py for the figures of a machine.

A video with a missing or unreadable frame is reported naming the file and skipped (its partial flow
files are removed and no ``n_frames`` is written, so the next run retries it); ``--strict true``
turns such problems into exit status 1.

Example::

    python -m src.tools.data.convert_rgb_to_flow --src_path data/ucf101_jpg --dst_path data/ucf101_flow --method dis
"""
import functools
import os
import sys
from dataclasses import dataclass

import cv2
import numpy as np

from src.tools.cli import ToolError, add_run_options, check_positive, run_main, tool_parser
from src.tools.data.videos import (DONE, FAILED, FLOW_PATTERN, RGB_PATTERN, SKIPPED, VideoOutcome,
                                   check_jpeg_quality, is_complete, list_video_folders, numbered_files,
                                   read_n_frames, remove_files, report_outcomes, run_per_video, video_name,
                                   write_n_frames)

METHODS = ("tvl1", "dis", "farneback")
_ESTIMATORS = {}  # one estimator per method and process: creating TV-L1/DIS objects is not free


def _estimator(method: str):
    if method not in _ESTIMATORS:
        if method == "tvl1":
            _ESTIMATORS[method] = cv2.optflow.DualTVL1OpticalFlow_create()
        elif method == "dis":
            _ESTIMATORS[method] = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        else:
            raise ValueError(f"unknown flow method {method!r}; choose one of {METHODS}")
    return _ESTIMATORS[method]


def compute_flow(previous_grey: np.ndarray, next_grey: np.ndarray, method: str = "tvl1") -> np.ndarray:
    """Dense flow (H, W, 2) float32 in pixels from ``previous_grey`` to ``next_grey`` (uint8, H x W):
    ``previous(y, x)`` matches ``next(y + flow[..., 1], x + flow[..., 0])``."""
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(previous_grey, next_grey, None, pyr_scale=0.5, levels=3,
                                            winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    return _estimator(method).calc(previous_grey, next_grey, None)


def flow_to_uint8(flow: np.ndarray, bound: float = 20.0) -> np.ndarray:
    """Clip to +-bound and map linearly to 0..255 (``(f + bound) * 255 / (2 * bound)``), rounded."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def read_grey(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ToolError(f"cannot read frame {path}: missing or not a valid JPEG; extract this video's "
                        f"frames again (delete its n_frames file and rerun src.tools.data.generate_rgb_jpgs)")
    return image


def count_rgb_frames(frame_dir: str) -> int:
    """Frames of a folder: its ``n_frames`` file, or (when absent) the number of image_*.jpg files."""
    if is_complete(frame_dir):
        return read_n_frames(frame_dir)
    return len(numbered_files(frame_dir, "image_"))


@dataclass(frozen=True)
class FlowOptions:
    method: str
    bound: float
    jpeg_quality: int
    overwrite: bool


def write_video_flow(frame_dir: str, out_dir: str, options: FlowOptions) -> int:
    """Flow of every consecutive pair of ``frame_dir`` into ``out_dir``; returns the pairs written."""
    n_frames = count_rgb_frames(frame_dir)
    if n_frames < 2:
        raise ToolError(f"{frame_dir} has {n_frames} frame(s); flow needs at least 2")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(options.jpeg_quality)]
    previous = read_grey(os.path.join(frame_dir, RGB_PATTERN.format(1)))
    for index in range(1, n_frames):
        path = os.path.join(frame_dir, RGB_PATTERN.format(index + 1))
        current = read_grey(path)
        if current.shape != previous.shape:
            raise ToolError(f"{path} is {current.shape[1]}x{current.shape[0]} but the previous frame is "
                            f"{previous.shape[1]}x{previous.shape[0]}; frames of a video must share one size")
        encoded = flow_to_uint8(compute_flow(previous, current, options.method), options.bound)
        for channel, axis in enumerate("xy"):
            out_file = os.path.join(out_dir, FLOW_PATTERN.format(axis, index))
            if not cv2.imwrite(out_file, encoded[..., channel], params):
                raise ToolError(f"cannot write {out_file} (disk full or no permission?)")
        previous = current
    return n_frames - 1


def process_video(item, options: FlowOptions, dst_path: str) -> VideoOutcome:
    """Flow of one ``(class_name, frame_dir)``; never raises, the outcome says what happened."""
    class_name, frame_dir = item
    name = video_name(class_name, frame_dir)
    out_dir = os.path.join(dst_path, class_name, os.path.basename(frame_dir.rstrip(os.sep)))
    if is_complete(out_dir) and not options.overwrite:
        return VideoOutcome(name, SKIPPED)
    os.makedirs(out_dir, exist_ok=True)
    stale = ["flow_x_*.jpg", "flow_y_*.jpg", "n_frames"]
    remove_files(out_dir, stale)
    try:
        pairs = write_video_flow(frame_dir, out_dir, options)
    except ToolError as err:
        remove_files(out_dir, stale)
        return VideoOutcome(name, FAILED, f"{err}; video skipped")
    write_n_frames(out_dir, pairs)
    return VideoOutcome(name, DONE)


def build_parser():
    parser = tool_parser("src.tools.data.convert_rgb_to_flow", __doc__)
    parser.add_argument("--src_path", required=True, help="frame root: <src_path>/<class>/<video>/image_00001.jpg")
    parser.add_argument("--dst_path", required=True, help="flow root, written as <dst_path>/<class>/<video>/")
    parser.add_argument("--method", choices=METHODS, default="tvl1", help="optical-flow algorithm")
    parser.add_argument("--bound", type=float, default=20.0, help="flow is clipped to +-bound pixels")
    parser.add_argument("--jpeg_quality", type=int, default=95, help="JPEG quality of the flow images, 1..100")
    add_run_options(parser, overwrite_help="compute again videos that are already complete")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("num_workers", args.num_workers)
        if args.bound <= 0:
            raise ToolError(f"--bound must be > 0, got {args.bound}")
        check_jpeg_quality(args.jpeg_quality)
        folders = list_video_folders(args.src_path)
        options = FlowOptions(args.method, args.bound, args.jpeg_quality, args.overwrite)
        job = functools.partial(process_video, options=options, dst_path=args.dst_path)
        outcomes = run_per_video(job, folders, args.num_workers, desc=f"flow ({args.method})")
        return report_outcomes(outcomes, args.strict, f"{args.method} flow of {len(folders)} videos in {args.dst_path}")

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
