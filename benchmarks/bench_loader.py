"""Loader throughput: training clips/s of the shared data layer for RGB and flow.

``python benchmarks/bench_loader.py [--work_dir demo_work] [--clips 96]``

Uses the demo's prepared frames (``bash scripts/run_demo.sh`` makes them; missing ones are made
here) and times ``create_video_dataset(cfg, "train")`` for 16x112x112 clips (short side 128, random crop,
flip, I3D normalisation, batch 4) with 1 and 2 worker processes, after one warm-up batch.
Prints a table and writes ``benchmarks/results/loader.json``.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from src.config import load_config  # noqa: E402
from src.data.dataset import create_video_dataset  # noqa: E402
from src.demo.runner import Demo  # noqa: E402


def clips_per_second(cfg, clips: int) -> float:
    dataset = create_video_dataset(cfg, "train")
    iterator = dataset.create_tuple_iterator(output_numpy=True, num_epochs=1)
    next(iterator)  # warm-up: worker start-up is not throughput
    seen, start = 0, time.perf_counter()
    for imgs, _ in iterator:
        seen += imgs.shape[0]
        if seen >= clips:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "demo_work"))
    parser.add_argument("--clips", type=int, default=80, help="clips timed per configuration")
    args = parser.parse_args()
    demo = Demo(args.work_dir, "dis")
    demo.prepare_videos()
    rows = []
    print(f"{'stream':6} {'workers':>7} {'clips/s':>8}")
    for mode, folder in (("rgb", "jpg"), ("flow", "flow")):
        for workers in (1, 2):
            cfg = load_config(os.path.join(ROOT, f"configs/i3d/demo_{mode}.yaml"), {
                "video_path": demo.path(folder), "annotation_path": demo.path("annotation", "demo_01.json"),
                "num_workers": workers, "flip": True})
            rate = clips_per_second(cfg, args.clips)
            rows.append({"stream": mode, "workers": workers, "clip": "16x112x112", "clips_per_s": round(rate, 2)})
            print(f"{mode:6} {workers:>7} {rate:8.2f}", flush=True)
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    path = os.path.join(ROOT, "benchmarks", "results", "loader.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(rows, handle, indent=1)
    print(f"written {path}")


if __name__ == "__main__":
    main()
