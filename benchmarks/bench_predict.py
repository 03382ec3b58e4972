"""Where the time of ``python -m src.tools.predict`` goes, stage by stage, per video and per backend.

``python benchmarks/bench_predict.py [--preset recipe] [--models i3d,tsn] [--streams rgb,joint]
[--backends mindspore,onnxruntime] [--seconds 10] [--size 340x256] [--fps 25] [--repeats 2]
[--threads 2] [--flow_method dis] [--set KEY=VALUE ...] [--output predict.json]``

One generated clip (``--seconds`` of ``--size`` video at ``--fps``: moving textured shapes over a
textured background, MJPG in an AVI, in a temporary folder) is predicted through the tool's own code
path — :func:`src.apis.inference.init_recognizer` and :func:`~src.apis.inference.predict_videos`
with the readers and the optical flow of :mod:`src.data` — for every model, stream set (``rgb``: one
RGB checkpoint; ``joint``: RGB and flow checkpoints, flow computed on the fly, as ``--rgb_checkpoint
--flow_checkpoint`` predicts) and backend. Each combination runs in a process of its own (as each
command does): :func:`~src.utils.runtime.setup_runtime` and ``init_recognizer`` as the tool calls
them, one warm-up video (MindSpore compiles its graph; ONNX Runtime exports the checkpoint into
``onnx_cache/`` beside it and loads it), then ``--repeats`` timed videos.

The stages are timed by wrapping the real functions for the duration of a run (nothing is copied;
time spent in a wrapped call inside another one counts for the inner one only):

* decode: ``count_video_frames`` (the whole video decoded once to count its frames, in
  ``predict_videos``), and ``src.data.readers._decode`` called by the RGB reader and by the flow reader;
* flow: ``compute_flow`` (the optical flow itself), and the rest of ``VideoFlowReader.read`` (the
  flow's uint8 + JPEG storage encoding, gathering);
* transforms: the test pipeline ``build_pipeline`` made (resize, crops, normalisation, layout);
* model: ``score_views``, every view of a stream in one call to the backend's network;
* rest: the remainder of ``predict_videos`` (sampling, the RGB reader's gathering, fusion, softmax).

Untrained weights (a freshly built network saved as a checkpoint) stand in for trained ones: the
time does not depend on the weights. ``--preset recipe`` (the default) predicts with the UCF101
recipes ``configs/i3d/ucf101_rgb.yaml`` (64 frames, one 224 px centre view) and
``configs/tsn/ucf101_rgb.yaml`` (ResNet-50, 25 segments x ten 224 px crops = 250 views per stream,
five flow pairs per segment in the joint flow stream), as a user predicts with a UCF101 checkpoint;
``--preset demo`` with ``configs/{i3d,tsn}/demo_rgb.yaml`` (56 px crops of 64 px frames). Both with
``checkpoint_path`` and ``annotation_path`` emptied (no pretrained weights to load, default class
names). ``--set KEY=VALUE`` (or ``MODEL.KEY=VALUE`` for one model) overrides a configuration key.

Prints per combination the seconds per video of each stage, its share of the total and the dominant
stage, the one-time costs (``init_recognizer``; the first video, which compiles or exports), the
views per stream and how often each stage ran; writes ``benchmarks/results/<--output>``.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
sys.path.insert(0, ROOT)
REPLY = "@@ "  # marks the worker's result line among whatever else the libraries print

PRESETS = {"recipe": {"i3d": "configs/i3d/ucf101_rgb.yaml", "tsn": "configs/tsn/ucf101_rgb.yaml"},
           "demo": {"i3d": "configs/i3d/demo_rgb.yaml", "tsn": "configs/tsn/demo_rgb.yaml"}}
BACKENDS = ("mindspore", "onnxruntime")
STREAMS = ("rgb", "joint")
# The table's stages and the timed keys each one sums; "rest" is what predict_videos spent outside them.
GROUPS = {"decode": ("decode_count", "decode_rgb", "decode_flow"), "flow": ("flow", "flow_reader"),
          "transforms": ("transforms",), "model": ("model",)}
TABLE_STAGES = tuple(GROUPS) + ("rest",)


# --- the clip -----------------------------------------------------------------------------------

def make_clip(path: str, seconds: float, width: int, height: int, fps: float, seed: int = 0) -> int:
    """Write a clip of moving textured shapes (MJPG AVI) to ``path``; returns its frame count."""
    import cv2

    from src.demo.make_demo_dataset import draw_sprite, luma, make_sprite, textured_background

    rng = np.random.default_rng(seed)
    background = textured_background(rng, height, width)
    level = luma(background.mean(axis=(0, 1)))
    shapes = []
    for _ in range(5):
        diameter = rng.uniform(0.15, 0.3) * min(width, height)
        shapes.append({"sprite": make_sprite(rng, diameter, level, max_scale=1.2), "start": rng.uniform(0, 1, 2) * (width, height),
                       "velocity": rng.uniform(-3, 3, 2), "spin": rng.uniform(-4, 4)})
    frames = int(round(seconds * fps))
    writer = cv2.VideoWriter(path, cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write the MJPG clip {path}")
    try:
        for index in range(frames):
            frame = background.copy()
            for shape in shapes:
                centre = shape["start"] + index * shape["velocity"]
                draw_sprite(frame, shape["sprite"], (float(centre[0]), float(centre[1])), index * shape["spin"],
                            1.0 + 0.2 * math.sin(index / 20.0))
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return frames


# --- the checkpoints ----------------------------------------------------------------------------

def config_overrides(model: str, settings, save_dir: str) -> dict:
    """Configuration keys over the preset's config of ``model``: no pretrained weights, default class
    names, CPU, ``save_dir`` in the work folder, then ``--set`` (``KEY=VALUE``, ``MODEL.KEY=VALUE``)."""
    overrides = {"checkpoint_path": "", "annotation_path": "", "device_target": "CPU", "save_dir": save_dir}
    for setting in settings:
        key, value = setting.split("=", 1)
        scope, _, name = key.rpartition(".")
        if not scope or scope == model:
            overrides[name] = value
    return overrides


def save_checkpoints(config: str, overrides: dict, folder: str) -> dict:
    """``{"rgb": path, "flow": path}``: untrained networks of both streams of ``config``, built as
    ``load_network`` builds each stream of joint prediction, saved as checkpoints in ``folder``."""
    from src.config import load_config
    from src.models import build_model_from_config
    from src.models.weights import save_checkpoint_atomic
    from src.options import output_classes, stream_config

    cfg = load_config(config, overrides)
    paths = {}
    for mode in ("rgb", "flow"):
        paths[mode] = os.path.join(folder, f"{mode}.ckpt")
        net = build_model_from_config(stream_config(cfg, mode), num_classes=output_classes(cfg))
        save_checkpoint_atomic(net, paths[mode])
    return paths


# --- the worker: one model, stream set and backend ----------------------------------------------

class StageTimer:
    """Exclusive seconds per stage key of wrapped calls (a wrapped call inside another one counts for
    the inner key only), with call counts and a few facts per key."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self.facts = defaultdict(list)
        self._stack = []  # [key, seconds of wrapped calls inside it]

    def current(self) -> str:
        return self._stack[-1][0] if self._stack else ""

    def wrap(self, key, function, note=None):
        """``function`` timed under ``key`` (a string, or a callable of the timer giving one); ``note``
        (arguments, result) -> a fact kept for the key."""
        def wrapped(*args, **kwargs):
            name = key(self) if callable(key) else key
            self._stack.append([name, 0.0])
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                _, inner = self._stack.pop()
                self.seconds[name] += elapsed - inner
                self.calls[name] += 1
                if self._stack:
                    self._stack[-1][1] += elapsed
            if note is not None:
                self.facts[name].append(note(args, result))
            return result
        return wrapped


