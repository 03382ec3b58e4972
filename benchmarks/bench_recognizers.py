"""Recognizer speed side by side with PyTorch: a training step and inference, timed in the same run.

``python benchmarks/bench_recognizers.py [--cases i3d_16x224,r3d50_16x112,tsn50_3x224] [--batches 1]
[--rounds 5] [--steps 2] [--threads 2] [--no_onnxruntime] [--output recognizers.json]``

For every case and batch size three worker processes build the same network on the same input:
the zoo's network (MindSpore, graph mode), its PyTorch twin (``benchmarks/torch_models.py``, the
public architecture) and, for inference only, the zoo's network exported to ONNX and run by ONNX
Runtime (the zoo's ``onnxruntime`` backend, :mod:`src.infer.backends`). Each compiles and warms
up, then the parent alternates them — A B C A B C ... for ``--rounds`` rounds — and each turn
times ``--steps`` training steps (forward, softmax cross-entropy, backward, SGD-momentum update;
MindSpore and PyTorch) and ``--steps`` inference passes, so every side sees the same machine
state. All run with ``--threads`` threads (ONNX Runtime: intra-op threads). Each side infers the
way its toolbox does by default: the zoo with BatchNorm folded into the convolutions (what eval.py
and export.py run), PyTorch in eval mode under ``no_grad``, ONNX Runtime the folded network
exported by ``src.infer.export.export_network`` (as the backend exports it; the export runs in a
process of its own before the workers start, so ONNX Runtime's worker holds no MindSpore).

Reported per case and batch: the median step time of each side, the ratio of the medians (zoo /
PyTorch: below 1 means faster than PyTorch) and the ratio of every round (its spread shows the
machine's drift), the achieved GFLOP/s (FLOPs of one step counted on the PyTorch twin's definition
with ``torch.utils.flop_counter``; the networks compute the same thing) and, measured in the same
run with the same threads, the machine's float32 matmul ceiling. For ONNX Runtime: its median, its
ratios to PyTorch and to MindSpore (of the medians and per round) beside the inference target
(ONNX Runtime <= 0.6x PyTorch), and the largest difference of its outputs from MindSpore's on the
same input, relative to the largest MindSpore output. Prints a table and writes
``benchmarks/results/<--output>``.
"""
import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
sys.path.insert(0, ROOT)
NUM_CLASSES = 101
REPLY = "@@ "  # marks the workers' protocol lines among whatever else the libraries print
ORT_TARGET = 0.6  # inference on ONNX Runtime: at most this share of PyTorch's time
SIDES = ("mindspore", "pytorch", "onnxruntime")

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
        return inference_net(x).asnumpy()
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
            return model(x).numpy()
    return train_step, infer_step


def export_case(case: str, batch: int, threads: int, path: str) -> float:
    """Export the zoo's inference network of ``case`` (BatchNorm folded) for a batch of ``batch`` to
    the ONNX file ``path`` as the onnxruntime backend does; returns export_network's check: the max
    abs difference of the file's outputs from the network's on a random input."""
    import mindspore as ms

    from src.infer.export import export_network

    ms.set_context(mode=ms.GRAPH_MODE, runtime_num_threads=threads)
    ms.set_device("CPU")
    _, difference = export_network(build_inference_network(case), (batch,) + CASES[case][1], path, "ONNX", "CPU")
    return difference


def onnxruntime_steps(case: str, batch: int, threads: int, path: str):
    """``(None, inference step)``: the ONNX file ``path`` of ``case`` (:func:`export_case`) run by ONNX
    Runtime on ``threads`` intra-op threads, sequentially (one operator at a time), as the backend
    runs it. ONNX Runtime does not train."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: case_input(case, batch)[0]}

    def infer_step():
        return session.run(None, feed)[0]
    return None, infer_step


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


def worker(side: str, case: str, batch: int, threads: int, onnx_path: str = "") -> None:
    """A worker process: build, compile and warm up, then answer ``train N`` / ``infer N`` with
    the N step times, ``output`` with the inference output (nested lists), ``quit`` with the peak
    resident memory. The onnxruntime side runs ``onnx_path`` and answers no ``train``."""
    if side == "onnxruntime":
        steps = onnxruntime_steps(case, batch, threads, onnx_path)
    else:
        steps = (mindspore_steps if side == "mindspore" else torch_steps)(case, batch, threads)
    runs = {kind: step for kind, step in zip(("train", "infer"), steps) if step is not None}
    started = time.perf_counter()
    for step in runs.values():
        step()
    warmup = time.perf_counter() - started
    _reply({"ready": True, "warmup_s": round(warmup, 2)})
    for line in sys.stdin:
        command, *count = line.split()
        if command == "quit":
            break
        if command == "output":
            _reply({"output": np.asarray(runs["infer"]()).tolist()})
            continue
        _reply({"times": time_steps(runs[command], int(count[0]))})
    _reply({"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)})


def _worker_env(threads: int) -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, GLOG_v="3", OMP_NUM_THREADS=str(threads))


def export_in_process(case: str, batch: int, threads: int, path: str) -> float:
    """:func:`export_case` in a process of its own (the workers then start with nothing of it in
    memory); returns its check's max abs difference."""
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--export", f"{case},{batch},{threads},{path}"],
                          cwd=ROOT, env=_worker_env(threads), capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(REPLY):
            return json.loads(line[len(REPLY):])["export_difference"]
    raise RuntimeError(f"exporting {case} (batch {batch}) to ONNX failed: {done.stderr.strip()[-2000:]}")


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, side: str, case: str, batch: int, threads: int, onnx_path: str = ""):
        self.side = side
        spec = f"{side},{case},{batch},{threads}" + (f",{onnx_path}" if onnx_path else "")
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", spec], cwd=ROOT, env=_worker_env(threads),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

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


