"""Loader throughput against the decode ceiling: clips/s per worker of each recipe's real loader beside
what decoding its frames alone allows on this machine, measured in the same run.

``python benchmarks/bench_loader.py [--recipes i3d_rgb,i3d_flow,tsn3,tsn8,r3d,pptsn_tencrop,bmn]
[--sources frames,video] [--workers 1,2] [--clips 8] [--seconds 8] [--batch_size 4] [--videos 4]
[--size 340x256] [--video_seconds 10] [--fps 25] [--codec xvid] [--work_dir DIR] [--quick]
[--output benchmarks/results/loader.json]``

Data (generated once into ``--work_dir``, reused by later runs with the same settings): ``--videos``
clips of the demo's moving textured objects (:func:`src.demo.make_demo_dataset.render_video`) at
``--size`` and ``--fps`` with per-frame grain, so the files are about as large as real footage, encoded
with ``--codec`` (XVID AVI: UCF101's format); their frames decoded and stored as JPEG quality 90 (what
``src.tools.data.generate_rgb_jpgs`` writes) and, for the flow recipe, DIS flow stored as
``flow_x`` / ``flow_y`` JPEGs quality 95 (``src.tools.data.convert_rgb_to_flow``). List files name
these videos again and again, so no timed run reaches the end of an epoch.

Recipes, each the real ``create_video_dataset(cfg, split)`` of its config with the generated data
(``data_source`` list for frame folders, video for video files; ``--batch_size`` clips per training
batch, the recipe's ``eval_batch_size`` for evaluation):

* ``i3d_rgb`` / ``i3d_flow``: ``configs/i3d/ucf101_rgb.yaml`` / ``ucf101_flow.yaml``, 64x224 training clips
  (flow from frame folders only);
* ``tsn3`` / ``tsn8``: ``configs/tsn/ucf101_rgb.yaml`` with 3 / 8 segments, 224 multi-scale crops;
* ``r3d``: ``configs/resnet3d/ucf101.yaml``, 16x112 training clips;
* ``pptsn_tencrop``: ``configs/tsn/kinetics400_pptsn.yaml`` evaluation, 25 segments x TenCrop 224;
* ``bmn``: ``configs/bmn/activitynet.yaml``'s feature loader (``create_bmn_dataset``) over generated
  100 x 400 ``csv_mean_100`` files, 16 videos a batch.

Each configuration runs with 1 and 2 workers: ``workers`` batches of warm-up, then batches until
``--clips`` clips and ``--seconds`` seconds; the rate is taken over the last three quarters of that
window (what the pipeline's queues held when timing started is left out). Clips/s per worker is that
rate / workers.

The decode ceiling, measured between every two configurations (the ceiling of a configuration is the
mean of the probes before and after it, so the machine's drift is shared): ``cv2.imread`` of
``--probe_frames`` of the generated RGB frames and flow images (images/s), and a sequential
``cv2.VideoCapture`` pass over the generated videos, once with ``grab`` only and once with ``read``
(frames/s). A clip's decode work is counted from the recipe's own temporal sampler (mean of 200
draws on the videos' length):

* frame folders: the distinct sampled frames, each one ``imread`` (flow: two, x and y), so
  ceiling = imread rate / images per clip;
* video files: the reader decodes sequentially from the start, every frame up to the last sampled one
  (``grab`` decodes with FFmpeg), and converts the distinct sampled ones (``retrieve``), so a clip costs
  grabbed / grab rate + retrieved x (1 / read rate - 1 / grab rate). This is the ceiling of this way of
  reading; a reader that seeked to the key frame before its first frame would decode less.

The probes are single calls in this process; their ``cpu_per_wall`` in the JSON shows whether a
decoder used more than one core (above 1) or the process waited for one (below 1: a loaded machine).

Ratio = clips/s per worker / ceiling clips/s; the target is 0.7. A recipe and source below it, and
the BMN loader, are profiled afterwards in this process (cProfile over ``--profile_clips`` calls of the
source's ``__getitem__``, beside the same calls unprofiled: what they take without the loader's
workers, queues and batching) and their most expensive functions are listed.

Feeding the published device step times: I3D on 8 Ascend 910 at batch 8 of 64x224x224 per device and
2,200 ms per step takes 8 x 8 / 2.2 = 29.1 clips/s per host; BMN at 526 feature files/s on 8 NPUs.
Cores needed = that demand / clips/s per worker (one worker per core).

``--quick`` runs on tiny data (one 40-frame 171x128 video, no minimum time): a check that everything
works, not a measurement. Prints a table and writes ``--output`` (JSON) and a bar chart of the
ratios beside it (same name, ``.png``).
"""
import argparse
import cProfile
import csv
import gc
import json
import math
import os
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TARGET = 0.7
SAMPLER_DRAWS = 200
LIST_ITEMS = 8192  # lines of each list file: more clips than any configuration times
RGB_QUALITY, FLOW_QUALITY, FLOW_BOUND = 90, 95, 20.0  # the frame and flow tools' defaults
CODECS = {"xvid": ("XVID", ".avi"), "mp4v": ("mp4v", ".mp4"), "mjpg": ("MJPG", ".avi")}
BMN_CONFIG, BMN_TSCALE, BMN_FEAT_DIM = "configs/bmn/activitynet.yaml", 100, 400
I3D_CLIPS_PER_S = 8 * 8 / 2.2
BMN_FEATURES_PER_S = 526.0
QUICK = {"videos": 1, "size": "171x128", "video_seconds": 1.6, "seconds": 0.0, "probe_frames": 40,
         "bmn_videos": 96, "profile_clips": 1}


