"""Start-up cost of the data path against the dataset size: index, first batch, memory, cache.

``python benchmarks/bench_scale.py [--sizes 1000,10000,100000,240000] [--layouts frames,video]
[--work_dir DIR] [--smoke_sizes 1000,240000]``

Builds Kinetics-layout datasets of N entries (400 class folders) in two layouts: frame folders read
through a Kinetics-style annotation JSON, and video files read through a ``path label`` list. Every
entry is a distinct path (a symbolic link to one of a few real 10-second 340x256 clips, so the disk
stays small) that the data layer treats as a separate video. For each N it times, in a fresh process
each, what train.py and eval.py do before their first step:

* ``index``: building the split's source (annotation read, missing entries dropped, frame counts);
* ``first batch``: from the start of the index to the first batch out of the loader (I3D recipe:
  64x224x224 clips, batch 8, 2 loader workers);
* peak memory (VmHWM) of the main process (and its growth while the index is built) and of the
  largest loader worker;
* the frame-count cache on disk.

Conditions: frame folders with counts in the annotation (``cached``) and listed without them (their
``n_frames`` read per folder: ``uncounted``); video files with a decoder-count cache (``cached``,
written for every entry from the real clips' counts, as ``src.tools.data.count_frames`` would) and
without (``uncounted``: the containers' counts, checked as clips are read). Memory per entry is the
slope of a linear fit of peak memory against N; growth is the slope of log(time) against log(N).
A capped training (``train.py --max_steps_per_epoch 2 --num_epochs 1``) is timed end to end at
``--smoke_sizes``: its cost should not grow with N. Prints a table, writes
``benchmarks/results/scale.json`` and a log-log plot beside it (same name, ``.png``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_predict import REPLY, run_fresh  # noqa: E402

CLASSES = 400
REAL_CLIPS = 4
CLIP_FRAMES, CLIP_FPS, CLIP_SIZE = 250, 25, (340, 256)
RECIPE = {"config_path": os.path.join(ROOT, "configs/i3d/ucf101_rgb.yaml"), "num_classes": CLASSES,
          "finetune_num_classes": 0,
          "num_workers": 2, "batch_size": 8, "eval_batch_size": 1}


def _clip_frames(seed: int):
    """Frames of one synthetic clip: a textured scene with a moving square, JPEG-like content."""
    import cv2
    rng = np.random.default_rng(seed)
    width, height = CLIP_SIZE
    scene = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (9, 9), 0)
    for index in range(CLIP_FRAMES):
        frame = scene.copy()
        x = (index * 3) % (width - 40)
        frame[100:140, x:x + 40] = (255, 255, 255)
        yield frame


def make_real_clips(work: str) -> dict:
    """``REAL_CLIPS`` frame folders and video files, made once."""
    import cv2
    folders, videos = [], []
    for seed in range(REAL_CLIPS):
        folder = os.path.join(work, "real", f"frames_{seed}")
        video = os.path.join(work, "real", f"clip_{seed}.mp4")
        if not os.path.isfile(os.path.join(folder, "n_frames")):
            os.makedirs(folder, exist_ok=True)
            writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, CLIP_SIZE)
            for index, frame in enumerate(_clip_frames(seed)):
                cv2.imwrite(os.path.join(folder, f"image_{index + 1:05d}.jpg"), frame)
                writer.write(frame)
            writer.release()
            with open(os.path.join(folder, "n_frames"), "w", encoding="utf-8") as handle:
                handle.write(str(CLIP_FRAMES))
        folders.append(folder)
        videos.append(video)
    return {"frames": folders, "video": videos}


def _entry(index: int):
    return f"class_{index % CLASSES:03d}", f"v_{index:07d}"


def make_dataset(work: str, layout: str, size: int, real: dict) -> dict:
    """N links in ``<root>/<class>/<video>`` and the annotation files of both conditions."""
    root = os.path.join(work, f"{layout}_{size}")
    done = os.path.join(root, ".complete")
    paths = {"root": os.path.join(root, "data"), "counted": os.path.join(root, "counted"),
             "uncounted": os.path.join(root, "uncounted")}
    if os.path.isfile(done):
        return paths
    for index in range(CLASSES):
        os.makedirs(os.path.join(paths["root"], _entry(index)[0]), exist_ok=True)
    suffix = ".mp4" if layout == "video" else ""
    rows = []
    for index in range(size):
        label, video_id = _entry(index)
        link = os.path.join(paths["root"], label, video_id + suffix)
        if not os.path.islink(link):
            os.symlink(real[layout][index % REAL_CLIPS], link)
        rows.append((label, video_id + suffix, index % CLASSES))
    if layout == "frames":
        for split in ("training", "validation"):
            database = {video_id: {"subset": split, "annotations": {"label": label, "segment": [1, CLIP_FRAMES]}}
                        for label, video_id, _ in rows}
            _write_json(os.path.join(root, f"counted_{split}.json"),
                        {"labels": [_entry(i)[0] for i in range(CLASSES)], "database": database})
        _write_lines(os.path.join(root, "uncounted.txt"), [f"{label}/{name} {target}" for label, name, target in rows])
    else:
        _write_lines(os.path.join(root, "list.txt"), [f"{label}/{name} {target}" for label, name, target in rows])
    with open(done, "w", encoding="utf-8"):
        pass
    return paths


def _write_json(path: str, data) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def _write_lines(path: str, lines) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def write_count_cache(data_root: str, real_videos) -> float:
    """The decoder-count cache of every entry, from the real clips' counts (what count_frames writes);
    returns the seconds one real clip takes to count, for the tool's extrapolated time."""
    from src.data.frame_counts import COUNT_CACHE_FILE, record_video_count
    from src.data.readers import count_video_frames
    start = time.perf_counter()
    counts = {os.path.realpath(path): count_video_frames(path) for path in real_videos}
    per_video = (time.perf_counter() - start) / len(real_videos)
    cache = os.path.join(data_root, COUNT_CACHE_FILE)
    if not os.path.isfile(cache):
        for label in sorted(os.listdir(data_root)):
            folder = os.path.join(data_root, label)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
                path = os.path.join(folder, name)
                record_video_count(path, data_root, counts[os.path.realpath(path)])
    return per_video


