"""Per-operator profile of one training step (forward, backward, SGD) or of inference.

``python benchmarks/profile_ops.py [--cases r3d50_16x112,tsn50_3x224] [--batch 1] [--steps 3]
[--inference [--keep_bn]]``

Runs each case of ``bench_recognizers.CASES`` in graph mode under ``mindspore.Profiler`` (CPU
kernels are timed one by one; inference runs the BatchNorm-folded network that eval.py runs, or
with ``--keep_bn`` the network as trained), then prints and writes, per case, the share of each
operator type and the slowest operator instances. Writes
``benchmarks/results/profile_<case>[_infer|_infer_bn].json`` and a bar chart ``.png`` beside it.
Profiling adds some overhead per kernel: compare shares, and take step times from
``bench_recognizers.py``.
"""
import argparse
import csv
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.bench_recognizers import CASES, RESULTS, ROOT, build_case, build_inference_network  # noqa: E402


def profile_case(case: str, batch: int, steps: int, inference: str, out_dir: str) -> None:
    """Run inside the child process: warm up, then profile ``steps`` steps into ``out_dir``.
    ``inference``: "" (a train step), "folded" (eval.py's network) or "bn" (BatchNorm kept)."""
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    _, train, x, y = build_case(case, batch)
    if inference:
        net = build_inference_network(case, fold_bn=inference == "folded")
        step = lambda: net(x).asnumpy()  # noqa: E731
    else:
        step = lambda: train(x, y).asnumpy()  # noqa: E731
    step()  # compile outside the profile
    profiler = ms.Profiler(output_path=out_dir)
    for _ in range(steps):
        step()
    profiler.analyse()


def _read_csv(pattern: str):
    paths = glob.glob(pattern, recursive=True)
    if not paths:
        raise FileNotFoundError(f"the profiler wrote no {os.path.basename(pattern)} (looked for {pattern})")
    with open(paths[0], encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def summarise(out_dir: str, steps: int, top: int) -> dict:
    """Operator-type shares and the ``top`` slowest operator instances, in ms per step."""
    types = _read_csv(os.path.join(out_dir, "**", "cpu_op_type_info_0.csv"))
    details = _read_csv(os.path.join(out_dir, "**", "cpu_op_detail_info_0.csv"))
    total = sum(float(row["total_compute_time"]) for row in types)
    by_type = sorted(({"op_type": row["op_type"], "ms_per_step": float(row["total_compute_time"]) / steps,
                       "share": float(row["total_compute_time"]) / total,
                       "instances": int(row["type_occurrences"]) // steps} for row in types),
                     key=lambda row: -row["ms_per_step"])
    slowest = sorted(({"op": row["full_op_name"], "op_type": row["op_type"],
                       "ms_per_step": float(row["op_total_time(ms)"]) / steps} for row in details),
                     key=lambda row: -row["ms_per_step"])[:top]
    return {"kernel_ms_per_step": total / steps, "by_type": by_type, "slowest": slowest}


def plot(summary: dict, title: str, path: str, max_types: int = 12) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["by_type"][:max_types][::-1]
    fig, axis = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    axis.barh([row["op_type"] for row in rows], [row["ms_per_step"] for row in rows])
    for index, row in enumerate(rows):
        axis.text(row["ms_per_step"], index, f" {100 * row['share']:.1f}%", va="center", fontsize=8)
    axis.set_xlabel("ms per step (kernel time)")
    axis.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# what is profiled -> (its description, the suffix of the result files)
WHAT = {"": ("train step", ""), "folded": ("inference", "_infer"), "bn": ("inference, BatchNorm kept", "_infer_bn")}


def run(case: str, batch: int, steps: int, inference: str, top: int) -> dict:
    out_dir = tempfile.mkdtemp(prefix=f"profile_{case}_")
    try:
        command = [sys.executable, os.path.abspath(__file__), "--child",
                   f"{case},{batch},{steps},{inference},{out_dir}"]
        done = subprocess.run(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, GLOG_v="3"),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"profiling {case} failed:\n{done.stderr.strip()[-2000:]}")
        summary = summarise(out_dir, steps, top)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    summary.update(case=case, batch=batch, steps=steps, what=WHAT[inference][0])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="r3d50_16x112,tsn50_3x224", help="names of bench_recognizers.CASES")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps after the compiling one")
    parser.add_argument("--inference", action="store_true", help="profile inference instead of training")
    parser.add_argument("--keep_bn", action="store_true",
                        help="with --inference: profile the network with its BatchNorms (not folded)")
    parser.add_argument("--top", type=int, default=10, help="slowest operator instances listed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, batch, steps, inference, out_dir = args.child.split(",", 4)
        profile_case(case, int(batch), int(steps), inference, out_dir)
        return
    inference = ("bn" if args.keep_bn else "folded") if args.inference else ""
    os.makedirs(RESULTS, exist_ok=True)
    for case in args.cases.split(","):
        if case not in CASES:
            parser.error(f"unknown case {case!r}; choose from {', '.join(CASES)}")
        summary = run(case, args.batch, args.steps, inference, args.top)
        stem = os.path.join(RESULTS, f"profile_{case}" + WHAT[inference][1])
        with open(stem + ".json", "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1)
        plot(summary, f"{case}, batch {args.batch}, {summary['what']}", stem + ".png")
        print(f"\n{case}, batch {args.batch}, {summary['what']}: "
              f"{summary['kernel_ms_per_step']:.0f} ms of kernels per step")
        print(f"{'operator type':24} {'ms/step':>9} {'share':>7} {'count':>6}")
        for row in summary["by_type"]:
            print(f"{row['op_type']:24} {row['ms_per_step']:9.1f} {100 * row['share']:6.1f}% {row['instances']:6d}")
        print(f"slowest {args.top}:")
        for row in summary["slowest"]:
            print(f"  {row['ms_per_step']:8.1f} ms  {row['op']}")
        print(f"written {stem}.json and .png")


if __name__ == "__main__":
    main()