@dataclass(frozen=True)
class Recipe:
    title: str
    config: str
    split: str
    overrides: dict = field(default_factory=dict)
    sources: tuple = ("frames", "video")
    flow: bool = False


RECIPES = {
    "i3d_rgb": Recipe("I3D 64x224 RGB", "configs/i3d/ucf101_rgb.yaml", "train"),
    "i3d_flow": Recipe("I3D 64x224 flow", "configs/i3d/ucf101_flow.yaml", "train", sources=("frames",), flow=True),
    "tsn3": Recipe("TSN 3x224", "configs/tsn/ucf101_rgb.yaml", "train", {"num_segments": 3}),
    "tsn8": Recipe("TSN 8x224", "configs/tsn/ucf101_rgb.yaml", "train", {"num_segments": 8}),
    "r3d": Recipe("R3D 16x112", "configs/resnet3d/ucf101.yaml", "train"),
    "pptsn_tencrop": Recipe("PP-TSN 25x224 TenCrop eval", "configs/tsn/kinetics400_pptsn.yaml", "val"),
}
ALL_RECIPES = tuple(RECIPES) + ("bmn",)


# --- the data -----------------------------------------------------------------------------------

@dataclass
class Data:
    """The generated data of one setting: ``folder`` holds videos/, jpg/, flow/, the list files, bmn/."""
    folder: str
    videos: int
    frames: int
    codec: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.folder, *parts)

    @property
    def names(self):
        """(class folder / video name, label) of every video; two classes."""
        return [(f"c{index % 2}/v{index:03d}", index % 2) for index in range(self.videos)]

    @property
    def classes(self) -> int:
        return min(self.videos, 2)

    def video_file(self, name: str) -> str:
        return self.path("videos", name + CODECS[self.codec][1])

    def rgb_frames(self, name: str):
        return [self.path("jpg", name, f"image_{number:05d}.jpg") for number in range(1, self.frames + 1)]

    def flow_images(self, name: str):
        return [self.path("flow", name, f"flow_{axis}_{number:05d}.jpg")
                for number in range(1, self.frames) for axis in "xy"]


def grainy_video(index: int, width: int, height: int, frames: int, fps: float, grain: float) -> np.ndarray:
    """(T, H, W, 3) BGR: the demo's textured moving objects, with per-frame noise of ``grain`` grey levels."""
    from src.demo.make_demo_dataset import CLASS_MOTIONS, FrameSpec, VideoSpec, render_video

    class_name = list(CLASS_MOTIONS)[index % len(CLASS_MOTIONS)]
    video, _ = render_video(VideoSpec(class_name, index + 1, 1, 1), FrameSpec(height, width, frames, 0, fps))
    noise = np.empty((height, width * 3), np.int16)  # one channel: cv2.randn's scalar spread fills it all
    for frame in video:
        cv2.randn(noise, 0, grain)
        frame[...] = np.clip(frame + noise.reshape(frame.shape), 0, 255)
    return video


