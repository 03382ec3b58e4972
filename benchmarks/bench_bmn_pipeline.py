"""Speed of the proposal pipeline: snippet features, BMN inference and post-processing per video in
both boundary-matching conventions, and the long-video command per minute of video.

``python benchmarks/bench_bmn_pipeline.py [--steps 3] [--sizes 112,224]`` prints a table and writes
``benchmarks/results/bmn_pipeline.json``. Times are medians over ``--steps`` runs after warm-up.

* feature extraction: I3D ``forward_features`` on batches of 8 snippets of 16 frames, RGB (3
  channels) and flow (2 channels), at each of ``--sizes`` (snippets per second; decoding and
  optical flow are measured by benchmarks/bench_flow.py);
* BMN (T = 100, feat_dim 400): inference per video, batch 1, and post-processing per video
  (candidates + Soft-NMS), for ``duration_start`` and ``start_end``;
* the long-video command (``src.applications.proposals``: decode, DIS flow, R3D-10 flow features of
  16-frame snippets every 8 frames, BMN at T = 32, proposals, timeline PNG) on one generated video
  of the BMN demo, untrained weights: seconds per minute of video.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_bmn import report, timed  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results", "bmn_pipeline.json")
SNIPPET, BATCH = 16, 8


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


def bench_long_video() -> dict:
    from src.applications.proposals import run_proposals
    from src.config import load_config
    from src.demo.make_bmn_demo import make_long_videos
    from src.models import build_model_from_config
    from src.models.weights import save_checkpoint_atomic
    from src.tools.data.extract_features import StreamSpec

    with tempfile.TemporaryDirectory() as work:
        make_long_videos(work, 1, 1, seed=0, frame_range=(450, 450), snippet_frames=SNIPPET, interval=8)
        paths = {}
        for name in ("demo_recognizer", "demo"):
            config = os.path.join(ROOT, "configs", "bmn", f"{name}.yaml")
            paths[name] = (config, os.path.join(work, f"{name}.ckpt"))
            save_checkpoint_atomic(build_model_from_config(load_config(config)), paths[name][1])
        summary = run_proposals(os.path.join(work, "videos", "val"), os.path.join(work, "out"),
                                (StreamSpec(*paths["demo_recognizer"], "flow"),), *paths["demo"],
                                snippet_frames=SNIPPET, interval=8)
    return {"long_video_command": {"seconds_per_video_minute": summary["seconds_per_video_minute"],
                                   "video_seconds": summary["video_seconds"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--sizes", default="112,224", help="snippet frame sizes of the feature extraction")
    args = parser.parse_args()
    results = bench_features([int(size) for size in args.sizes.split(",")], args.steps)
    results.update(bench_bmn(args.steps))
    results.update(bench_long_video())
    results["load_average_1min"] = os.getloadavg()[0]
    report(results, RESULTS, decimals=1)


if __name__ == "__main__":
    main()
