"""Per-operator profile of one training step (forward, backward, SGD) or of inference, beside the
same profile of the PyTorch twin.

``python benchmarks/profile_ops.py [--cases r3d50_16x112,tsn50_3x224] [--batch 1] [--steps 3]
[--threads 2] [--inference [--keep_bn]]``

Runs each case of ``bench_recognizers.CASES`` in graph mode under ``mindspore.Profiler`` (CPU
kernels are timed one by one; inference runs the BatchNorm-folded network that eval.py runs, or
with ``--keep_bn`` the network as trained), and its PyTorch twin under ``torch.profiler`` (the self
time of every ATen operator; the optimizer's operators counted apart), each in its own process with
``--threads`` threads. Prints per case the share of each operator type and the slowest operators of
each side, then both sides' time per group (convolutions forward and backward, BatchNorm,
elementwise, pooling, optimizer, the rest) beside each side's unprofiled step time, which shows
where one is slower than the other and how much the runtime adds between kernels. Writes
``benchmarks/results/profile_<case>[_infer|_infer_bn].json`` and a bar chart ``.png`` beside it.
Profiling adds some overhead per operator: compare groups and shares, and take the ratio of step
times from ``bench_recognizers.py``, which interleaves the two sides.
"""
import argparse
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.bench_recognizers import CASES, RESULTS, ROOT, mindspore_steps, time_steps, torch_steps  # noqa: E402

SIDES = ("mindspore", "pytorch")
# Operator names (MindSpore kernel types, PyTorch ATen operators) -> the group both sides share;
# the first pattern that matches wins.
GROUPS = (
    ("convolution backward", r"conv.*(backprop|backward)"),
    ("convolution forward", r"conv"),
    ("BatchNorm", r"batch_?norm"),
    ("optimizer update", r"momentum|\(optimizer\)"),
    ("pooling", r"pool"),
    ("bias, ReLU, residual add", r"relu|threshold|bias_?add|^(aten::)?add(n|_)?$"),
)
OTHER = "the rest"


def op_group(name: str) -> str:
    """The group of operator ``name`` (see ``GROUPS``)."""
    for group, pattern in GROUPS:
        if re.search(pattern, name, re.IGNORECASE):
            return group
    return OTHER


def _warm_up_and_time(step, steps: int, out_dir: str) -> None:
    """Compile / warm up outside the profile, then write the median of ``steps`` unprofiled steps."""
    step()
    with open(os.path.join(out_dir, "step_seconds.json"), "w", encoding="utf-8") as handle:
        json.dump(float(np.median(time_steps(step, steps))), handle)


def profile_case(case: str, batch: int, steps: int, inference: str, threads: int, out_dir: str) -> None:
    """Run inside the child process: warm up, time ``steps`` unprofiled steps, then profile ``steps``
    steps into ``out_dir``. ``inference``: "" (a train step), "folded" (eval.py's network) or "bn"
    (BatchNorm kept)."""
    import mindspore as ms

    train_step, infer_step = mindspore_steps(case, batch, threads, fold_bn=inference != "bn")
    step = infer_step if inference else train_step
    _warm_up_and_time(step, steps, out_dir)
    profiler = ms.Profiler(output_path=out_dir)
    for _ in range(steps):
        step()
    profiler.analyse()


