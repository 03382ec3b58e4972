"""Speed of the proposal pipeline: snippet features, BMN inference and post-processing per video in
both boundary-matching conventions, and the long-video command per minute of video.

``python benchmarks/bench_bmn_pipeline.py [--steps 3] [--sizes 112,224] [--parts features,bmn,long]
[--long_seconds 120] [--backends mindspore,onnxruntime] [--threads 2]`` prints tables and writes
``benchmarks/results/bmn_pipeline.json``. Times are medians over ``--steps`` runs after warm-up.

* feature extraction: I3D ``forward_features`` on batches of 8 snippets of 16 frames, RGB (3
  channels) and flow (2 channels), at each of ``--sizes`` (snippets per second; decoding and
  optical flow are measured by benchmarks/bench_flow.py);
* BMN (T = 100, feat_dim 400): inference per video, batch 1, and post-processing per video
  (candidates + Soft-NMS), for ``duration_start`` and ``start_end``;
* the long-video command (``src.applications.proposals.run_proposals``: decode, DIS flow, R3D-10
  flow features of 16-frame snippets every 8 frames, BMN at T = 48, proposals, timeline PNG) on one
  generated ``--long_seconds`` video of the BMN demo (128x171, 25 fps), untrained weights
  (``configs/bmn/demo_recognizer.yaml``, ``configs/bmn/demo.yaml``), on each of ``--backends``
  (``--threads`` threads): seconds per minute of video, split into stages — decode
  (``decode_video``), flow (``frames_flow``), features (``SnippetStream.features``: crops and the
  recognizer), BMN (the network), post-processing (``video_proposals``: candidates + Soft-NMS) and
  the rest (building the networks, feature files, timeline, proposals file) — by wrapping those
  functions during the run. The command runs twice per backend in one process: the first run builds
  and compiles (MindSpore) or exports (ONNX Runtime, into ``onnx_cache/`` beside the checkpoints) the
  networks, the second reuses the built recognizer as a process extracting many videos does.
  From the second run: snippet features per second per core (decode + flow + features), proposals
  per second per core (videos through BMN + post-processing) and the time of ActivityNet-1.3
  (20,000 videos of 2 minutes on average) extrapolated from them, in core-hours and in hours on this
  machine's cores (shards of ``python -m src.tools.data.extract_features --shard I/N`` fill them):
  feature stages scaled by the video length, BMN, post-processing and timeline per video; set-up is
  not counted. A quick check: ``--parts long --long_seconds 4 --backends onnxruntime --threads 1``.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_bmn import report, timed  # noqa: E402
from benchmarks.bench_predict import Patched, StageTimer  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results", "bmn_pipeline.json")
SNIPPET, BATCH = 16, 8
LONG_INTERVAL = 8  # frames between snippet starts in the long-video command
ACTIVITYNET_VIDEOS, ACTIVITYNET_VIDEO_SECONDS = 20000, 120.0


def bench_features(sizes, steps: int) -> dict:
    import mindspore as ms
    from mindspore import Tensor

    from src.models import create_model
    from src.models.features import Features

    ms.set_context(mode=ms.GRAPH_MODE)
    results = {}
    for modality, channels in (("rgb", 3), ("flow", 2)):
        net = Features(create_model("i3d", num_classes=101, in_channels=channels))
        net.set_train(False)
        for size in sizes:
            clips = Tensor(np.random.default_rng(0).normal(size=(BATCH, channels, SNIPPET, size, size))
                           .astype(np.float32))
            wall, _ = timed(lambda: net(clips).asnumpy(), steps, warmup=1)
            results[f"i3d_features_{modality}_{size}"] = {"snippets_per_s": BATCH / wall}
    return results


def bench_bmn(steps: int) -> dict:
    import mindspore as ms
    from mindspore import Tensor

    from src.models.bmn import BMN
    from src.proposals.bmn_proposals import SoftNMSParams, video_proposals

    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    features = Tensor(rng.normal(size=(1, 400, 100)).astype(np.float32))
    results = {}
    for layout in ("duration_start", "start_end"):
        net = BMN(100, 400, bm_layout=layout)
        net.set_train(False)
        wall, _ = timed(lambda: net(features)[0].asnumpy(), steps)
        confidence, start, end = (output.asnumpy()[0] for output in net(features))
        began = time.perf_counter()
        for _ in range(steps):
            video_proposals(start, end, confidence, 120.0, SoftNMSParams(), layout)
        results[f"bmn_{layout}"] = {"inference_ms_per_video": 1000 * wall,
                                    "postprocess_ms_per_video": 1000 * (time.perf_counter() - began) / steps}
    return results


LONG_STAGES = ("decode", "flow", "features", "bmn", "postprocess")


class LongVideoStages(Patched):
    """While active, times the long-video command's stages by wrapping its real functions."""

    def __init__(self):
        import src.applications.proposals as proposals
        import src.tools.data.extract_features as extract

        self.timer = timer = StageTimer()
        originals = {}

        def bmn_runner(*args, **kwargs):
            cfg, run_bmn = originals[(proposals, "_bmn_runner")](*args, **kwargs)
            return cfg, timer.wrap("bmn", run_bmn)

        self._targets = [
            (extract, "decode_video", timer.wrap("decode", extract.decode_video)),
            (extract, "frames_flow", timer.wrap("flow", extract.frames_flow)),
            (extract.SnippetStream, "__init__", timer.wrap("features_setup", extract.SnippetStream.__init__)),
            (extract.SnippetStream, "features", timer.wrap("features", extract.SnippetStream.features)),
            (proposals, "_bmn_runner", timer.wrap("bmn_setup", bmn_runner)),
            (proposals, "video_proposals", timer.wrap("postprocess", proposals.video_proposals)),
            (proposals, "plot_timeline", timer.wrap("timeline", proposals.plot_timeline)),
        ]
        originals.update({(owner, name): getattr(owner, name) for owner, name, _ in self._targets})
        self._originals = originals