class Patched:
    """Sets the ``(owner, attribute, wrapper)`` of ``self._targets`` while active (``with``, giving
    ``self.timer``) and puts the originals, ``self._originals[(owner, attribute)]``, back after."""
    timer: StageTimer
    _targets: list
    _originals: dict

    def __enter__(self):
        for owner, name, wrapper in self._targets:
            setattr(owner, name, wrapper)
        return self.timer

    def __exit__(self, *exc):
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        return False


class Instrumented(Patched):
    """Wraps the real functions of the prediction path in a :class:`StageTimer` while active."""

    def __init__(self):
        import src.apis.inference as inference
        import src.data.readers as readers

        self.timer = StageTimer()
        timer = self.timer

        def decode_key(t):
            return "decode_flow" if t.current() == "flow_reader" else "decode_rgb"

        def decode_note(args, result):
            wanted = np.unique(np.asarray(args[1]))
            frame = next(iter(result.values()))
            return {"grabbed": int(wanted.max()) + 1, "retrieved": int(len(wanted)), "frame": list(frame.shape)}

        def make_pipeline(*args, **kwargs):
            temporal, pipeline = self._originals[(inference, "build_pipeline")](*args, **kwargs)
            return temporal, timer.wrap("transforms", pipeline)

        def views_note(args, result):
            return {"views": list(np.shape(args[1]))}

        self._targets = [
            (inference, "count_video_frames", timer.wrap(
                "decode_count", inference.count_video_frames, lambda args, result: {"frames": result.frames})),
            (readers, "_decode", timer.wrap(decode_key, readers._decode, decode_note)),
            (readers, "compute_flow", timer.wrap("flow", readers.compute_flow)),
            (readers.VideoFlowReader, "read", timer.wrap("flow_reader", readers.VideoFlowReader.read)),
            (readers.VideoFileReader, "read", timer.wrap("rgb_reader", readers.VideoFileReader.read)),
            (inference, "build_pipeline", make_pipeline),
            (inference, "score_views", timer.wrap("model", inference.score_views, views_note)),
        ]
        self._originals = {(owner, name): getattr(owner, name) for owner, name, _ in self._targets}