def profile_torch_case(case: str, batch: int, steps: int, inference: str, threads: int, out_dir: str) -> None:
    """The same for the PyTorch twin: the self time of every operator, summed per name; operators
    run by the optimizer's step are named with an ``(optimizer)`` suffix."""
    from torch.profiler import ProfilerActivity, profile

    train_step, infer_step = torch_steps(case, batch, threads)
    step = infer_step if inference else train_step
    _warm_up_and_time(step, steps, out_dir)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    with open(os.path.join(out_dir, "torch_ops.csv"), "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["op", "self_ms", "calls"])
        for name, (self_ms, calls) in torch_self_times(profiler.events()).items():
            writer.writerow([name, self_ms, calls])


def torch_self_times(events) -> dict:
    """``{operator name: (self milliseconds, calls)}`` of profiled PyTorch ``events``: ATen
    operators only (the annotations around them are not operators), those under an
    ``Optimizer.step`` annotation renamed ``<name> (optimizer)``."""
    totals = {}
    for event in events:
        if not event.name.startswith("aten::"):
            continue
        name, parent = event.name, event.cpu_parent
        while parent is not None:
            if parent.name.startswith("Optimizer.step"):
                name += " (optimizer)"
                break
            parent = parent.cpu_parent
        self_ms, calls = totals.get(name, (0.0, 0))
        totals[name] = (self_ms + event.self_cpu_time_total / 1e3, calls + 1)
    return totals


def _read_csv(pattern: str):
    paths = glob.glob(pattern, recursive=True)
    if not paths:
        raise FileNotFoundError(f"the profiler wrote no {os.path.basename(pattern)} (looked for {pattern})")
    with open(paths[0], encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _by_type(rows, steps: int) -> list:
    """``rows`` of ``(operator type, total ms, occurrences)`` -> per-step rows, slowest first."""
    total = sum(ms for _, ms, _ in rows) or 1.0
    return sorted(({"op_type": name, "ms_per_step": ms / steps, "share": ms / total,
                    "instances": count // steps} for name, ms, count in rows),
                  key=lambda row: -row["ms_per_step"])


def summarise(out_dir: str, steps: int, top: int) -> dict:
    """MindSpore's side: operator-type shares and the ``top`` slowest operator instances, in ms per step."""
    types = _read_csv(os.path.join(out_dir, "**", "cpu_op_type_info_0.csv"))
    details = _read_csv(os.path.join(out_dir, "**", "cpu_op_detail_info_0.csv"))
    by_type = _by_type([(row["op_type"], float(row["total_compute_time"]), int(row["type_occurrences"]))
                        for row in types], steps)
    slowest = sorted(({"op": row["full_op_name"], "op_type": row["op_type"],
                       "ms_per_step": float(row["op_total_time(ms)"]) / steps} for row in details),
                     key=lambda row: -row["ms_per_step"])[:top]
    return {"kernel_ms_per_step": sum(row["ms_per_step"] for row in by_type), "by_type": by_type,
            "slowest": slowest}


def summarise_torch(out_dir: str, steps: int, top: int) -> dict:
    """PyTorch's side, in the same form (its operators are not instances: ``slowest`` lists the
    ``top`` slowest operator types)."""
    rows = _read_csv(os.path.join(out_dir, "torch_ops.csv"))
    by_type = _by_type([(row["op"], float(row["self_ms"]), int(row["calls"])) for row in rows], steps)
    return {"kernel_ms_per_step": sum(row["ms_per_step"] for row in by_type), "by_type": by_type,
            "slowest": [{"op": row["op_type"], "op_type": row["op_type"], "ms_per_step": row["ms_per_step"]}
                        for row in by_type[:top]]}


def group_table(summaries: dict) -> list:
    """Per group (``GROUPS``, then the rest): each side's ms per step."""
    names = [group for group, _ in GROUPS] + [OTHER]
    table = [{"group": name} for name in names]
    for side, summary in summaries.items():
        totals = dict.fromkeys(names, 0.0)
        for row in summary["by_type"]:
            totals[op_group(row["op_type"])] += row["ms_per_step"]
        for row in table:
            row[side] = totals[row["group"]]
    return table


def plot(groups: list, title: str, path: str) -> None:
    """Both sides' ms per step in each group, as paired horizontal bars."""
    from src.utils.plots import plt, save_figure

    sides = [side for side in SIDES if side in groups[0]]
    rows = groups[::-1]
    fig, axis = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.4))
    height = 0.8 / len(sides)
    for offset, side in enumerate(sides):
        positions = [index + (offset - (len(sides) - 1) / 2) * height for index in range(len(rows))]
        axis.barh(positions, [row[side] for row in rows], height=height,
                  label="zoo (MindSpore)" if side == "mindspore" else "PyTorch")
    axis.set_yticks(range(len(rows)), [row["group"] for row in rows])
    axis.set_xlabel("ms per step (operator time)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    save_figure(fig, path, dpi=110)


# what is profiled -> (its description, the suffix of the result files)
WHAT = {"": ("train step", ""), "folded": ("inference", "_infer"), "bn": ("inference, BatchNorm kept", "_infer_bn")}


def run(side: str, case: str, batch: int, steps: int, inference: str, threads: int, top: int) -> dict:
    """Profile ``side`` of ``case`` in a child process; its summary with the unprofiled step time."""
    out_dir = tempfile.mkdtemp(prefix=f"profile_{side}_{case}_")
    try:
        command = [sys.executable, os.path.abspath(__file__), "--child",
                   f"{side},{case},{batch},{steps},{inference},{threads},{out_dir}"]
        env = dict(os.environ, PYTHONPATH=ROOT, GLOG_v="3", OMP_NUM_THREADS=str(threads))
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"profiling {side} {case} failed:\n{done.stderr.strip()[-2000:]}")
        summary = (summarise if side == "mindspore" else summarise_torch)(out_dir, steps, top)
        with open(os.path.join(out_dir, "step_seconds.json"), encoding="utf-8") as handle:
            summary["step_ms"] = 1e3 * json.load(handle)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return summary


def print_report(report: dict, top: int) -> None:
    for side, summary in report["sides"].items():
        print(f"\n{report['case']}, batch {report['batch']}, {report['what']}, {side}: "
              f"{summary['kernel_ms_per_step']:.0f} ms of operators per step "
              f"(unprofiled step {summary['step_ms']:.0f} ms)")
        print(f"{'operator type':36} {'ms/step':>9} {'share':>7} {'count':>6}")
        for row in summary["by_type"]:
            if row["ms_per_step"] >= 0.05:
                print(f"{row['op_type']:36} {row['ms_per_step']:9.1f} {100 * row['share']:6.1f}% "
                      f"{row['instances']:6d}")
        print(f"slowest {top}:")
        for row in summary["slowest"]:
            print(f"  {row['ms_per_step']:8.1f} ms  {row['op']}")
    sides = list(report["sides"])
    print(f"\n{report['case']}, {report['what']}: ms per step by group")
    print(f"{'group':28}" + "".join(f"{side:>11}" for side in sides))
    for row in report["groups"]:
        print(f"{row['group']:28}" + "".join(f"{row[side]:11.1f}" for side in sides))
    for label, key in (("all operators", "kernel_ms_per_step"), ("unprofiled step", "step_ms")):
        print(f"{label:28}" + "".join(f"{report['sides'][side][key]:11.1f}" for side in sides))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="r3d50_16x112,tsn50_3x224", help="names of bench_recognizers.CASES")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="timed and profiled steps after the warm-up")
    parser.add_argument("--threads", type=int, default=2, help="threads of both sides")
    parser.add_argument("--sides", default=",".join(SIDES), help="mindspore, pytorch or both")
    parser.add_argument("--inference", action="store_true", help="profile inference instead of training")
    parser.add_argument("--keep_bn", action="store_true",
                        help="with --inference: profile the zoo's network with its BatchNorms (not folded)")
    parser.add_argument("--top", type=int, default=10, help="slowest operators listed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, case, batch, steps, inference, threads, out_dir = args.child.split(",", 6)
        child = profile_case if side == "mindspore" else profile_torch_case
        child(case, int(batch), int(steps), inference, int(threads), out_dir)
        return
    sides = args.sides.split(",")
    if not sides or set(sides) - set(SIDES):
        parser.error(f"--sides takes {' and/or '.join(SIDES)}, not {args.sides!r}")
    inference = ("bn" if args.keep_bn else "folded") if args.inference else ""
    os.makedirs(RESULTS, exist_ok=True)
    for case in args.cases.split(","):
        if case not in CASES:
            parser.error(f"unknown case {case!r}; choose from {', '.join(CASES)}")
        summaries = {side: run(side, case, args.batch, args.steps, inference, args.threads, args.top)
                     for side in sides}
        report = {"case": case, "batch": args.batch, "steps": args.steps, "threads": args.threads,
                  "what": WHAT[inference][0], "sides": summaries, "groups": group_table(summaries)}
        stem = os.path.join(RESULTS, f"profile_{case}" + WHAT[inference][1])
        with open(stem + ".json", "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
        plot(report["groups"], f"{case}, batch {args.batch}, {report['what']}", stem + ".png")
        print_report(report, args.top)
        print(f"written {stem}.json and .png")


if __name__ == "__main__":
    main()
