"""Recognizer speed side by side with PyTorch: a training step and inference, timed in the same run.

``python benchmarks/bench_recognizers.py [--cases i3d_16x224,r3d50_16x112,tsn50_3x224] [--batches 1]
[--rounds 5] [--steps 2] [--threads 2] [--output recognizers.json]``

For every case two worker processes build the same network on the same input: the zoo's network
(MindSpore, graph mode) and its PyTorch twin (``benchmarks/torch_models.py``, the public
architecture). Each compiles and warms up, then the parent alternates them — A B A B ... for
``--rounds`` rounds — and each turn times ``--steps`` training steps (forward, softmax
cross-entropy, backward, SGD-momentum update) and ``--steps`` inference passes, so both sides see
the same machine state. Both run with ``--threads`` threads. Each side infers the way its toolbox
does by default: the zoo with BatchNorm folded into the convolutions (what eval.py and export.py
run), PyTorch in eval mode under ``no_grad``.

Reported per case: the median step time of each side, the ratio of the medians (zoo / PyTorch:
below 1 means faster than PyTorch) and the ratio of every round (its spread shows the machine's
drift), the achieved GFLOP/s (FLOPs of one step counted on the PyTorch twin's definition with
``torch.utils.flop_counter``; the two networks compute the same thing) and, measured in the same
run with the same threads, the machine's float32 matmul ceiling. Prints a table and writes
``benchmarks/results/<--output>``.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
sys.path.insert(0, ROOT)
NUM_CLASSES = 101
REPLY = "@@ "  # marks the workers' protocol lines among whatever else the libraries print

# name -> (zoo configuration, input shape of one sample, PyTorch twin (class name, kwargs))
CASES = {
    "i3d_16x112": ({"model": "i3d"}, (3, 16, 112, 112), ("TorchI3D", {})),
    "i3d_16x224": ({"model": "i3d"}, (3, 16, 224, 224), ("TorchI3D", {})),
    "i3d_64x224": ({"model": "i3d"}, (3, 64, 224, 224), ("TorchI3D", {})),
    "r3d18_16x112": ({"model": "resnet3d", "model_depth": 18}, (3, 16, 112, 112), ("TorchResNet3d", {"depth": 18})),
    "r3d50_16x112": ({"model": "resnet3d", "model_depth": 50}, (3, 16, 112, 112), ("TorchResNet3d", {"depth": 50})),
    "tsn50_3x224": ({"model": "tsn", "model_depth": 50, "num_segments": 3}, (3, 3, 224, 224), ("TorchTSN", {})),
}
DEFAULT_CASES = "i3d_16x224,r3d50_16x112,tsn50_3x224"


def case_input(case: str, batch: int):
    """The same random clips and labels for both sides."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + CASES[case][1]).astype(np.float32)
    return x, rng.integers(0, NUM_CLASSES, batch)


def _zoo_network(case: str):
    import mindspore as ms

    from src.config import load_config
    from src.models import build_model_from_config

    ms.set_seed(0)
    return build_model_from_config(load_config("", dict(CASES[case][0], num_classes=NUM_CLASSES,
                                                        dropout_keep_prob=1.0)))


def build_inference_network(case: str, fold_bn: bool = True):
    """The zoo's network of ``case`` in eval mode as its inference runs it (eval.py, export.py):
    BatchNorm folded into the convolutions (``src.models.fusion``) unless ``fold_bn`` is False."""
    from src.models.fusion import fold_batchnorms

    net = _zoo_network(case)
    net.set_train(False)
    if fold_bn:
        fold_batchnorms(net)
    return net


def build_case(case: str, batch: int):
    """``(network, train step cell, input, labels)`` of the zoo's side of ``case``: softmax
    cross-entropy and SGD with momentum."""
    import mindspore as ms
    import mindspore.nn as nn

    net = _zoo_network(case)
    x, y = case_input(case, batch)
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    train = nn.TrainOneStepCell(loss_net, nn.Momentum(net.trainable_params(), 0.001, 0.9))
    train.set_train(True)
    return net, train, ms.Tensor(x), ms.Tensor(y.astype(np.int32))


def mindspore_steps(case: str, batch: int, threads: int, fold_bn: bool = True):
    """``(train step, inference step)`` of the zoo's side of ``case`` in graph mode on ``threads``
    threads; inference with BatchNorm folded unless ``fold_bn`` is False."""
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, runtime_num_threads=threads)
    ms.set_device("CPU")
    _, train, x, y = build_case(case, batch)
    inference_net = build_inference_network(case, fold_bn)

    def train_step():
        train(x, y).asnumpy()

    def infer_step():
        inference_net(x).asnumpy()
    return train_step, infer_step


