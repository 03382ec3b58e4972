"""Make the BMN demo's long videos: the demo's motion events at known times among distractor motion.

Each video (25 fps, ``--min_frames`` .. ``--max_frames`` frames, 128x171 like the recognition demo)
shows one scene of the recognition demo's kind (textured background, a textured main object and
2-3 smaller distractors that wander all the time). The main object stays still except during 1-3
events, in which it performs one of the demo's motions (move left / right / up / down, rotate
clockwise / anticlockwise) for 12-35% of the video; events never touch each other. The events
are the ground truth. Writes::

    OUT/videos/train/v_long_XXX.avi, OUT/videos/val/v_long_XXX.avi    MJPG AVI
    OUT/anet_anno_action.json   {v_long_XXX: {duration_second, duration_frame, feature_frame,
                                 annotations: [{segment: [s, e] seconds, label}]}}  (BSN/BMN layout)
    OUT/video_info_new.csv      video, numFrame, seconds, fps, rfps, subset (training / validation), featureFrame

``feature_frame`` is the span of the snippet features that ``python -m src.tools.data.extract_features``
computes with ``--snippet_frames`` / ``--interval`` (the same values must be used there).

Example: ``python -m src.demo.make_bmn_demo --out demo_work/bmn_long --num_train 48 --num_val 16 --seed 0``
"""
import csv
import functools
import json
import math
import os
import sys
from typing import List, Tuple

import numpy as np

from src.demo.make_demo_dataset import (CLASS_MOTIONS, DEFAULT_CLASSES, DISTRACTOR_COUNT, DISTRACTOR_SIZE,
                                        MIDDLE_BOX, MOVE_HEADING_JITTER, MOVE_SPEED, NUISANCE_SPIN, OBJECT_SIZE,
                                        REFERENCE_SIDE, SPIN_SPEED, distractor_track, draw_sprite, luma,
                                        make_sprite, textured_background, write_avi)
from src.metrics.proposal_metrics import SUMMARY_KEYS, proposal_metrics
from src.tools.cli import ToolError, check_positive, run_main, tool_parser
from src.tools.data.extract_features import snippet_count
from src.tools.data.videos import DONE, VideoOutcome, report_outcomes, run_per_video

FPS = 25.0
HEIGHT, WIDTH = 128, 171
EVENT_SHARE = (0.12, 0.35)  # length of an event, fraction of the video
MIN_GAP = 12  # frames between two events, and before the first / after the last


def plan_events(rng: np.random.Generator, num_frames: int) -> List[Tuple[int, int, str]]:
    """1-3 non-touching ``(first frame, end frame (exclusive), class)`` events."""
    count = int(rng.integers(1, 4))
    lengths = (rng.uniform(*EVENT_SHARE, count) * num_frames).astype(int)
    while lengths.sum() + MIN_GAP * (count + 1) > num_frames:
        lengths = (lengths * 0.8).astype(int)
    free = num_frames - lengths.sum() - MIN_GAP * (count + 1)
    gaps = MIN_GAP + np.floor(rng.dirichlet(np.ones(count + 1)) * free).astype(int)
    events, cursor = [], 0
    for length, gap in zip(lengths, gaps[:-1]):
        cursor += gap
        events.append((int(cursor), int(cursor + length), str(rng.choice(DEFAULT_CLASSES))))
        cursor += length
    return events


def event_track(rng: np.random.Generator, events: List[Tuple[int, int, str]], num_frames: int, unit: float
                ) -> np.ndarray:
    """(T, 4) ``[centre_x, centre_y, angle, scale]`` of the main object: still outside the events
    (a slight incidental spin), the event's motion inside them."""
    velocity = np.zeros((num_frames, 2))
    spin = np.full(num_frames, rng.uniform(-NUISANCE_SPIN, NUISANCE_SPIN) / 4)
    for first, end, class_name in events:
        motion = CLASS_MOTIONS[class_name]
        if motion.heading is not None:
            heading = math.radians(motion.heading + rng.uniform(-MOVE_HEADING_JITTER, MOVE_HEADING_JITTER))
            velocity[first:end] = np.array([math.cos(heading), math.sin(heading)]) * rng.uniform(*MOVE_SPEED) * unit
        if motion.spin:
            spin[first:end] = motion.spin * rng.uniform(*SPIN_SPEED)
    start = np.array([WIDTH / 2, HEIGHT / 2]) + rng.uniform(-MIDDLE_BOX / 2, MIDDLE_BOX / 2, 2) * (WIDTH, HEIGHT)
    centres = np.mod(start + np.cumsum(velocity, axis=0) - velocity[0], (WIDTH, HEIGHT))
    angles = rng.uniform(0, 360) + np.cumsum(spin) - spin[0]
    return np.column_stack([centres, angles, np.ones(num_frames)])