def staged_run(command) -> dict:
    """``command()`` (a run_proposals call, returning its summary) timed stage by stage."""
    with LongVideoStages() as timer:
        started = time.perf_counter()
        summary = command()
        total = time.perf_counter() - started
    stages = {stage: timer.seconds.get(stage, 0.0) for stage in LONG_STAGES}
    stages["rest"] = total - sum(stages.values())
    return {"total_s": total, "stages_s": stages, "detail_s": dict(timer.seconds), "calls": dict(timer.calls),
            "seconds_per_video_minute": total / (summary["video_seconds"] / 60.0),
            "video_seconds": summary["video_seconds"]}


def throughput(run: dict, snippets: int, cores: int) -> dict:
    """Per-core rates of one long-video run and the ActivityNet time extrapolated from them."""
    stages = run["stages_s"]
    feature_s = stages["decode"] + stages["flow"] + stages["features"]
    proposal_s = stages["bmn"] + stages["postprocess"]
    per_video_s = (feature_s * ACTIVITYNET_VIDEO_SECONDS / run["video_seconds"] + proposal_s
                   + run["detail_s"].get("timeline", 0.0))
    core_hours = ACTIVITYNET_VIDEOS * per_video_s * cores / 3600
    return {"features_per_s_per_core": snippets / feature_s / cores, "proposals_per_s_per_core": 1 / proposal_s / cores,
            "activitynet_core_hours": core_hours, "activitynet_hours_here": core_hours / os.cpu_count()}


def bench_long_video(seconds: float, backends, threads: int) -> dict:
    from src.applications.proposals import run_proposals
    from src.config import load_config
    from src.demo.make_bmn_demo import FPS, make_long_videos
    from src.models import build_model_from_config
    from src.models.weights import save_checkpoint_atomic
    from src.tools.data.extract_features import StreamSpec, snippet_count

    frames = int(round(seconds * FPS))
    snippets = snippet_count(frames, SNIPPET, LONG_INTERVAL)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        make_long_videos(work, 0, 1, seed=0, frame_range=(frames, frames), snippet_frames=SNIPPET,
                         interval=LONG_INTERVAL)
        paths = {}
        for name in ("demo_recognizer", "demo"):
            config = os.path.join(ROOT, "configs", "bmn", f"{name}.yaml")
            paths[name] = (config, os.path.join(work, f"{name}.ckpt"))
            save_checkpoint_atomic(build_model_from_config(load_config(config)), paths[name][1])
        for backend in backends:
            overrides = {"backend": backend, "num_threads": threads}
            spec = StreamSpec(*paths["demo_recognizer"], "flow", tuple(sorted(overrides.items())))
            runs = []
            for attempt in range(2):
                out = os.path.join(work, f"out_{backend}_{attempt}")
                runs.append(staged_run(lambda: run_proposals(
                    os.path.join(work, "videos", "val"), out, (spec,), *paths["demo"], snippet_frames=SNIPPET,
                    interval=LONG_INTERVAL, overrides=overrides)))
            first, steady = runs
            stages = steady["stages_s"]
            results[backend] = dict(steady, share={stage: t / steady["total_s"] for stage, t in stages.items()},
                                    dominant=max(stages, key=stages.get), first_run=first,
                                    throughput=throughput(steady, snippets, threads or os.cpu_count()))
    return results


