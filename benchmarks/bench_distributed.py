"""Data-parallel scaling on this machine: one epoch of demo training with 1 and 2 workers.

``python benchmarks/bench_distributed.py [--work_dir demo_work] [--model_args "..."]``

1 worker is a plain ``train.py`` run; 2 workers run through ``scripts/run_distribute_train.sh`` (msrun,
CPU). Each run trains one epoch of the demo's training split (no evaluation) with the same global
batch work split over the workers; reported are the wall time of the whole launch and each
worker's peak memory (from its train.log). Writes ``benchmarks/results/distributed.json``.
"""
import argparse
import glob
import json
import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from src.demo.runner import Demo  # noqa: E402
MODEL_ARGS = ("--model resnet3d --model_depth 18 --num_classes 6 --spatial_size 112 --resize_short 128 "
              "--train_sample_duration 16 --batch_size 4 --num_workers 1 --optimizer sgd --lr 0.01 --no_eval True "
              "--flip False")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_memory(out_dir: str):
    logs = sorted(glob.glob(os.path.join(out_dir, "train.log")) + glob.glob(os.path.join(out_dir, "rank_*", "train.log")))
    return [float(re.search(r"peak memory ([0-9.]+) GiB", open(log).read()).group(1)) for log in logs]


def run(workers: int, demo: Demo, model_args: str) -> dict:
    out = demo.path(f"bench_dist_{workers}")
    video, annotation = demo.path("jpg"), demo.path("annotation", "demo_01.json")
    start = time.time()
    if workers == 1:
        command = [sys.executable, "train.py", "--config_path", "configs/resnet3d/demo_rgb.yaml", "--num_epochs", "1",
                   "--video_path", video, "--annotation_path", annotation, "--save_dir", out] + model_args.split()
        env = dict(os.environ)
    else:
        command = ["bash", "scripts/run_distribute_train.sh", str(workers), "none", "demo", "rgb", "1", video,
                   annotation, "none", "configs/resnet3d/demo_rgb.yaml"]
        env = dict(os.environ, SKIP_SETUP="1", DEVICE_TARGET="CPU", OUTPUT_DIR=out, EXTRA_ARGS=model_args,
                   MASTER_PORT=str(_free_port()))
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return {"workers": workers, "wall_seconds": round(time.time() - start, 1), "peak_gib_per_worker": _peak_memory(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "demo_work"))
    parser.add_argument("--model_args", default=MODEL_ARGS, help="config overrides of both runs")
    args = parser.parse_args()
    demo = Demo(args.work_dir, "dis")
    demo.prepare_videos()
    rows = [run(workers, demo, args.model_args) for workers in (1, 2)]
    print(f"{'workers':>7} {'wall s':>8}  peak GiB per worker")
    for row in rows:
        print(f"{row['workers']:>7} {row['wall_seconds']:8.1f}  {row['peak_gib_per_worker']}")
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    path = os.path.join(ROOT, "benchmarks", "results", "distributed.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"model_args": args.model_args, "rows": rows}, handle, indent=1)
    print(f"written {path}")


if __name__ == "__main__":
    main()
