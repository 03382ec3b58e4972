"""Optical-flow extraction speed (frame pairs per second) of each method of convert_rgb_to_flow.

Frames are demo-dataset frames (textured background, moving objects) rendered at each size; one
pair's cost is the flow computation plus the mapping to uint8, i.e. what the tool does per pair
besides JPEG input/output. Each method and size is timed with one OpenCV thread (what every worker
of ``--num_workers N`` uses) and with OpenCV's default thread count (``--num_workers 1``).

    python benchmarks/bench_flow.py [--sizes 128x171,240x320] [--seconds 3]

Prints a table and writes benchmarks/results/flow.json.
"""
import argparse
import json
import os
import platform
import sys
import time

import cv2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from src.demo.make_demo_dataset import FrameSpec, VideoSpec, render_video  # noqa: E402
from src.tools.data.convert_rgb_to_flow import METHODS, compute_flow, flow_to_uint8  # noqa: E402

UCF101_PAIRS = 2.5e6  # about 2.5 M frames in UCF101, one flow pair per frame


def grey_frames(height: int, width: int, count: int):
    video, _ = render_video(VideoSpec("MoveRight", 8, 1, 2), FrameSpec(height, width, count, 0, 25.0))
    return [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in video]


def time_method(method: str, frames, seconds: float, min_pairs: int = 2):
    """Seconds per pair, cycling over consecutive pairs until ``seconds`` elapsed (at least ``min_pairs``)."""
    flow_to_uint8(compute_flow(frames[0], frames[1], method))  # warm-up: creates the estimator
    pairs, start = 0, time.perf_counter()
    while pairs < min_pairs or time.perf_counter() - start < seconds:
        index = pairs % (len(frames) - 1)
        flow_to_uint8(compute_flow(frames[index], frames[index + 1], method))
        pairs += 1
    return (time.perf_counter() - start) / pairs, pairs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128x171,240x320", help="comma-separated HxW frame sizes")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated flow methods")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per method, size and thread count")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "flow.json"))
    args = parser.parse_args(argv)

    default_threads = cv2.getNumThreads()
    rows = []
    print(f"{'method':<10}{'size':>9}{'threads':>9}{'pairs':>7}{'ms/pair':>10}{'pairs/s':>9}{'UCF101 h':>10}")
    for size in args.sizes.split(","):
        height, width = (int(v) for v in size.lower().split("x"))
        frames = grey_frames(height, width, 41)
        for method in args.methods.split(","):
            for threads in sorted({1, default_threads}):
                cv2.setNumThreads(threads)
                seconds_per_pair, pairs = time_method(method, frames, args.seconds)
                # Hours for all of UCF101 on this machine: 1-thread workers on every core, or one process.
                workers = os.cpu_count() if threads == 1 else 1
                ucf_hours = UCF101_PAIRS * seconds_per_pair / workers / 3600
                rows.append({"method": method, "height": height, "width": width, "opencv_threads": threads,
                             "pairs_timed": pairs, "seconds_per_pair": seconds_per_pair,
                             "pairs_per_second": 1.0 / seconds_per_pair, "ucf101_hours_whole_machine": ucf_hours})
                print(f"{method:<10}{size:>9}{threads:>9}{pairs:>7}{seconds_per_pair * 1e3:>10.1f}"
                      f"{1.0 / seconds_per_pair:>9.1f}{ucf_hours:>10.0f}")
    cv2.setNumThreads(default_threads)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"benchmark": "flow", "cpu_count": os.cpu_count(), "processor": platform.processor(),
                   "opencv": cv2.__version__, "results": rows}, handle, indent=1)
    print(f"UCF101 h = {UCF101_PAIRS:.1e} pairs on this whole machine (1-thread rows: one worker per core)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