def render_long_video(seed: int, index: int, num_frames: int) -> Tuple[np.ndarray, List[Tuple[int, int, str]]]:
    """Frames (T, H, W, 3) uint8 BGR and the events of long video ``index``; deterministic in
    (seed, index)."""
    rng = np.random.default_rng([seed, index])
    unit = min(HEIGHT, WIDTH) / REFERENCE_SIDE
    background = textured_background(rng, HEIGHT, WIDTH)
    background_luma = luma(background.mean(axis=(0, 1)))
    sprite = make_sprite(rng, min(HEIGHT, WIDTH) * rng.uniform(*OBJECT_SIZE), background_luma)
    events = plan_events(rng, num_frames)
    objects = []
    for _ in range(rng.integers(DISTRACTOR_COUNT[0], DISTRACTOR_COUNT[1] + 1)):
        distractor = make_sprite(rng, min(HEIGHT, WIDTH) * rng.uniform(*DISTRACTOR_SIZE), background_luma)
        objects.append((distractor, distractor_track(rng, num_frames, HEIGHT, WIDTH, unit)))
    objects.append((sprite, event_track(rng, events, num_frames, unit)))
    video = np.empty((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    for frame_index in range(num_frames):
        frame = background.copy()
        for layer, path in objects:
            x, y, angle, scale = path[frame_index]
            draw_sprite(frame, layer, (x, y), angle, scale)
        video[frame_index] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return video, events


def _write_long_video(item, seed: int, out_dir: str) -> Tuple[VideoOutcome, dict]:
    index, subset, num_frames = item
    name = f"v_long_{index:03d}"
    video, events = render_long_video(seed, index, num_frames)
    write_avi(os.path.join(out_dir, "videos", "train" if subset == "training" else "val", name + ".avi"), video, FPS)
    return VideoOutcome(name, DONE), {"name": name, "subset": subset, "num_frames": num_frames, "events": events}


def make_long_videos(out_dir: str, num_train: int, num_val: int, seed: int, frame_range: Tuple[int, int],
                     snippet_frames: int, interval: int, num_workers: int = 1) -> dict:
    """Write the videos, anet_anno_action.json and video_info_new.csv (module docstring)."""
    for folder in ("train", "val"):
        os.makedirs(os.path.join(out_dir, "videos", folder), exist_ok=True)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(frame_range[0], frame_range[1] + 1, num_train + num_val)
    items = [(index, "training" if index < num_train else "validation", int(lengths[index]))
             for index in range(num_train + num_val)]
    results = run_per_video(functools.partial(_write_long_video, seed=seed, out_dir=out_dir), items, num_workers,
                            "long videos")
    report_outcomes([outcome for outcome, _ in results], False, "long videos")
    database, rows = {}, []
    for _, video in results:
        frames = video["num_frames"]
        feature_frames = (snippet_count(frames, snippet_frames, interval) - 1) * interval + snippet_frames
        database[video["name"]] = {
            "duration_second": frames / FPS, "duration_frame": frames, "feature_frame": feature_frames,
            "annotations": [{"segment": [first / FPS, end / FPS], "label": label}
                            for first, end, label in video["events"]]}
        rows.append({"video": video["name"], "numFrame": frames, "seconds": frames / FPS, "fps": FPS, "rfps": FPS,
                     "subset": video["subset"], "featureFrame": feature_frames})
    with open(os.path.join(out_dir, "anet_anno_action.json"), "w", encoding="utf-8") as handle:
        json.dump(database, handle, indent=1)
    with open(os.path.join(out_dir, "video_info_new.csv"), "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"training": num_train, "validation": num_val,
            "events": sum(len(video["events"]) for _, video in results)}


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


DEMO_TRAIN, DEMO_VAL = 48, 16
DEMO_SNIPPET, DEMO_INTERVAL = 16, 8
def build_parser():
    parser = tool_parser("src.demo.make_bmn_demo", __doc__)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--num_train", type=int, default=DEMO_TRAIN, help="training videos")
    parser.add_argument("--num_val", type=int, default=DEMO_VAL, help="held-out (validation) videos")
    parser.add_argument("--min_frames", type=int, default=300, help="frames of the shortest video")
    parser.add_argument("--max_frames", type=int, default=450, help="frames of the longest video")
    parser.add_argument("--snippet_frames", type=int, default=DEMO_SNIPPET, help="frames per feature snippet")
    parser.add_argument("--interval", type=int, default=DEMO_INTERVAL, help="frames between snippet starts")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--num_workers", type=int, default=1, help="parallel worker processes")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        for name in ("num_train", "num_val", "snippet_frames", "interval"):
            check_positive(name, getattr(args, name))
        if not args.snippet_frames + 4 * MIN_GAP <= args.min_frames <= args.max_frames:
            raise ToolError(f"need {args.snippet_frames + 4 * MIN_GAP} <= --min_frames <= --max_frames")
        made = make_long_videos(args.out, args.num_train, args.num_val, args.seed, (args.min_frames, args.max_frames),
                                args.snippet_frames, args.interval, args.num_workers)
        print(f"wrote {args.out}: {made['training']} training + {made['validation']} validation long videos with "
              f"{made['events']} events")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