def _ratios(per_round: dict, kind: str, side: str, reference: str) -> dict:
    """Ratio of the medians of ``side`` to ``reference`` and the ratio of each round's medians."""
    mine, theirs = per_round[(side, kind)], per_round[(reference, kind)]
    ratio = float(np.median(np.concatenate(mine)) / np.median(np.concatenate(theirs)))
    return {"ratio_of_medians": ratio,
            "round_ratios": [float(np.median(a) / np.median(b)) for a, b in zip(mine, theirs)]}


def relative_difference(reference: np.ndarray, other: np.ndarray) -> float:
    """Largest absolute difference of ``other`` from ``reference``, relative to ``reference``'s largest
    magnitude."""
    return float(np.abs(other - reference).max() / max(float(np.abs(reference).max()), 1e-30))


def compare(case: str, batch: int, rounds: int, steps: int, threads: int, onnxruntime: bool = True) -> dict:
    """Alternate the sides of ``case`` and summarise (see the module docstring)."""
    export = {}
    with tempfile.TemporaryDirectory(prefix="bench_onnx_") as folder:
        onnx_path = os.path.join(folder, f"{case}-{batch}.onnx")
        if onnxruntime:
            started = time.perf_counter()
            export["difference"] = export_in_process(case, batch, threads, onnx_path)
            export["seconds"] = round(time.perf_counter() - started, 2)
        workers = [Worker("mindspore", case, batch, threads), Worker("pytorch", case, batch, threads)]
        if onnxruntime:
            workers.append(Worker("onnxruntime", case, batch, threads, onnx_path))
        try:
            warmups = {w.side: w.read()["warmup_s"] for w in workers}
            per_round = {(w.side, kind): [] for w in workers for kind in ("train", "infer")}
            for _ in range(rounds):
                for kind in ("train", "infer"):
                    for w in workers:
                        if kind == "infer" or w.side != "onnxruntime":
                            per_round[(w.side, kind)].append(w.ask(f"{kind} {steps}")["times"])
            outputs = {w.side: np.asarray(w.ask("output")["output"], np.float32) for w in workers
                       if w.side != "pytorch"}
            memory = {w.side: w.close()["peak_rss_gib"] for w in workers}
        finally:
            for w in workers:
                w.process.kill()
    flops = count_flops(case, batch)
    result = {"case": case, "batch": batch, "rounds": rounds, "steps_per_round": steps, "threads": threads,
              "warmup_s": warmups, "peak_rss_gib": memory}
    for kind, flop_key in (("train", "train"), ("infer", "inference")):
        sides = [side for side in SIDES if per_round.get((side, kind))]
        medians = {side: float(np.median(np.concatenate(per_round[(side, kind)]))) for side in sides}
        result[kind] = dict(_ratios(per_round, kind, "mindspore", "pytorch"), median_s=medians,
                            gflop=flops[flop_key] / 1e9,
                            gflops_per_s={side: flops[flop_key] / 1e9 / t for side, t in medians.items()})
    if onnxruntime:
        to_pytorch = _ratios(per_round, "infer", "onnxruntime", "pytorch")
        to_mindspore = _ratios(per_round, "infer", "onnxruntime", "mindspore")
        result["onnxruntime"] = {
            "median_s": result["infer"]["median_s"]["onnxruntime"],
            "ratio_to_pytorch": to_pytorch["ratio_of_medians"], "round_ratios_to_pytorch": to_pytorch["round_ratios"],
            "ratio_to_mindspore": to_mindspore["ratio_of_medians"],
            "round_ratios_to_mindspore": to_mindspore["round_ratios"],
            "target_ratio_to_pytorch": ORT_TARGET, "meets_target": to_pytorch["ratio_of_medians"] <= ORT_TARGET,
            "max_relative_difference_to_mindspore": relative_difference(outputs["mindspore"], outputs["onnxruntime"]),
            "export_check_max_abs_difference": export["difference"], "export_s": export["seconds"]}
    return result