def timed_video(predict) -> dict:
    """Run ``predict()`` (one video) instrumented: seconds per table stage, the detailed keys, counts."""
    instrumented = Instrumented()
    with instrumented as timer:
        started = time.perf_counter()
        predict()
        total = time.perf_counter() - started
    stages = {group: sum(timer.seconds.get(key, 0.0) for key in keys) for group, keys in GROUPS.items()}
    stages["rest"] = total - sum(stages.values())
    return {"total_s": total, "stages_s": stages, "detail_s": dict(timer.seconds), "calls": dict(timer.calls),
            "facts": {key: value for key, value in timer.facts.items()}}


def worker(spec: dict) -> dict:
    """One combination (``spec``: config, overrides, backend, streams, checkpoints, clip, repeats)."""
    from src.apis.inference import init_recognizer, predict_videos
    from src.config import load_config
    from src.infer.backends import OnnxNetwork
    from src.utils.runtime import setup_runtime

    cfg = load_config(spec["config"], dict(spec["overrides"], backend=spec["backend"], num_threads=spec["threads"]))
    setup_runtime(cfg)  # as src.tools.predict does
    checkpoints = spec["checkpoints"]
    started = time.perf_counter()
    if spec["streams"] == "joint":
        model = init_recognizer(cfg, rgb_checkpoint=checkpoints["rgb"], flow_checkpoint=checkpoints["flow"],
                                flow_method=spec["flow_method"])
    else:
        model = init_recognizer(cfg, checkpoints[cfg.mode], flow_method=spec["flow_method"])
    setup_s = time.perf_counter() - started
    runs = {name: "onnxruntime" if isinstance(net, OnnxNetwork) else "mindspore" for name, net in model.nets.items()}
    if set(runs.values()) != {spec["backend"]}:
        raise RuntimeError(f"init_recognizer built {runs} for backend {spec['backend']}: this checkout's "
                           f"src/apis/inference.py does not load its networks through src.infer.backends")

    def predict():
        return predict_videos(model, [spec["clip"]])

    first = timed_video(predict)
    repeats = [timed_video(predict) for _ in range(spec["repeats"])]
    stages = {stage: float(np.median([r["stages_s"][stage] for r in repeats])) for stage in TABLE_STAGES}
    total = float(np.median([r["total_s"] for r in repeats]))
    return {"nets": runs, "setup_s": setup_s, "first_video": first, "repeats": repeats,
            "median_total_s": total, "median_stages_s": stages,
            "share": {stage: seconds / total for stage, seconds in stages.items()},
            "dominant": max(stages, key=stages.get),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)}