def write_video(path: str, video: np.ndarray, fps: float, codec: str) -> None:
    height, width = video.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*CODECS[codec][0]), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {codec} video {path}")
    for frame in video:
        writer.write(frame)
    writer.release()


def extract_frames(video_file: str, folder: str) -> int:
    """Every decoded frame of ``video_file`` as ``image_00001.jpg`` ...; the frame count."""
    os.makedirs(folder, exist_ok=True)
    capture, count = cv2.VideoCapture(video_file), 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count += 1
        cv2.imwrite(os.path.join(folder, f"image_{count:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, RGB_QUALITY])
    capture.release()
    return count


def extract_flow(frames, folder: str) -> None:
    """DIS flow of consecutive frames as ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` ..."""
    from src.data.flow import compute_flow, flow_to_uint8

    os.makedirs(folder, exist_ok=True)
    previous = cv2.imread(frames[0], cv2.IMREAD_GRAYSCALE)
    for number, path in enumerate(frames[1:], 1):
        current = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        encoded = flow_to_uint8(compute_flow(previous, current, "dis"), FLOW_BOUND)
        for channel, axis in enumerate("xy"):
            cv2.imwrite(os.path.join(folder, f"flow_{axis}_{number:05d}.jpg"), encoded[..., channel],
                        [cv2.IMWRITE_JPEG_QUALITY, FLOW_QUALITY])
        previous = current


def mean_kib(paths) -> float:
    return round(float(np.mean([os.path.getsize(path) for path in paths])) / 1024, 1)


def prepare_data(args, with_flow: bool) -> tuple:
    """The data of the run's settings, generated unless a finished copy is in ``--work_dir``; returns
    (:class:`Data`, its description)."""
    width, height = (int(value) for value in args.size.lower().split("x"))
    frames = int(round(args.video_seconds * args.fps))
    key = f"{width}x{height}_{frames}f_{args.fps:g}fps_{args.codec}_{args.videos}v_grain{args.grain:g}"
    data = Data(os.path.join(os.path.abspath(args.work_dir), key), args.videos, frames, args.codec)
    manifest = data.path("data.json")
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as handle:
            described = json.load(handle)
    else:
        shutil.rmtree(data.folder, ignore_errors=True)  # an unfinished earlier generation
        started = time.perf_counter()
        for index, (name, _) in enumerate(data.names):
            os.makedirs(os.path.dirname(data.video_file(name)), exist_ok=True)
            write_video(data.video_file(name), grainy_video(index, width, height, frames, args.fps, args.grain),
                        args.fps, args.codec)
            decoded = extract_frames(data.video_file(name), data.path("jpg", name))
            if decoded != frames:
                raise RuntimeError(f"{data.video_file(name)} decodes {decoded} frames, {frames} were written")
        write_list(data.path("frames.txt"), [f"{name} {frames} {label}" for name, label in data.names])
        write_list(data.path("videos.txt"), [f"{name}{CODECS[args.codec][1]} {label}" for name, label in data.names])
        names = [name for name, _ in data.names]
        described = {"folder": data.folder, "videos": args.videos, "frames_per_video": frames, "width": width,
                     "height": height, "fps": args.fps, "codec": args.codec, "grain": args.grain,
                     "video_kib": mean_kib([data.video_file(name) for name in names]),
                     "rgb_jpeg_kib": mean_kib([path for name in names for path in data.rgb_frames(name)]),
                     "generation_s": round(time.perf_counter() - started, 1)}
        write_json(manifest, described)
    if with_flow and "flow_jpeg_kib" not in described:
        for name, _ in data.names:
            extract_flow(data.rgb_frames(name), data.path("flow", name))
        described["flow_jpeg_kib"] = mean_kib([path for name, _ in data.names for path in data.flow_images(name)])
        write_json(manifest, described)
    return data, described


def write_list(path: str, lines) -> None:
    """``lines`` repeated to :data:`LIST_ITEMS` lines."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(lines[index % len(lines)] + "\n" for index in range(LIST_ITEMS))


def write_json(path: str, payload) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)


def prepare_bmn(data: Data, videos: int) -> dict:
    """``videos`` feature files (links to one 100 x 400 csv: parsing costs the same) with BSN annotations."""
    folder = data.path("bmn")
    features = os.path.join(folder, "features")
    if not os.path.isdir(features) or len(os.listdir(features)) != videos:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(features)
        values = np.random.default_rng(0).gamma(0.6, 0.8, (BMN_TSCALE, BMN_FEAT_DIM))  # sparse, ReLU-like
        master = os.path.join(folder, "features.csv")
        np.savetxt(master, values, fmt="%.6f", delimiter=",", comments="",
                   header=",".join(f"f{index}" for index in range(BMN_FEAT_DIM)))
        database, rows = {}, []
        for index in range(videos):
            name = f"v_{index:06d}"
            os.symlink(master, os.path.join(features, name + ".csv"))
            database[name] = {"duration_second": 120.0, "duration_frame": 3000, "feature_frame": 3000,
                              "annotations": [{"segment": [20.0, 70.0], "label": "action"},
                                              {"segment": [85.0, 110.0], "label": "action"}]}
            rows.append([name, 3000, 120.0, 25.0, 25.0, "training", 3000])
        write_json(os.path.join(folder, "anet_anno_action.json"), database)
        with open(os.path.join(folder, "video_info_new.csv"), "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["video", "numFrame", "seconds", "fps", "rfps", "subset", "featureFrame"])
            writer.writerows(rows)
    return {"feature_path": features, "annotation_path": os.path.join(folder, "anet_anno_action.json"),
            "video_info_path": os.path.join(folder, "video_info_new.csv"),
            "feature_kib": round(os.path.getsize(os.path.join(folder, "features.csv")) / 1024, 1)}


# --- the decode ceiling -------------------------------------------------------------------------

def timed(function) -> tuple:
    """(wall seconds, CPU seconds of this process) of ``function()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def rate(decode) -> dict:
    """Frames or images per second of ``decode()`` (which returns how many it decoded), and the CPU
    seconds it used per second (above 1: the decoder ran on more than one core)."""
    counts = []
    wall, cpu = timed(lambda: counts.append(decode()))
    return {"per_s": counts[0] / wall, "cpu_per_wall": round(cpu / wall, 2)}


def decode_video(path: str, retrieve: bool) -> int:
    capture, count = cv2.VideoCapture(path), 0
    while capture.read()[0] if retrieve else capture.grab():
        count += 1
    capture.release()
    return count


def probe(data: Data, turn: int, frames: int, with_flow: bool) -> dict:
    """Decode rates of this moment: imread of ``frames`` RGB frames (and flow images), and sequential
    grab-only and read passes over videos until ``frames`` frames; starts at video ``turn``."""
    names = [name for name, _ in data.names]
    names = names[turn % len(names):] + names[:turn % len(names)]
    rgb = [path for name in names for path in data.rgb_frames(name)][:frames]
    result = {"jpeg_rgb": rate(lambda: len([cv2.imread(path, cv2.IMREAD_COLOR) for path in rgb]))}
    if with_flow:
        flow = [path for name in names for path in data.flow_images(name)][:frames]
        result["jpeg_flow"] = rate(lambda: len([cv2.imread(path, cv2.IMREAD_GRAYSCALE) for path in flow]))
    videos = [data.video_file(name) for name in names][:max(1, math.ceil(frames / data.frames))]
    for kind, retrieve in (("video_grab", False), ("video_read", True)):
        result[kind] = rate(lambda: sum(decode_video(path, retrieve) for path in videos))
    return result


def mean_rates(before: dict, after: dict) -> dict:
    return {kind: (before[kind]["per_s"] + after[kind]["per_s"]) / 2 for kind in before}


def decode_per_clip(cfg, split: str, total_frames: int) -> dict:
    """Mean distinct sampled frames (``retrieved``) and last sampled frame + 1 (``grabbed``) of a clip,
    from the recipe's own temporal sampler."""
    from src.data.pipelines import build_pipeline

    temporal, _ = build_pipeline(cfg, split, cfg.mode)
    retrieved, grabbed = [], []
    for draw in range(SAMPLER_DRAWS):
        sampled = temporal({"total_frames": total_frames, "rng": np.random.default_rng([0, draw])})
        indices = np.unique(sampled["frame_inds"])
        retrieved.append(len(indices))
        grabbed.append(int(indices.max()) + 1)
    return {"retrieved": float(np.mean(retrieved)), "grabbed": float(np.mean(grabbed))}


def ceiling(source: str, flow: bool, per_clip: dict, rates: dict) -> tuple:
    """(ceiling clips/s, the decode rate it rests on: images or frames per second) of a clip's decode work."""
    if source == "video":
        retrieve_s = max(0.0, 1 / rates["video_read"] - 1 / rates["video_grab"])
        seconds = per_clip["grabbed"] / rates["video_grab"] + per_clip["retrieved"] * retrieve_s
        return 1 / seconds, rates["video_read"]
    if flow:
        return rates["jpeg_flow"] / (2 * per_clip["retrieved"]), rates["jpeg_flow"]
    return rates["jpeg_rgb"] / per_clip["retrieved"], rates["jpeg_rgb"]


def against_ceiling(row: dict, data: Data, batch_size: int, rates: dict) -> dict:
    """The decode work of a clip of the row's recipe and source, the ceiling it allows at ``rates``
    and the row's ratio to it (None for BMN: no frames decoded)."""
    if row["recipe"] not in RECIPES:
        return {"decoded_per_clip": None, "decode_per_s": None, "ceiling_clips_per_s": None, "ratio": None}
    recipe = RECIPES[row["recipe"]]
    cfg = recipe_config(recipe, row["source"], row["workers"], data, batch_size)
    per_clip = decode_per_clip(cfg, recipe.split, data.frames - 1 if recipe.flow else data.frames)
    per_clip["images"] = per_clip["retrieved"] * (2 if recipe.flow else 1)
    clips_ceiling, decode_rate = ceiling(row["source"], recipe.flow, per_clip, rates)
    return {"decoded_per_clip": per_clip, "decode_per_s": decode_rate, "ceiling_clips_per_s": clips_ceiling,
            "ratio": row["clips_per_s_per_worker"] / clips_ceiling}


# --- the loaders --------------------------------------------------------------------------------

def recipe_config(recipe: Recipe, source: str, workers: int, data: Data, batch_size: int):
    from src.config import load_config

    overrides = {"data_source": "video" if source == "video" else "list",
                 "video_path": data.path("videos" if source == "video" else "flow" if recipe.flow else "jpg"),
                 "annotation_path": data.path("videos.txt" if source == "video" else "frames.txt"),
                 "num_workers": workers, "batch_size": batch_size, "num_classes": data.classes,
                 "finetune_num_classes": 0, "save_dir": data.path("out"), **recipe.overrides}
    return load_config(os.path.join(ROOT, recipe.config), overrides)


def steady_rate(dataset, workers: int, clips: int, seconds: float) -> dict:
    """Clips/s of ``dataset`` after ``workers`` warm-up batches, over the last three quarters of a
    window of at least ``clips`` clips, ``seconds`` seconds and two batches (the first batch of the
    window may have waited in a queue, so the rate never counts it)."""
    iterator = dataset.create_tuple_iterator(output_numpy=True, num_epochs=1)
    for _ in range(workers):
        next(iterator)
    arrivals, seen, start = [], 0, time.perf_counter()
    for columns in iterator:
        seen += columns[0].shape[0]
        arrivals.append((time.perf_counter() - start, seen))
        if seen >= clips and arrivals[-1][0] >= seconds and len(arrivals) >= 2:
            break
    del iterator
    gc.collect()
    if len(arrivals) < 2:
        raise RuntimeError("the dataset ended within the warm-up; generate more items (LIST_ITEMS, --bmn_videos)")
    end_s, end_clips = arrivals[-1]
    from_s, from_clips = next((point for point in arrivals[:-1] if point[0] >= end_s / 4), arrivals[-2])
    return {"clips": end_clips - from_clips, "seconds": round(end_s - from_s, 3),
            "clips_per_s": (end_clips - from_clips) / (end_s - from_s)}


def recipe_rate(recipe: Recipe, source: str, workers: int, data: Data, args) -> dict:
    from src.data.dataset import create_video_dataset

    cfg = recipe_config(recipe, source, workers, data, args.batch_size)
    return steady_rate(create_video_dataset(cfg, recipe.split), workers, args.clips, args.seconds)


def bmn_config(bmn: dict, workers: int, data: Data):
    from src.config import load_config

    overrides = {key: bmn[key] for key in ("feature_path", "annotation_path", "video_info_path")}
    return load_config(os.path.join(ROOT, BMN_CONFIG), dict(overrides, num_workers=workers, save_dir=data.path("out")))


def bmn_rate(bmn: dict, workers: int, data: Data, args) -> dict:
    from src.data.bmn_data import create_bmn_dataset

    cfg = bmn_config(bmn, workers, data)
    return steady_rate(create_bmn_dataset(cfg, "train"), workers, args.clips, args.seconds)


# --- the profile --------------------------------------------------------------------------------

def function_name(key) -> str:
    path, line, name = key
    if path == "~":
        return name
    shown = os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)
    return f"{shown}:{line} {name}"


def profile_source(source, items: int, top: int = 12) -> dict:
    """Seconds per item of ``source[i]`` in this process, unprofiled and under cProfile, with the
    functions of the largest own time."""
    source[0]  # first use: imports, estimators, caches
    indices = [index % len(source) for index in range(1, items + 1)]
    wall, _ = timed(lambda: [source[index] for index in indices])
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [source[index] for index in indices])
    stats = pstats.Stats(profiler).stats
    total = sum(entry[2] for entry in stats.values())
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {"items": items, "getitem_s": round(wall / items, 6), "profiled_s": round(total / items, 6),
            "functions": [{"function": function_name(key), "self_s": round(own / items, 6),
                           "share": round(own / total, 3), "cumulative_s": round(cumulative / items, 6),
                           "calls": round(calls / items, 1)}
                          for key, (_, calls, own, cumulative, _) in ranked]}


