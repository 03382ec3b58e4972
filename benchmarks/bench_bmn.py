"""BMN speed: train step, inference, post-processing, metric, and the memory of a batch-16 step.

``python benchmarks/bench_bmn.py [--steps 5] [--memory_batch 16]`` prints a table and writes
``benchmarks/results/bmn.json``. Times are medians over ``--steps`` runs after warm-up, wall clock
and process CPU time (the machine may be shared: CPU time is the steadier figure). Targets (2-core
CPU, T = 100, feat_dim 400): train step at batch 2 <= 1.7 s (public PyTorch BMN: 8.6 s), inference
<= 0.4 s per video (PyTorch: 2.15 s), batch-16 training within 16 GiB.
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
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, "benchmarks", "results", "bmn.json")
TSCALE, FEAT_DIM = 100, 400


def timed(function, steps: int, warmup: int = 2):
    """Median (wall seconds, CPU seconds) of ``function()`` over ``steps`` runs after ``warmup``."""
    for _ in range(warmup):
        function()
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def synthetic_batch(batch: int, rng: np.random.Generator):
    from mindspore import Tensor

    from src.data.bmn_data import bmn_targets
    features = rng.normal(size=(batch, FEAT_DIM, TSCALE)).astype(np.float32)
    targets = [bmn_targets(np.sort(rng.uniform(0, 1, (2, 2)), axis=1), TSCALE) for _ in range(batch)]
    columns = [np.stack([t[i] for t in targets]) for i in range(3)]
    return [Tensor(features)] + [Tensor(column) for column in columns]


def bench_network(batches, steps: int) -> dict:
    import mindspore as ms
    from mindspore import nn

    from src.losses.bmn_loss import BMNWithLoss
    from src.models.bmn import BMN

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    rng = np.random.default_rng(0)
    results = {}
    for batch in batches:
        net = BMN(TSCALE, FEAT_DIM)
        step = nn.TrainOneStepCell(BMNWithLoss(net), nn.Adam(net.trainable_params(), learning_rate=1e-3,
                                                            weight_decay=1e-4))
        step.set_train(True)
        data = synthetic_batch(batch, rng)
        wall, cpu = timed(lambda: step(*data).asnumpy(), steps)
        results[f"train_step_batch{batch}"] = {"wall_s": wall, "cpu_s": cpu}
    net = BMN(TSCALE, FEAT_DIM)
    net.set_train(False)
    single = synthetic_batch(1, rng)[0]
    wall, cpu = timed(lambda: net(single)[0].asnumpy(), steps)
    results["inference_batch1"] = {"wall_ms_per_video": 1000 * wall, "cpu_ms_per_video": 1000 * cpu}
    four = synthetic_batch(4, rng)[0]
    wall, cpu = timed(lambda: net(four)[0].asnumpy(), steps)
    results["inference_batch4"] = {"wall_ms_per_video": 250 * wall, "cpu_ms_per_video": 250 * cpu}
    return results


def bench_postprocess(num_videos: int = 200) -> dict:
    from src.proposals.bmn_proposals import SoftNMSParams, proposals_of_videos

    rng = np.random.default_rng(0)
    steps = np.arange(TSCALE)
    outputs = []
    for index in range(num_videos):  # smooth score curves with several peaks, like a trained network's
        peaks = rng.uniform(0, TSCALE, 4)
        start = 0.05 + 0.9 * np.exp(-((steps[:, None] - peaks[None, :2]) ** 2) / 8).max(axis=1)
        end = 0.05 + 0.9 * np.exp(-((steps[:, None] - peaks[None, 2:]) ** 2) / 8).max(axis=1)
        outputs.append((f"video{index}", 120.0, start, end, rng.uniform(0, 1, (2, TSCALE, TSCALE))))
    results = {}
    for workers in (1, 2):
        began = time.perf_counter()
        proposals_of_videos(outputs, SoftNMSParams(), num_workers=workers)
        results[f"postprocess_workers{workers}"] = {"ms_per_video": 1000 * (time.perf_counter() - began) / num_videos}
    return results


def bench_metric(num_videos: int = 5000, per_video: int = 100) -> dict:
    from src.metrics.proposal_metrics import proposal_metrics

    rng = np.random.default_rng(0)
    ground_truth, proposals = {}, {}
    for index in range(num_videos):
        duration = rng.uniform(30, 200)
        starts = rng.uniform(0, duration * 0.7, rng.integers(1, 4))
        ground_truth[f"v{index}"] = [[s, min(duration, s + rng.uniform(2, duration * 0.4))] for s in starts]
        begin = rng.uniform(0, duration * 0.8, per_video)
        end = np.minimum(duration, begin + rng.uniform(1, duration * 0.5, per_video))
        proposals[f"v{index}"] = [{"segment": [float(b), float(e)], "score": float(s)}
                                  for b, e, s in zip(begin, end, rng.uniform(0, 1, per_video))]
    began = time.perf_counter()
    metrics = proposal_metrics(ground_truth, proposals)
    return {"metric_5000x100": {"seconds": time.perf_counter() - began, "AUC_random": metrics["AUC"]}}


def memory_probe(batch: int) -> None:
    """Child process: two training steps at ``batch``; prints the peak resident memory (GiB)."""
    import mindspore as ms
    from mindspore import nn

    from src.losses.bmn_loss import BMNWithLoss
    from src.models.bmn import BMN

    ms.set_context(mode=ms.GRAPH_MODE)
    net = BMN(TSCALE, FEAT_DIM)
    step = nn.TrainOneStepCell(BMNWithLoss(net), nn.Adam(net.trainable_params(), learning_rate=1e-3))
    data = synthetic_batch(batch, np.random.default_rng(0))
    began = time.perf_counter()
    for _ in range(2):
        step(*data).asnumpy()
    seconds = (time.perf_counter() - began) / 2
    print(json.dumps({"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
                      "step_s": seconds}))


def bench_memory(batch: int) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--memory_probe", str(batch)], capture_output=True,
                               text=True, check=True, cwd=ROOT)
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    return {f"train_batch{batch}_memory": probe}


def report(results: dict, path: str, decimals: int) -> None:
    """Print ``results`` (figure -> value or {key: value}) as a table and write them as JSON to ``path``."""
    print(f"{'figure':34s} {'value':>30s}")
    for name, values in results.items():
        if isinstance(values, dict):
            text = ", ".join(f"{key} {value:.{decimals}f}" for key, value in values.items())
        else:
            text = f"{values:.2f}"
        print(f"{name:34s} {text:>30s}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed runs per figure (after 2 warm-up runs)")
    parser.add_argument("--batches", default="1,2,4", help="training batch sizes to time")
    parser.add_argument("--memory_batch", type=int, default=16, help="batch of the memory probe (0 = skip)")
    parser.add_argument("--memory_probe", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return
    results = bench_network([int(b) for b in args.batches.split(",")], args.steps)
    results.update(bench_postprocess())
    results.update(bench_metric())
    if args.memory_batch:
        results.update(bench_memory(args.memory_batch))
    results["load_average_1min"] = os.getloadavg()[0]

    report(results, RESULTS, decimals=3)

if __name__ == "__main__":
    main()