def _cfg_overrides(layout: str, condition: str, split: str, root: str, data_root: str, size: int) -> dict:
    values = dict(RECIPE, video_path=data_root, save_dir=os.path.join(root, "out"))
    if layout == "frames" and condition == "counted":
        values.update(data_source="frames", annotation_path=os.path.join(root, f"counted_{split}.json"))
        return values
    values["num_classes"] = min(CLASSES, size)  # a list file has as many classes as its labels reach
    if layout == "frames":
        values.update(data_source="list", annotation_path=os.path.join(root, "uncounted.txt"),
                      val_annotation_path=os.path.join(root, "uncounted.txt"))
    else:
        values.update(data_source="video", annotation_path=os.path.join(root, "list.txt"),
                      val_annotation_path=os.path.join(root, "list.txt"))
    return values


def _peak_kib(pid) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int):
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        for task in os.listdir(f"/proc/{current}/task") if os.path.isdir(f"/proc/{current}/task") else ():
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="utf-8") as handle:
                    children = [int(child) for child in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            queue.extend(children)
    return found


def measure(spec: dict) -> dict:
    """In a fresh process: index and first batch of one split, with peak memory."""
    import warnings
    warnings.simplefilter("ignore")
    from src.config import load_config
    from src.data.dataset import build_video_source, dataset_from_source
    cfg = load_config(spec["cfg"].pop("config_path"), spec["cfg"])
    split = "train" if spec["split"] == "training" else "val"
    baseline_kib = _peak_kib("self")
    start = time.perf_counter()
    source = build_video_source(cfg, split)
    index_s = time.perf_counter() - start
    index_kib = _peak_kib("self")
    dataset = dataset_from_source(cfg, source, split)
    iterator = dataset.create_tuple_iterator(output_numpy=True, num_epochs=1)
    next(iterator)
    first_batch_s = time.perf_counter() - start
    workers = [_peak_kib(pid) for pid in _descendants(os.getpid())]
    return {"entries": len(source), "index_s": index_s, "first_batch_s": first_batch_s,
            "main_peak_mib": _peak_kib("self") / 1024, "index_growth_mib": (index_kib - baseline_kib) / 1024,
            "worker_peak_mib": max(workers, default=0) / 1024}


def smoke_run(layout: str, root: str, data_root: str, size: int) -> float:
    """Seconds of a whole capped training (2 steps, 1 epoch, no evaluation) through train.py."""
    cfg = _cfg_overrides(layout, "counted", "training", root, data_root, size)
    args = ["--train_sample_duration", "16", "--spatial_size", "112", "--resize_short", "128", "--batch_size", "2",
            "--max_steps_per_epoch", "2", "--num_epochs", "1", "--no_eval", "True", "--checkpoint_path", "",
            "--save_dir", os.path.join(root, f"smoke_{time.time_ns()}")]
    for key in ("config_path", "num_classes", "finetune_num_classes", "data_source", "video_path", "annotation_path"):
        args += [f"--{key}", str(cfg[key])]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "train.py"] + args, cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"capped training failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def loglog_slope(sizes, values) -> float:
    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    keep = values > 0
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes[keep]), np.log(values[keep]), 1)[0])