def profile_recipe(recipe: Recipe, source: str, data: Data, items: int) -> dict:
    from src.data.dataset import build_video_source

    cfg = recipe_config(recipe, source, 1, data, 1)
    return profile_source(build_video_source(cfg, recipe.split), items)


def profile_slow(rows, data: Data, bmn, items: int) -> dict:
    """Profiles, printed, of every recipe and source with a row below the target, and of the BMN loader
    (which has no decode ceiling), beside the loader's ms per clip per worker and decoding's alone."""
    slow = {}
    for row in rows:
        if row["recipe"] == "bmn" or row["ratio"] < TARGET:
            slow.setdefault((row["recipe"], row["source"]), []).append(row)
    profiles = {}
    for (name, source), measured in slow.items() if items else ():
        if name == "bmn":
            from src.data.bmn_data import build_bmn_source
            profile = profile_source(build_bmn_source(bmn_config(bmn, 1, data), "train"), items)
        else:
            profile = profile_recipe(RECIPES[name], source, data, items)
        profile["loader_ms_per_item_per_worker"] = [round(1000 / row["clips_per_s_per_worker"], 2) for row in measured]
        decode = ("" if name == "bmn" else
                  f"; decoding alone {1000 / np.mean([row['ceiling_clips_per_s'] for row in measured]):.1f} ms")
        print(f"\nprofile {measured[0]['title']}, {source}: {profile['getitem_s'] * 1000:.1f} ms per item in this "
              f"process; the loader {' / '.join(map(str, profile['loader_ms_per_item_per_worker']))} ms per item "
              f"per worker{decode}; largest own time:")
        for function in profile["functions"][:6]:
            print(f"  {100 * function['share']:5.1f}%  {function['self_s'] * 1000:7.2f} ms  {function['calls']:6.1f} "
                  f"calls  {function['function']}")
        profiles[f"{name}/{source}"] = profile
    return profiles