def torch_steps(case: str, batch: int, threads: int):
    """``(train step, inference step)`` of the PyTorch twin of ``case`` on ``threads`` threads."""
    import torch

    from benchmarks import torch_models

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    class_name, kwargs = CASES[case][2]
    model = getattr(torch_models, class_name)(num_classes=NUM_CLASSES, **kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    x, y = case_input(case, batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def train_step():
        model.train()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    def infer_step():
        model.eval()
        with torch.no_grad():
            model(x)
    return train_step, infer_step


def count_flops(case: str, batch: int) -> dict:
    """FLOPs of one training step and one inference pass, counted on the PyTorch twin."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks import torch_models

    class_name, kwargs = CASES[case][2]
    model = getattr(torch_models, class_name)(num_classes=NUM_CLASSES, **kwargs)
    x, y = case_input(case, batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    train = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()
        model(x)
    return {"train": int(train), "inference": int(counter.get_total_flops())}


def matmul_ceiling(threads: int, size: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of a float32 ``size`` x ``size`` matmul (PyTorch's BLAS), the median of ``repeats``."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2.0 * size ** 3 / float(np.median(times)) / 1e9


def time_steps(step, count: int) -> list:
    """Seconds of each of ``count`` calls of ``step``."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _reply(payload) -> None:
    print(REPLY + json.dumps(payload), flush=True)


def worker(side: str, case: str, batch: int, threads: int) -> None:
    """A worker process: build, compile and warm up, then answer ``train N`` / ``infer N`` with
    the N step times, ``quit`` with the peak resident memory."""
    steps = (mindspore_steps if side == "mindspore" else torch_steps)(case, batch, threads)
    started = time.perf_counter()
    for step in steps:
        step()
    warmup = time.perf_counter() - started
    _reply({"ready": True, "warmup_s": round(warmup, 2)})
    runs = dict(zip(("train", "infer"), steps))
    for line in sys.stdin:
        command, *count = line.split()
        if command == "quit":
            break
        _reply({"times": time_steps(runs[command], int(count[0]))})
    _reply({"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)})


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, side: str, case: str, batch: int, threads: int):
        env = dict(os.environ, PYTHONPATH=ROOT, GLOG_v="3", OMP_NUM_THREADS=str(threads))
        self.side = side
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", f"{side},{case},{batch},{threads}"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        raise RuntimeError(f"the {self.side} worker stopped: {self.process.stderr.read().strip()[-2000:]}")

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> dict:
        reply = self.ask("quit")
        self.process.wait()
        return reply


def compare(case: str, batch: int, rounds: int, steps: int, threads: int) -> dict:
    """Alternate the two sides of ``case`` and summarise (see the module docstring)."""
    workers = [Worker("mindspore", case, batch, threads), Worker("pytorch", case, batch, threads)]
    try:
        warmups = {w.side: w.read()["warmup_s"] for w in workers}
        per_round = {(w.side, kind): [] for w in workers for kind in ("train", "infer")}
        for _ in range(rounds):
            for kind in ("train", "infer"):
                for w in workers:
                    per_round[(w.side, kind)].append(w.ask(f"{kind} {steps}")["times"])
        memory = {w.side: w.close()["peak_rss_gib"] for w in workers}
    finally:
        for w in workers:
            w.process.kill()
    flops = count_flops(case, batch)
    result = {"case": case, "batch": batch, "rounds": rounds, "steps_per_round": steps, "threads": threads,
              "warmup_s": warmups, "peak_rss_gib": memory}
    for kind, flop_key in (("train", "train"), ("infer", "inference")):
        medians = {side: float(np.median(np.concatenate(per_round[(side, kind)]))) for side in ("mindspore", "pytorch")}
        round_ratios = [float(np.median(a) / np.median(b))
                        for a, b in zip(per_round[("mindspore", kind)], per_round[("pytorch", kind)])]
        result[kind] = {"median_s": medians, "ratio_of_medians": medians["mindspore"] / medians["pytorch"],
                        "round_ratios": round_ratios, "gflop": flops[flop_key] / 1e9,
                        "gflops_per_s": {side: flops[flop_key] / 1e9 / t for side, t in medians.items()}}
    return result


def format_row(row: dict, kind: str) -> str:
    part = row[kind]
    ratios = part["round_ratios"]
    return (f"{row['case']:14} {row['batch']:>5} {kind:>6} {part['median_s']['mindspore']:9.3f} "
            f"{part['median_s']['pytorch']:9.3f} {part['ratio_of_medians']:6.2f} "
            f"{min(ratios):5.2f}-{max(ratios):<5.2f} {part['gflop']:7.1f} "
            f"{part['gflops_per_s']['mindspore']:7.1f} {part['gflops_per_s']['pytorch']:7.1f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--batches", default="1", help="comma-separated batch sizes")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two sides")
    parser.add_argument("--steps", type=int, default=2, help="timed steps of each kind per turn")
    parser.add_argument("--threads", type=int, default=2, help="threads of both sides")
    parser.add_argument("--output", default="recognizers.json", help="file name in benchmarks/results/")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        side, case, batch, threads = args.worker.split(",")
        worker(side, case, int(batch), int(threads))
        return 0
    unknown = [case for case in args.cases.split(",") if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    ceiling_before = matmul_ceiling(args.threads)
    print(f"float32 matmul ceiling ({args.threads} threads): {ceiling_before:.1f} GFLOP/s")
    print(f"{'case':14} {'batch':>5} {'kind':>6} {'zoo s':>9} {'torch s':>9} {'ratio':>6} {'rounds':>11} "
          f"{'GFLOP':>7} {'zoo GF/s':>8} {'torch GF/s':>8}")
    rows = []
    for case in args.cases.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            row = compare(case, batch, args.rounds, args.steps, args.threads)
            rows.append(row)
            for kind in ("train", "infer"):
                print(format_row(row, kind), flush=True)
    ceiling_after = matmul_ceiling(args.threads)
    print(f"float32 matmul ceiling after the cases: {ceiling_after:.1f} GFLOP/s")
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, args.output)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"machine": f"{os.cpu_count()} cores", "matmul_ceiling_gflops": [ceiling_before, ceiling_after],
                   "rows": rows}, handle, indent=1)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