def run_fresh(script: str, flag: str, spec: dict, what: str, env: dict = None) -> dict:
    """The result of ``python script flag <spec as JSON>`` in a fresh process: the JSON of the line it
    prints after :data:`REPLY`; RuntimeError naming ``what`` with the end of its stderr otherwise."""
    done = subprocess.run([sys.executable, script, flag, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(REPLY):
            return json.loads(line[len(REPLY):])
    raise RuntimeError(f"{what} failed:\n{done.stderr.strip()[-3000:]}")


def run_worker(spec: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, GLOG_v="3", OMP_NUM_THREADS=str(spec["threads"]))
    return run_fresh(os.path.abspath(__file__), "--worker", spec,
                     f"{spec['model']} {spec['streams']} {spec['backend']}", env)


# --- the parent ---------------------------------------------------------------------------------

HEADER = (f"{'model':5} {'streams':7} {'backend':11} {'views':>7} "
          + " ".join(f"{stage:>14}" for stage in TABLE_STAGES)
          + f" {'total s':>8} {'dominant':>10} {'init s':>7} {'1st video':>9}")


def format_row(row: dict) -> str:
    shares = " ".join(f"{row['median_stages_s'][stage]:7.2f} ({100 * row['share'][stage]:3.0f}%)"
                      for stage in TABLE_STAGES)
    views = "+".join(str(fact["views"][1]) for fact in row["first_video"]["facts"].get("model", []))
    return (f"{row['model']:5} {row['streams']:7} {row['backend']:11} {views:>7} {shares} "
            f"{row['median_total_s']:8.2f} {row['dominant']:>10} {row['setup_s']:7.1f} "
            f"{row['first_video']['total_s']:9.1f}")


def describe(row: dict) -> str:
    """How often the stages ran for one video: decodes (frames grabbed / retrieved, size), flow pairs."""
    facts, calls = row["repeats"][0]["facts"], row["repeats"][0]["calls"]
    parts = ["model input " + " + ".join("x".join(map(str, fact["views"][1:])) for fact in facts.get("model", []))]
    for key in ("decode_count", "decode_rgb", "decode_flow"):
        for fact in facts.get(key, []):
            if key == "decode_count":
                parts.append(f"count: {fact['frames']} frames decoded")
            else:
                size = "x".join(map(str, fact["frame"][:2][::-1]))
                parts.append(f"{key[7:]} reader: {fact['grabbed']} grabbed, {fact['retrieved']} retrieved at {size}")
    if calls.get("flow"):
        parts.append(f"{calls['flow']} flow pairs")
    return "; ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="recipe", choices=sorted(PRESETS), help="the configs predicted with")
    parser.add_argument("--models", default="i3d,tsn", help="comma-separated: i3d, tsn")
    parser.add_argument("--streams", default="rgb,joint", help="comma-separated: rgb (RGB checkpoint only), "
                                                              "joint (RGB + flow checkpoints, flow on the fly)")
    parser.add_argument("--backends", default="mindspore,onnxruntime", help="comma-separated: " + ", ".join(BACKENDS))
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    parser.add_argument("--size", default="340x256", help="WIDTHxHEIGHT of the generated clip")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the generated clip")
    parser.add_argument("--repeats", type=int, default=2, help="timed videos per combination, after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="num_threads (MindSpore and ONNX Runtime CPU threads)")
    parser.add_argument("--flow_method", default="dis", choices=("tvl1", "dis", "farneback"),
                        help="flow computed on the fly for joint prediction (the tool's default: dis)")
    parser.add_argument("--set", action="append", default=[], metavar="[MODEL.]KEY=VALUE",
                        help="a configuration key over the preset's configs (repeatable)")
    parser.add_argument("--output", default="predict.json", help="file name in benchmarks/results/")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(REPLY + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    models, streams, backends = (value.split(",") for value in (args.models, args.streams, args.backends))
    for values, known, what in ((models, PRESETS[args.preset], "model"), (streams, STREAMS, "stream set"),
                                (backends, BACKENDS, "backend")):
        unknown = [value for value in values if value not in known]
        if unknown:
            parser.error(f"unknown {what}(s) {unknown}; known: {', '.join(known)}")
    if any("=" not in setting for setting in args.set):
        parser.error("--set takes KEY=VALUE or MODEL.KEY=VALUE")
    width, height = (int(value) for value in args.size.lower().split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as work:
        clip = os.path.join(work, "clip.avi")
        frames = make_clip(clip, args.seconds, width, height, args.fps)
        print(f"clip: {frames} frames of {width}x{height} at {args.fps:g} fps (MJPG), preset {args.preset}, "
              f"{args.threads} threads, flow {args.flow_method}, median of {args.repeats} videos after a warm-up")
        print("stage columns: seconds per video (share of the total); init s: init_recognizer; 1st video: the "
              "warm-up video (MindSpore compiles, ONNX Runtime exports to onnx_cache/ and loads)")
        print(HEADER, flush=True)
        for model in models:
            folder = os.path.join(work, model)
            os.makedirs(folder)
            config = os.path.join(ROOT, PRESETS[args.preset][model])
            overrides = config_overrides(model, args.set, os.path.join(work, "out"))
            checkpoints = save_checkpoints(config, overrides, folder)
            for stream_set in streams:
                for backend in backends:
                    spec = {"model": model, "streams": stream_set, "backend": backend, "config": config,
                            "overrides": overrides, "checkpoints": checkpoints, "clip": clip,
                            "repeats": args.repeats, "threads": args.threads, "flow_method": args.flow_method}
                    row = dict(run_worker(spec), model=model, streams=stream_set, backend=backend,
                               config=PRESETS[args.preset][model])
                    rows.append(row)
                    print(format_row(row), flush=True)
                    print(f"{'':25}{describe(row)}", flush=True)
    payload = {"machine": f"{os.cpu_count()} cores", "load_average_1min": os.getloadavg()[0],
               "clip": {"seconds": args.seconds, "width": width, "height": height, "fps": args.fps, "frames": frames,
                        "codec": "MJPG"},
               "preset": args.preset, "settings": args.set, "threads": args.threads, "flow_method": args.flow_method,
               "repeats": args.repeats, "rows": rows}
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, args.output)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