def bytes_per_entry(sizes, mib) -> float:
    if len(sizes) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(sizes, float), np.asarray(mib, float) * 2 ** 20, 1)[0])


def plot(rows, path: str) -> None:
    from src.utils.plots import plt, save_figure
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    groups = sorted({(r["layout"], r["condition"], r["split"]) for r in rows})
    for layout, condition, split in groups:
        part = sorted((r for r in rows if (r["layout"], r["condition"], r["split"]) == (layout, condition, split)),
                      key=lambda r: r["size"])
        sizes = [r["size"] for r in part]
        label = f"{layout} {condition} {split}"
        for key, style in (("index_s", "-o"), ("first_batch_s", "--s")):
            values = [r[key] for r in part]
            axes[0].loglog(sizes, values, style, label=f"{label} {key[:-2]} (slope {loglog_slope(sizes, values):.2f})")
        axes[1].plot(sizes, [r["main_peak_mib"] for r in part], "-o",
                     label=f"{label} main ({bytes_per_entry(sizes, [r['main_peak_mib'] for r in part]):.0f} B/entry)")
        worker = [r["worker_peak_mib"] for r in part]
        axes[1].plot(sizes, worker, "--s", label=f"{label} worker ({bytes_per_entry(sizes, worker):.0f} B/entry)")
    axes[0].set(xlabel="entries N", ylabel="seconds", title="index and first batch")
    axes[1].set(xlabel="entries N", ylabel="peak MiB", title="peak memory")
    axes[1].set_xscale("log")
    for axis in axes:
        axis.legend(fontsize=6)
        axis.grid(True, which="both", alpha=0.3)
    save_figure(fig, path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,240000", help="entries N, comma-separated")
    parser.add_argument("--layouts", default="frames,video", help="frames and/or video")
    parser.add_argument("--splits", default="training,validation", help="training and/or validation")
    parser.add_argument("--smoke_sizes", default="1000,240000",
                        help="N at which a capped train.py run is timed end to end ('' = none)")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "zoo_scale"),
                        help="where the datasets are built (kept for the next run)")
    parser.add_argument("--output", default="scale.json", help="file name in benchmarks/results/")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(REPLY + json.dumps(measure(json.loads(args.child))), flush=True)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    smoke_sizes = [int(size) for size in args.smoke_sizes.split(",") if size]
    real = make_real_clips(args.work_dir)
    rows, smoke, count_s = [], [], None
    print(f"{'layout':7} {'condition':10} {'split':10} {'N':>7} {'index s':>8} {'1st batch s':>11} "
          f"{'main MiB':>9} {'worker MiB':>10} {'cache MB':>8}")
    for layout in args.layouts.split(","):
        for size in sizes:
            start = time.perf_counter()
            paths = make_dataset(args.work_dir, layout, size, real)
            root = os.path.dirname(paths["root"])
            print(f"  ({layout} N={size} dataset ready in {time.perf_counter() - start:.1f} s)", flush=True)
            for condition in ("counted", "uncounted"):
                if layout == "video" and condition == "counted":
                    count_s = write_count_cache(paths["root"], real["video"])
                cache = os.path.join(paths["root"], "frame_counts.tsv")
                for split in args.splits.split(","):
                    if layout == "video" and condition == "uncounted" and os.path.isfile(cache):
                        os.remove(cache)  # counted runs come first; this one has no cache
                    spec = {"cfg": _cfg_overrides(layout, condition, split, root, paths["root"], size),
                            "split": split}
                    row = dict(layout=layout, condition=condition, split=split, size=size,
                               **run_fresh(os.path.abspath(__file__), "--child", spec, f"measurement {spec}"))
                    row["cache_mb"] = os.path.getsize(cache) / 1e6 if os.path.isfile(cache) else 0.0
                    rows.append(row)
                    print(f"{layout:7} {condition:10} {split:10} {size:>7} {row['index_s']:8.2f} "
                          f"{row['first_batch_s']:11.2f} {row['main_peak_mib']:9.0f} {row['worker_peak_mib']:10.0f} "
                          f"{row['cache_mb']:8.1f}", flush=True)
            if size in smoke_sizes:
                seconds = smoke_run(layout, root, paths["root"], size)
                smoke.append({"layout": layout, "size": size, "capped_train_s": seconds})
                print(f"  capped train.py ({layout}, N={size}, 2 steps): {seconds:.1f} s", flush=True)
    fits = []
    for layout, condition, split in sorted({(r["layout"], r["condition"], r["split"]) for r in rows}):
        part = sorted((r for r in rows if (r["layout"], r["condition"], r["split"]) == (layout, condition, split)),
                      key=lambda r: r["size"])
        n = [r["size"] for r in part]
        fits.append({"layout": layout, "condition": condition, "split": split,
                     "index_slope": loglog_slope(n, [r["index_s"] for r in part]),
                     "first_batch_slope": loglog_slope(n, [r["first_batch_s"] for r in part]),
                     "main_index_bytes_per_entry": bytes_per_entry(n, [r["index_growth_mib"] for r in part]),
                     "main_bytes_per_entry": bytes_per_entry(n, [r["main_peak_mib"] for r in part]),
                     "worker_bytes_per_entry": bytes_per_entry(n, [r["worker_peak_mib"] for r in part])})
    print(f"\n{'layout':7} {'condition':10} {'split':10} {'index slope':>11} {'batch slope':>11} "
          f"{'index B/entry':>13} {'main B/entry':>12} {'worker B/entry':>14}")
    for fit in fits:
        print(f"{fit['layout']:7} {fit['condition']:10} {fit['split']:10} {fit['index_slope']:11.2f} "
              f"{fit['first_batch_slope']:11.2f} {fit['main_index_bytes_per_entry']:13.0f} "
              f"{fit['main_bytes_per_entry']:12.0f} {fit['worker_bytes_per_entry']:14.0f}")
    if count_s is not None:
        print(f"\ncount_frames decodes one 10-second clip in {count_s:.2f} s: {max(sizes)} videos take about "
              f"{count_s * max(sizes) / 3600 / (os.cpu_count() or 1):.1f} h on this machine's {os.cpu_count()} cores")
    results = os.path.join(ROOT, "benchmarks", "results")
    os.makedirs(results, exist_ok=True)
    payload = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "recipe": RECIPE, "rows": rows,
               "fits": fits, "capped_training": smoke, "count_frames_s_per_video": count_s}
    with open(os.path.join(results, args.output), "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    plot(rows, os.path.join(results, os.path.splitext(args.output)[0] + ".png"))
    print(f"written {os.path.join(results, args.output)} and its plot")


if __name__ == "__main__":
    main()
