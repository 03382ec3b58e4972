"""Make a small synthetic BMN data set in the real layouts, for demos and smoke runs.

Video names, durations and action segments are a random sample of the real ActivityNet-1.3
annotations (``--anet_dir``: anet_anno_action.json, video_info_new.csv, action_name.csv); only the
features are synthetic. Writes::

    OUT/activitynet/anet_anno_action.json   the sampled entries, copied from the real file
    OUT/activitynet/video_info_new.csv      their rows of the real CSV (subset column included)
    OUT/activitynet/action_name.csv         copied
    OUT/activitynet/features/v_<id>.csv     header + 100 x 400 values per video
    OUT/tabletennis/features/<video>.pkl    {"image_feature": (frames, 2048) float32}, 25 fps
    OUT/tabletennis/labels_train.json       {"fps": 25, "gts": [{"url", "total_frames", "actions"}]}
    OUT/tabletennis/labels_val.json         the same for the held-out long video(s)

Features: every step is background noise plus, inside an action, a class direction (a part shared
by all actions plus a random part per class) scaled by a soft, noisy "actionness" profile: logistic
ramps of a few percent of the segment around the (jittered) boundaries, so boundaries are learnable
but not trivial. The table-tennis videos are long (minutes) with many short strokes and carry, on
purpose, the usual label / feature mismatches (features shorter than ``total_frames``, a label
without a pickle, a pickle without a label) for ``src.applications.tabletennis build`` to report.

Example: ``python -m src.demo.make_bmn_demo --out /tmp/bmn_demo --num_videos 100 --seed 0``
"""
import csv
import json
import os
import pickle
import shutil
import sys

import numpy as np
from tqdm import tqdm

from src.metrics.proposal_metrics import SUMMARY_KEYS, proposal_metrics
from src.tools.cli import ToolError, check_positive, run_main, tool_parser

TSCALE, ANET_DIM, TT_DIM, TT_FPS = 100, 400, 2048, 25
DEFAULT_ANET_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                                                 "activitynet"))
TT_CLASSES = ["serve", "forehand", "backhand", "push", "smash", "block", "chop", "lob"]