# --- the report ---------------------------------------------------------------------------------

HEADER = (f"{'recipe':27} {'source':6} {'workers':>7} {'clips/s':>8} {'/worker':>8} {'decoded/clip':>14} "
          f"{'decode f/s':>10} {'ceiling':>8} {'ratio':>6}")


def format_row(row: dict) -> str:
    if row["ceiling_clips_per_s"] is None:
        decoded, decode, ceiling_text, ratio = "csv", "", "", ""
    else:
        clip = row["decoded_per_clip"]
        decoded = (f"{clip['grabbed']:.0f}+{clip['retrieved']:.0f}" if row["source"] == "video"
                   else f"{clip['images']:.0f}")
        decode, ceiling_text = f"{row['decode_per_s']:.0f}", f"{row['ceiling_clips_per_s']:.1f}"
        ratio = f"{row['ratio']:.2f}" + ("" if row["ratio"] >= TARGET else " <")
    return (f"{row['title']:27} {row['source']:6} {row['workers']:>7} {row['clips_per_s']:8.2f} "
            f"{row['clips_per_s_per_worker']:8.2f} {decoded:>14} {decode:>10} {ceiling_text:>8} {ratio:>6}")


def feeding(rows) -> list:
    """Cores needed to feed the published step times, per measured row of the fed recipes."""
    demands = {"i3d_rgb": ("I3D, 8 x Ascend 910, batch 8 x 64x224x224, 2,200 ms per step", I3D_CLIPS_PER_S),
               "i3d_flow": ("I3D, 8 x Ascend 910, batch 8 x 64x224x224, 2,200 ms per step", I3D_CLIPS_PER_S),
               "bmn": ("BMN, 526 features/s on 8 NPUs", BMN_FEATURES_PER_S)}
    fed = []
    for row in rows:
        if row["recipe"] not in demands:
            continue
        what, demand = demands[row["recipe"]]
        entry = {"recipe": row["recipe"], "source": row["source"], "workers": row["workers"], "demand": what,
                 "demand_per_s": round(demand, 2), "cores": math.ceil(demand / row["clips_per_s_per_worker"])}
        if row["ceiling_clips_per_s"]:
            entry["cores_at_ceiling"] = math.ceil(demand / row["ceiling_clips_per_s"])
        fed.append(entry)
    return fed