def print_long_video(results: dict) -> None:
    stages = LONG_STAGES + ("rest",)
    video = next(iter(results.values()))["video_seconds"]
    print(f"long-video command, one {video:g} s video (128x171, 25 fps); stage seconds (share); second run "
          f"(first run: builds, compiles / exports)")
    print(f"{'backend':11} " + " ".join(f"{stage:>14}" for stage in stages)
          + f" {'total s':>8} {'s/video min':>11} {'dominant':>11} {'first run s':>11}")
    for backend, row in results.items():
        print(f"{backend:11} " + " ".join(f"{row['stages_s'][stage]:7.2f} ({100 * row['share'][stage]:3.0f}%)"
                                          for stage in stages)
              + f" {row['total_s']:8.2f} {row['seconds_per_video_minute']:11.2f} {row['dominant']:>11} "
                f"{row['first_run']['total_s']:11.2f}")
    print(f"per core; ActivityNet-1.3 extrapolated: {ACTIVITYNET_VIDEOS:,} videos of {ACTIVITYNET_VIDEO_SECONDS:g} s "
          f"(16-frame snippets every {LONG_INTERVAL} frames; set-up not counted)")
    here = f"h on {os.cpu_count()} cores"
    print(f"{'backend':11} {'features/s':>10} {'proposals/s':>11} {'core-hours':>10} {here:>14}")
    for backend, row in results.items():
        rates = row["throughput"]
        print(f"{backend:11} {rates['features_per_s_per_core']:10.1f} {rates['proposals_per_s_per_core']:11.2f} "
              f"{rates['activitynet_core_hours']:10.0f} {rates['activitynet_hours_here']:14.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--sizes", default="112,224", help="snippet frame sizes of the feature extraction")
    parser.add_argument("--parts", default="features,bmn,long",
                        help="comma-separated: features (I3D snippet features), bmn (BMN per video), long (the "
                             "long-video command stage by stage)")
    parser.add_argument("--long_seconds", type=float, default=120.0, help="length of the long video")
    parser.add_argument("--backends", default="mindspore,onnxruntime",
                        help="backends of the long-video command: mindspore, onnxruntime")
    parser.add_argument("--threads", type=int, default=2, help="num_threads of the long-video command")
    args = parser.parse_args()
    parts = args.parts.split(",")
    unknown = [part for part in parts if part not in ("features", "bmn", "long")]
    unknown += [backend for backend in args.backends.split(",") if backend not in ("mindspore", "onnxruntime")]
    if unknown:
        parser.error(f"unknown part(s) or backend(s) {unknown}")
    results = {}
    if "features" in parts:
        results.update(bench_features([int(size) for size in args.sizes.split(",")], args.steps))
    if "bmn" in parts:
        results.update(bench_bmn(args.steps))
    long_video = {}
    if "long" in parts:
        long_video = bench_long_video(args.long_seconds, args.backends.split(","), args.threads)
        for backend, row in long_video.items():
            results[f"long_video_{backend}"] = {"s_per_video_min": row["seconds_per_video_minute"],
                                                **{f"{stage}_s": t for stage, t in row["stages_s"].items()},
                                                **row["throughput"]}
    results["load_average_1min"] = os.getloadavg()[0]
    report(results, RESULTS, decimals=2)
    if long_video:
        print_long_video(long_video)
        with open(RESULTS, "w", encoding="utf-8") as handle:
            json.dump(dict(results, long_video_stages=long_video), handle, indent=1)
        print(f"wrote {RESULTS} (with the long-video stages)")


if __name__ == "__main__":
    main()