def _soft_profile(times: np.ndarray, segments: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """Actionness in [0, 1] at ``times`` for (G, 2) segments with logistic ramps of width ``ramp``."""
    rise = 1.0 / (1.0 + np.exp(-(times[None, :] - segments[:, :1]) / ramp[:, None]))
    fall = 1.0 / (1.0 + np.exp(-(segments[:, 1:] - times[None, :]) / ramp[:, None]))
    return rise * fall  # (G, len(times))


def class_directions(num_classes: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(classes, dim) signal directions: a part shared by all actions ("actionness") plus a class part,
    scaled so the signal along a direction is several times the per-dimension noise."""
    shared = rng.normal(0.0, 1.0, dim)
    directions = (shared[None, :] + rng.normal(0.0, 1.0, (num_classes, dim))) / np.sqrt(2.0)
    return directions / np.sqrt(8.0)


def synthetic_features(times: np.ndarray, segments: np.ndarray, class_ids: np.ndarray, directions: np.ndarray,
                       rng: np.random.Generator, signal: float, noise: float) -> np.ndarray:
    """(len(times), dim) float32 features: noise + actionness-weighted class directions."""
    features = rng.normal(0.0, noise, (len(times), directions.shape[1]))
    features += rng.normal(0.0, 0.3 * noise, directions.shape[1])  # per-video offset ("scene")
    if len(segments):
        lengths = segments[:, 1] - segments[:, 0]
        ramp = np.maximum(0.04 * lengths * rng.uniform(0.5, 1.5, len(segments)), 1e-3)
        jitter = rng.normal(0.0, 0.02, segments.shape) * lengths[:, None]
        profile = _soft_profile(times, segments + jitter, ramp)
        profile *= rng.uniform(0.7, 1.3, profile.shape[0])[:, None]  # per-action strength
        features += signal * profile.T @ directions[class_ids]
    return features.astype(np.float32)


def _read_real_annotations(anet_dir: str):
    paths = {name: os.path.join(anet_dir, name) for name in ("anet_anno_action.json", "video_info_new.csv",
                                                             "action_name.csv")}
    for path in paths.values():
        if not os.path.isfile(path):
            raise ToolError(f"{path} not found; pass --anet_dir, the folder of the real ActivityNet annotation "
                            f"files (anet_anno_action.json, video_info_new.csv, action_name.csv)")
    with open(paths["anet_anno_action.json"], "r", encoding="utf-8") as handle:
        database = json.load(handle)
    with open(paths["video_info_new.csv"], "r", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, {row["video"]: row for row in reader}
    with open(paths["action_name.csv"], "r", encoding="utf-8", newline="") as handle:
        classes = [row[0] for row in csv.reader(handle)][1:]
    return database, header, rows, classes, paths["action_name.csv"]


def _usable(entry: dict) -> bool:
    duration = entry["duration_second"]
    return bool(entry["annotations"]) and all(0 <= a["segment"][0] < a["segment"][1] <= duration
                                              for a in entry["annotations"])


def make_activitynet(out_dir: str, num_videos: int, val_fraction: float, rng: np.random.Generator,
                     anet_dir: str, signal: float, noise: float) -> dict:
    database, header, rows, classes, action_names = _read_real_annotations(anet_dir)
    by_subset = {subset: sorted(name for name, entry in database.items()
                                if rows.get(name, {}).get("subset") == subset and _usable(entry))
                 for subset in ("training", "validation")}
    num_val = max(1, int(round(num_videos * val_fraction)))
    chosen = {"training": rng.choice(by_subset["training"], num_videos - num_val, replace=False),
              "validation": rng.choice(by_subset["validation"], num_val, replace=False)}
    names = sorted(np.concatenate(list(chosen.values())).tolist())
    class_index = {name: index for index, name in enumerate(classes)}
    directions = class_directions(len(classes), ANET_DIM, rng)

    folder = os.path.join(out_dir, "activitynet")
    feature_dir = os.path.join(folder, "features")
    os.makedirs(feature_dir, exist_ok=True)
    column_header = ",".join(f"f{i}" for i in range(ANET_DIM))
    for name in tqdm(names, desc="activitynet features", unit="video", dynamic_ncols=True):
        entry = database[name]
        span = entry["feature_frame"] / entry["duration_frame"] * entry["duration_second"]
        times = (np.arange(TSCALE) + 0.5) / TSCALE * span
        segments = np.array([a["segment"] for a in entry["annotations"]], dtype=np.float64)
        class_ids = np.array([class_index[a["label"]] for a in entry["annotations"]])
        features = synthetic_features(times, segments, class_ids, directions, rng, signal, noise)
        np.savetxt(os.path.join(feature_dir, f"{name}.csv"), features, fmt="%.4f", delimiter=",",
                   header=column_header, comments="")
    with open(os.path.join(folder, "anet_anno_action.json"), "w", encoding="utf-8") as handle:
        json.dump({name: database[name] for name in names}, handle)
    with open(os.path.join(folder, "video_info_new.csv"), "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows[name] for name in names)
    shutil.copyfile(action_names, os.path.join(folder, "action_name.csv"))
    return {"training": len(chosen["training"]), "validation": len(chosen["validation"])}


def _strokes(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """(G, 2) stroke segments in seconds: 0.6-2.4 s long, 0.8-4 s apart."""
    segments, cursor = [], rng.uniform(1.0, 3.0)
    while True:
        length = rng.uniform(0.6, 2.4)
        if cursor + length > seconds - 0.5:
            break
        segments.append((cursor, cursor + length))
        cursor += length + rng.uniform(0.8, 4.0)
    return np.round(np.array(segments).reshape(-1, 2), 2)


def make_tabletennis(out_dir: str, num_videos: int, seconds: float, rng: np.random.Generator, signal: float,
                     noise: float) -> dict:
    folder = os.path.join(out_dir, "tabletennis")
    feature_dir = os.path.join(folder, "features")
    os.makedirs(feature_dir, exist_ok=True)
    directions = class_directions(len(TT_CLASSES), TT_DIM, rng)
    labels = {"train": [], "val": []}
    for index in tqdm(range(num_videos), desc="table-tennis features", unit="video", dynamic_ncols=True):
        name = f"match_{index:03d}"
        length = seconds * rng.uniform(0.8, 1.2)
        segments = _strokes(length, rng)
        class_ids = rng.integers(0, len(TT_CLASSES), len(segments))
        total_frames = int(length * TT_FPS)
        # mismatch on purpose: the first video's features stop in the middle of its last action
        feature_frames = int(segments[-1].mean() * TT_FPS) if index == 0 else total_frames
        times = (np.arange(feature_frames) + 0.5) / TT_FPS
        features = synthetic_features(times, segments, class_ids, directions, rng, signal, noise)
        with open(os.path.join(feature_dir, f"{name}.pkl"), "wb") as handle:
            pickle.dump({"image_feature": features}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        actions = [{"label_ids": [int(c)], "label_names": [TT_CLASSES[c]], "start_id": float(s), "end_id": float(e)}
                   for (s, e), c in zip(segments, class_ids)]
        labels["val" if index == num_videos - 1 else "train"].append(
            {"url": f"https://example.invalid/{name}.mp4", "total_frames": total_frames, "actions": actions})
    # a label without features and a pickle without label, as real collections have
    labels["train"].append({"url": "https://example.invalid/match_missing.mp4", "total_frames": 1000,
                            "actions": [{"label_ids": [0], "label_names": [TT_CLASSES[0]], "start_id": 2.0,
                                         "end_id": 3.0}]})
    with open(os.path.join(feature_dir, "match_unlabelled.pkl"), "wb") as handle:
        pickle.dump({"image_feature": rng.normal(0, noise, (200, TT_DIM)).astype(np.float32)}, handle)
    for split, gts in labels.items():
        with open(os.path.join(folder, f"labels_{split}.json"), "w", encoding="utf-8") as handle:
            json.dump({"fps": TT_FPS, "gts": gts}, handle, indent=1)
    return {split: len(gts) for split, gts in labels.items()}


def prior_baseline(annotation_path: str, video_info_path: str, num_proposals: int = 100) -> dict:
    """Metrics of a feature-blind baseline on the validation videos: the same ``num_proposals``
    normalised segments for every video, the most frequent training segments on a 0.05 grid."""
    with open(annotation_path, "r", encoding="utf-8") as handle:
        database = json.load(handle)
    with open(video_info_path, "r", encoding="utf-8", newline="") as handle:
        subsets = {row["video"]: row["subset"] for row in csv.DictReader(handle)}
    grid = 20
    counts = np.zeros((grid + 1, grid + 1))
    for name, entry in database.items():
        if subsets.get(name) == "training":
            for annotation in entry["annotations"]:
                begin, end = np.clip(np.array(annotation["segment"]) / entry["duration_second"], 0, 1)
                counts[int(round(begin * grid)), int(round(end * grid))] += 1
    begin, end = np.triu_indices(grid + 1, 1)
    order = np.argsort(-counts[begin, end], kind="stable")[:num_proposals]
    ground_truth, proposals = {}, {}
    for name, entry in database.items():
        if subsets.get(name) != "validation":
            continue
        duration = entry["duration_second"]
        ground_truth[name[2:]] = [a["segment"] for a in entry["annotations"]]
        proposals[name[2:]] = [{"segment": [begin[i] / grid * duration, end[i] / grid * duration],
                                "score": float(counts[begin[i], end[i]] + 1e-3 * (num_proposals - rank))}
                               for rank, i in enumerate(order)]
    metrics = proposal_metrics(ground_truth, proposals, num_proposals)
    return {key: metrics[key] for key in SUMMARY_KEYS}


DEMO_VIDEOS, DEMO_LONG_VIDEOS = 100, 3


def run_bmn_demo(demo) -> dict:
    """The BMN part of ``python -m src.demo`` (``demo`` runs and times the commands): generate the
    data, train + evaluate BMN on the ActivityNet-style videos (train.py, configs/bmn/demo.yaml),
    export it, build table-tennis instances, train on them and infer the held-out long video.
    Returns the figures reached, with a feature-blind baseline for comparison."""
    data = demo.path("bmn")
    anet, tt = os.path.join(data, "activitynet"), os.path.join(data, "tabletennis")
    instances = os.path.join(data, "tabletennis_instances")
    demo.run("generate the BMN demo data", ["-m", "src.demo.make_bmn_demo", "--out", data, "--num_videos",
                                            str(DEMO_VIDEOS), "--num_long_videos", str(DEMO_LONG_VIDEOS),
                                            "--seed", "0"],
             done=os.path.exists(os.path.join(tt, "labels_val.json")))
    anet_paths = ["--feature_path", os.path.join(anet, "features"),
                  "--annotation_path", os.path.join(anet, "anet_anno_action.json"),
                  "--video_info_path", os.path.join(anet, "video_info_new.csv")]
    out = demo.path("bmn_activitynet")
    demo.run("train + evaluate BMN (ActivityNet-style features)",
             ["train.py", "--config_path", "configs/bmn/demo.yaml", "--save_dir", out] + anet_paths)
    with open(os.path.join(out, "checkpoints", "history.json"), encoding="utf-8") as handle:
        history = json.load(handle)
    best = max(history, key=lambda record: record["metric"])
    demo.run("export BMN to MINDIR", ["export.py", "--config_path", "configs/bmn/demo.yaml", "--checkpoint_path",
                                      os.path.join(out, "checkpoints", "bmn_demo_best.ckpt"), "--batch_size", "1",
                                      "--file_format", "MINDIR", "--file_name", demo.path("bmn_demo")])

    demo.run("build table-tennis BMN instances (8 s windows)",
             ["-m", "src.applications.tabletennis", "build", "--feature_dir", os.path.join(tt, "features"),
              "--train_labels", os.path.join(tt, "labels_train.json"), "--val_labels",
              os.path.join(tt, "labels_val.json"), "--out_dir", instances,
              "--config_path", "configs/bmn/tabletennis.yaml"])
    tt_out = demo.path("bmn_tabletennis")
    demo.run("train BMN on the table-tennis windows",
             ["train.py", "--config_path", "configs/bmn/tabletennis.yaml", "--dataset", "demo_tabletennis",
              "--feature_path", os.path.join(instances, "features"),
              "--annotation_path", os.path.join(instances, "label.json"), "--num_epochs", "2",
              "--lr_de_epochs", "2", "--batch_size", "4", "--num_workers", "2", "--checkpoints_num_keep", "1",
              "--save_dir", tt_out])
    submission = demo.path("bmn_tabletennis_submission.json")
    demo.run("infer the held-out long video (4 s windows, merged)",
             ["-m", "src.applications.tabletennis", "infer", "--feature_dir", os.path.join(tt, "features"),
              "--checkpoint_path", os.path.join(tt_out, "checkpoints", "bmn_demo_tabletennis_best.ckpt"),
              "--label_file", os.path.join(tt, "labels_val.json"), "--out", submission,
              "--config_path", "configs/bmn/tabletennis.yaml"])
    with open(os.path.splitext(submission)[0] + "_metrics.json", encoding="utf-8") as handle:
        long_video = json.load(handle)

    baseline = prior_baseline(os.path.join(anet, "anet_anno_action.json"), os.path.join(anet, "video_info_new.csv"))
    figures = {f"{key} (best epoch {best['epoch']})": best["eval"][key] for key in SUMMARY_KEYS}
    figures.update({f"baseline {key}": baseline[key] for key in ("AR@100", "AUC")})
    figures["train seconds"] = round(sum(record["epoch_seconds"] for record in history), 1)
    figures["train ms/step (batch 4)"] = round(1000 * history[-1]["step_seconds"])
    figures["long video AR (all proposals)"] = long_video["AR@all"]
    figures["long video AUC"] = long_video["AUC"]
    return figures


def build_parser():
    parser = tool_parser("src.demo.make_bmn_demo", __doc__)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--num_videos", type=int, default=100, help="ActivityNet-style videos (train + validation)")
    parser.add_argument("--val_fraction", type=float, default=0.2, help="share of validation videos")
    parser.add_argument("--num_long_videos", type=int, default=3,
                        help="table-tennis-style long videos (the last one is the validation video)")
    parser.add_argument("--long_seconds", type=float, default=120.0, help="mean length of a long video (s)")
    parser.add_argument("--signal", type=float, default=1.0, help="strength of the action signal")
    parser.add_argument("--noise", type=float, default=1.0, help="standard deviation of the feature noise")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--anet_dir", default=DEFAULT_ANET_DIR, help="folder of the real ActivityNet annotation files")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("num_videos", args.num_videos)
        check_positive("num_long_videos", args.num_long_videos)
        if args.num_videos < 2 or not 0 < args.val_fraction < 1:
            raise ToolError("--num_videos must be >= 2 and --val_fraction in (0, 1)")
        rng = np.random.default_rng(args.seed)
        anet = make_activitynet(args.out, args.num_videos, args.val_fraction, rng, args.anet_dir, args.signal,
                                args.noise)
        tt = make_tabletennis(args.out, args.num_long_videos, args.long_seconds, rng, args.signal, args.noise)
        print(f"wrote {args.out}: ActivityNet-style {anet['training']} training + {anet['validation']} validation "
              f"videos (activitynet/), table-tennis-style {tt['train']} training + {tt['val']} validation label "
              f"entries (tabletennis/)")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