HEADER = (f"{'case':14} {'batch':>5} {'kind':>9} {'zoo s':>9} {'torch s':>9} {'ratio':>6} {'rounds':>11} "
          f"{'GFLOP':>7} {'zoo GF/s':>8} {'torch GF/s':>8}  {'target':>8}  {'ORT/MS':>6} {'rounds':>11} {'rel diff':>8}")


def format_row(row: dict, kind: str) -> str:
    """One line of the table: ``train`` or ``infer`` (MindSpore against PyTorch), or ``infer-ort``
    (ONNX Runtime in the zoo's columns, with the target and its ratio to MindSpore after them)."""
    part = row["infer" if kind == "infer-ort" else kind]
    side, ratio, ratios, extra = "mindspore", part["ratio_of_medians"], part["round_ratios"], ""
    if kind == "infer-ort":
        ort = row["onnxruntime"]
        side, ratio, ratios = "onnxruntime", ort["ratio_to_pytorch"], ort["round_ratios_to_pytorch"]
        to_ms = ort["round_ratios_to_mindspore"]
        verdict = "met" if ort["meets_target"] else "MISSED"
        extra = (f"  <={ort['target_ratio_to_pytorch']:.2f} {verdict:>6}  {ort['ratio_to_mindspore']:6.2f} "
                 f"{min(to_ms):5.2f}-{max(to_ms):<5.2f} {ort['max_relative_difference_to_mindspore']:8.1e}")
    return (f"{row['case']:14} {row['batch']:>5} {kind:>9} {part['median_s'][side]:9.3f} "
            f"{part['median_s']['pytorch']:9.3f} {ratio:6.2f} "
            f"{min(ratios):5.2f}-{max(ratios):<5.2f} {part['gflop']:7.1f} "
            f"{part['gflops_per_s'][side]:7.1f} {part['gflops_per_s']['pytorch']:7.1f}{extra}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--batches", default="1", help="comma-separated batch sizes")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the sides")
    parser.add_argument("--steps", type=int, default=2, help="timed steps of each kind per turn")
    parser.add_argument("--threads", type=int, default=2, help="threads of every side (ONNX Runtime: intra-op)")
    parser.add_argument("--no_onnxruntime", action="store_true",
                        help="leave out the ONNX Runtime side (MindSpore and PyTorch only)")
    parser.add_argument("--output", default="recognizers.json", help="file name in benchmarks/results/")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        side, case, batch, threads, *onnx_path = args.worker.split(",", 4)
        worker(side, case, int(batch), int(threads), *onnx_path)
        return 0
    if args.export:
        case, batch, threads, path = args.export.split(",", 3)
        _reply({"export_difference": export_case(case, int(batch), int(threads), path)})
        return 0
    unknown = [case for case in args.cases.split(",") if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    onnxruntime = not args.no_onnxruntime
    if onnxruntime and importlib.util.find_spec("onnxruntime") is None:
        parser.error("onnxruntime is not installed (pip install onnxruntime), or pass --no_onnxruntime")
    ceiling_before = matmul_ceiling(args.threads)
    print(f"float32 matmul ceiling ({args.threads} threads): {ceiling_before:.1f} GFLOP/s")
    print("ratio: zoo / PyTorch (infer-ort: ONNX Runtime / PyTorch), medians; rounds: per-round ratios; "
          "ORT/MS: ONNX Runtime / MindSpore; rel diff: ONNX Runtime's outputs against MindSpore's")
    print(HEADER)
    rows = []
    for case in args.cases.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            row = compare(case, batch, args.rounds, args.steps, args.threads, onnxruntime)
            rows.append(row)
            for kind in ("train", "infer") + (("infer-ort",) if onnxruntime else ()):
                print(format_row(row, kind), flush=True)
    ceiling_after = matmul_ceiling(args.threads)
    print(f"float32 matmul ceiling after the cases: {ceiling_after:.1f} GFLOP/s")
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, args.output)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"machine": f"{os.cpu_count()} cores", "matmul_ceiling_gflops": [ceiling_before, ceiling_after],
                   "onnxruntime_target_ratio_to_pytorch": ORT_TARGET if onnxruntime else None, "rows": rows},
                  handle, indent=1)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