def plot(rows, path: str, title: str) -> None:
    """Ratio to the decode ceiling per recipe, source and workers, as horizontal bars."""
    from src.utils.plots import plt, save_figure

    shown = [row for row in rows if row["ratio"] is not None][::-1]
    fig, axis = plt.subplots(figsize=(7.5, 0.32 * len(shown) + 1.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    worker_counts = sorted({row["workers"] for row in shown})
    for count in worker_counts:
        positions = [index for index, row in enumerate(shown) if row["workers"] == count]
        axis.barh(positions, [shown[index]["ratio"] for index in positions],
                  color=colours[worker_counts.index(count) % len(colours)], label=f"{count} worker(s)")
    axis.set_yticks(range(len(shown)), [f"{row['title']}, {row['source']}, {row['workers']} w" for row in shown],
                    fontsize=8)
    axis.axvline(TARGET, color="black", linestyle="--", linewidth=1, label=f"target {TARGET}")
    axis.set_xlabel("clips/s per worker / decode ceiling clips/s")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    save_figure(fig, path, dpi=110)


# --- the run ------------------------------------------------------------------------------------

class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default."""


def parse_list(text: str, known, what: str, parser) -> list:
    values = [value for value in text.split(",") if value]
    unknown = [value for value in values if value not in known]
    if unknown or not values:
        parser.error(f"unknown {what} {unknown}; known: {', '.join(map(str, known))}")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--recipes", default=",".join(ALL_RECIPES), help="comma-separated: " + ", ".join(ALL_RECIPES))
    parser.add_argument("--sources", default="frames,video", help="comma-separated: frames, video")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--clips", type=int, default=8, help="at least this many clips timed per configuration")
    parser.add_argument("--seconds", type=float, default=8.0, help="at least this many seconds timed per configuration")
    parser.add_argument("--batch_size", type=int, default=4, help="clips per training batch (evaluation: the recipe's)")
    parser.add_argument("--videos", type=int, default=4, help="distinct generated videos")
    parser.add_argument("--size", default="340x256", help="WIDTHxHEIGHT of the generated videos")
    parser.add_argument("--video_seconds", type=float, default=10.0, help="length of each generated video")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the generated videos")
    parser.add_argument("--codec", default="xvid", choices=sorted(CODECS), help="codec of the generated videos")
    parser.add_argument("--grain", type=float, default=5.0, help="per-frame noise of the generated videos, grey levels")
    parser.add_argument("--probe_frames", type=int, default=500, help="frames per decode-rate probe")
    parser.add_argument("--bmn_videos", type=int, default=4096, help="BMN feature files (links to one file)")
    parser.add_argument("--profile_clips", type=int, default=4,
                        help="items profiled per recipe below the target, and of BMN (0: none)")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "bench_loader_data"),
                        help="where the generated data is kept for later runs")
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and no minimum time: " + ", ".join(f"{k} {v}" for k, v in QUICK.items()))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results", "loader.json"),
                        help="the JSON written (the chart: same name, .png)")
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    recipes = parse_list(args.recipes, ALL_RECIPES, "recipe(s)", parser)
    sources = parse_list(args.sources, ("frames", "video"), "source(s)", parser)
    workers = [int(value) for value in parse_list(args.workers, [str(n) for n in range(1, os.cpu_count() + 1)],
                                                  "worker count(s)", parser)]

    from src.data.dataset import usable_workers
    from src.utils.runtime import get_logger
    get_logger().setLevel("WARNING")

    with_flow = "i3d_flow" in recipes
    data, described = prepare_data(args, with_flow)
    plan = [(name, source, count) for name in recipes if name != "bmn"
            for source in RECIPES[name].sources if source in sources for count in workers]
    plan += [("bmn", "csv", count) for count in workers if "bmn" in recipes]
    bmn = prepare_bmn(data, args.bmn_videos) if "bmn" in recipes else None
    if bmn:
        described["bmn_feature_kib"] = bmn["feature_kib"]
    print(f"data: {args.videos} videos of {described['frames_per_video']} frames at {described['width']}x"
          f"{described['height']}, {args.codec} {described['video_kib']} KiB per video, RGB JPEG "
          f"{described['rgb_jpeg_kib']} KiB" + (f", flow JPEG {described['flow_jpeg_kib']} KiB" if with_flow else "")
          + f" ({data.folder}); {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print("clips/s: the loader's rate; /worker: per worker; decoded/clip: JPEG images (frames) or grabbed+retrieved "
          "frames (video) a clip decodes; decode f/s: imread images/s or sequential read frames/s of this "
          f"moment; ceiling: clips/s decoding alone allows one core; ratio: /worker over ceiling (< : below {TARGET})")
    print(HEADER, flush=True)
    decode_video(data.video_file(data.names[0][0]), True)  # loads the decoder
    probes = [probe(data, 0, args.probe_frames, with_flow)]
    rows = []
    for name, source, count in plan:
        if name == "bmn":
            row = {"recipe": name, "title": "BMN 100x400 csv features", "source": source,
                   **bmn_rate(bmn, count, data, args)}
        else:
            recipe = RECIPES[name]
            row = {"recipe": name, "title": recipe.title, "source": source, "config": recipe.config,
                   "split": recipe.split, **recipe_rate(recipe, source, count, data, args)}
        probes.append(probe(data, len(probes), args.probe_frames, with_flow))
        row.update(workers=usable_workers(count), probes=[len(probes) - 2, len(probes) - 1])
        row["clips_per_s_per_worker"] = row["clips_per_s"] / row["workers"]
        row.update(against_ceiling(row, data, args.batch_size, mean_rates(*probes[-2:])))
        rows.append(row)
        print(format_row(row), flush=True)

    profiles = profile_slow(rows, data, bmn, args.profile_clips)

    fed = feeding(rows)
    if fed:
        print("\ncores needed (one worker per core) to feed the published step times:")
        for entry in fed:
            at_ceiling = f", at the decode ceiling {entry['cores_at_ceiling']}" if "cores_at_ceiling" in entry else ""
            print(f"  {entry['demand']} ({entry['demand_per_s']}/s): {entry['recipe']} {entry['source']}, "
                  f"rate of {entry['workers']} worker(s): {entry['cores']} cores{at_ceiling}")

    payload = {"machine": f"{os.cpu_count()} cores", "load_average_1min": os.getloadavg()[0],
               "date": time.strftime("%Y-%m-%d"), "target_ratio": TARGET, "data": described,
               "settings": {key: value for key, value in vars(args).items() if key not in ("output", "work_dir")},
               "probes": [{kind: {"per_s": round(value["per_s"], 1), "cpu_per_wall": value["cpu_per_wall"]}
                           for kind, value in entry.items()} for entry in probes],
               "rows": rows, "profiles": profiles, "feeding": fed}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_json(args.output, payload)
    chart = os.path.splitext(args.output)[0] + ".png"
    if any(row["ratio"] is not None for row in rows):
        plot(rows, chart, f"loader against the decode ceiling, {described['width']}x{described['height']} "
                          f"{args.codec}, {os.cpu_count()} cores")
    print(f"written {args.output}" + (f" and {chart}" if os.path.isfile(chart) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
