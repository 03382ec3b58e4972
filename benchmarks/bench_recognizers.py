"""Recognizer speed and memory: one training step (forward, backward, SGD) and inference.

``python benchmarks/bench_recognizers.py [--cases i3d,r3d18,r3d50,tsn50] [--modes graph,pynative]
[--quick]``

Each case runs in its own process (so its peak resident memory is its own) on random input of the
model's layout, after warm-up steps (graph compilation is timed apart). Reference figures are the
PyTorch models on the same machine (2 threads, REFERENCE.md §5 and the model descriptions); the
ratio is ours / PyTorch. Prints a table and writes ``benchmarks/results/<--output>``.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")

# name -> (model kwargs, input shape per sample, PyTorch train s, PyTorch inference s at batch 1)
CASES = {
    "i3d_16x112": ({"model": "i3d"}, (3, 16, 112, 112), None, None),
    "i3d_16x224": ({"model": "i3d"}, (3, 16, 224, 224), 1.74, 0.69),
    "i3d_64x224": ({"model": "i3d"}, (3, 64, 224, 224), None, None),
    "r3d18_16x112": ({"model": "resnet3d", "model_depth": 18}, (3, 16, 112, 112), None, None),
    "r3d50_16x112": ({"model": "resnet3d", "model_depth": 50}, (3, 16, 112, 112), 0.78, 0.25),
    "tsn50_3x224": ({"model": "tsn", "model_depth": 50, "num_segments": 3}, (3, 3, 224, 224), 0.68, 0.18),
}
GROUPS = {"i3d": ["i3d_16x112", "i3d_16x224", "i3d_64x224"], "r3d18": ["r3d18_16x112"],
          "r3d50": ["r3d50_16x112"], "tsn50": ["tsn50_3x224"]}


def build_case(case: str, batch: int):
    """``(network, train step cell, input, labels)`` of one case: random input of the model's
    layout, softmax cross-entropy and SGD with momentum (the PyTorch references' set-up)."""
    import mindspore as ms
    import mindspore.nn as nn
    import numpy as np

    from src.config import load_config
    from src.models import build_model_from_config

    ms.set_seed(0)
    kwargs, shape, _, _ = CASES[case]
    net = build_model_from_config(load_config("", dict(kwargs, num_classes=101, dropout_keep_prob=1.0)))
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.standard_normal((batch,) + shape).astype(np.float32))
    y = ms.Tensor(rng.integers(0, 101, batch).astype(np.int32))
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    train = nn.TrainOneStepCell(loss_net, nn.Momentum(net.trainable_params(), 0.001, 0.9))
    train.set_train(True)
    return net, train, x, y


def measure(case: str, batch: int, mode: str, steps: int, threads: int) -> dict:
    """Run inside the child process: time train steps and inference of one case."""
    import mindspore as ms
    import numpy as np

    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    ms.set_device("CPU")
    if threads:
        ms.set_context(runtime_num_threads=threads)
    net, train, x, y = build_case(case, batch)
    start = time.perf_counter()
    train(x, y).asnumpy()
    first_train = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train(x, y).asnumpy()
        times.append(time.perf_counter() - start)
    net.set_train(False)
    start = time.perf_counter()
    net(x).asnumpy()
    first_infer = time.perf_counter() - start
    infer = []
    for _ in range(steps):
        start = time.perf_counter()
        net(x).asnumpy()
        infer.append(time.perf_counter() - start)
    train_s, infer_s = float(np.median(times)), float(np.median(infer))
    return {"case": case, "batch": batch, "mode": mode, "train_step_s": round(train_s, 4),
            "first_train_step_s": round(first_train, 2), "inference_s": round(infer_s, 4),
            "first_inference_s": round(first_infer, 2), "inference_clips_per_s": round(batch / infer_s, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)}


def run_case(case: str, batch: int, mode: str, steps: int, threads: int = 0) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--child", f"{case},{batch},{mode},{steps},{threads}"]
    env = dict(os.environ, PYTHONPATH=ROOT, GLOG_v="3")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"case": case, "batch": batch, "mode": mode, "error": done.stderr.strip().splitlines()[-1]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    _, _, torch_train, torch_infer = CASES[case]
    if torch_train and batch == 1:
        result["pytorch_train_s"], result["pytorch_inference_s"] = torch_train, torch_infer
        result["train_ratio"] = round(result["train_step_s"] / torch_train, 2)
        result["inference_ratio"] = round(result["inference_s"] / torch_infer, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="i3d,r3d18,r3d50,tsn50", help="groups: " + ",".join(GROUPS))
    parser.add_argument("--modes", default="graph,pynative", help="graph and/or pynative")
    parser.add_argument("--batches", default="1,2")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up step")
    parser.add_argument("--threads", type=int, default=0,
                        help="MindSpore runtime threads (runtime_num_threads; 0 = MindSpore's default)")
    parser.add_argument("--quick", action="store_true", help="skip the 64-frame I3D case and PyNative")
    parser.add_argument("--output", default="recognizers.json", help="file name in benchmarks/results/")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, batch, mode, steps, threads = args.child.split(",")
        print(json.dumps(measure(case, int(batch), mode, int(steps), int(threads))))
        return
    cases = [c for group in args.cases.split(",") for c in GROUPS[group]]
    modes = ["graph"] if args.quick else args.modes.split(",")
    if args.quick:
        cases = [c for c in cases if c != "i3d_64x224"]
    rows = []
    header = f"{'case':14} {'batch':>5} {'mode':>8} {'train s':>8} {'torch':>6} {'ratio':>6} {'infer s':>8} " \
             f"{'clips/s':>8} {'ratio':>6} {'compile s':>9} {'peak GiB':>8}"
    print(header)
    for case in cases:
        for batch in (int(b) for b in args.batches.split(",")):
            for mode in modes:
                row = run_case(case, batch, mode, args.steps, args.threads)
                rows.append(row)
                if "error" in row:
                    print(f"{case:14} {batch:>5} {mode:>8} error: {row['error']}")
                    continue
                print(f"{case:14} {batch:>5} {mode:>8} {row['train_step_s']:8.3f} {row.get('pytorch_train_s', ''):>6} "
                      f"{row.get('train_ratio', ''):>6} {row['inference_s']:8.3f} {row['inference_clips_per_s']:8.2f} "
                      f"{row.get('inference_ratio', ''):>6} {row['first_train_step_s']:9.1f} {row['peak_rss_gib']:8.2f}",
                      flush=True)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, args.output), "w", encoding="utf-8") as handle:
        json.dump({"machine": f"{os.cpu_count()} cores", "rows": rows}, handle, indent=1)
    print(f"written {os.path.join(RESULTS, args.output)}")


if __name__ == "__main__":
    main()
