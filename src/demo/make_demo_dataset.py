"""Generate a small, learnable action-recognition dataset in the UCF101 layout.

Every class is a MOTION of one textured, asymmetric object over a textured background::

    MoveLeft, MoveRight, MoveUp, MoveDown        translation (2-3.5 px/frame at 128 px, +-10 degrees)
    RotateClockwise, RotateAnticlockwise         rotation (8-12 degrees/frame, slow random drift)
    Expand, Shrink  (optional, --classes)        scale 0.6x <-> 1.4x over the video, slow drift

The object's size, position, start angle and speed are random per video (its position at the
middle frame lies in the central 40% of the frame, so centre crops see it); 2-3 smaller, slower
distractor objects wander independently (random-walk velocity and spin); all objects wrap around
the frame edges. The scene (background
texture, object shape and colours) belongs to the group (gXX) and is the same for every class, so
appearance never tells the class: no single frame does, the order of frames does, and optical flow
shows it directly. Train and test use disjoint groups, as in UCF101 (test groups start at g01,
train groups at g08), so the test split measures generalisation to unseen scenes.

Horizontal flipping changes the label of this dataset (MoveLeft <-> MoveRight, clockwise <->
anticlockwise): train on it without random flips, or with
``--flip_label_pairs MoveLeft:MoveRight,RotateClockwise:RotateAnticlockwise``.

Written files (the real UCF101 formats, CRLF line endings like the originals)::

    <out>/videos/<Class>/v_<Class>_gXX_cYY.avi     MJPG AVI (OpenCV's own encoder), 25 fps
    <out>/ucfTrainTestlist/classInd.txt            "1 MoveLeft"
    <out>/ucfTrainTestlist/trainlist01.txt         "MoveLeft/v_MoveLeft_g08_c01.avi 1"
    <out>/ucfTrainTestlist/testlist01.txt          "MoveLeft/v_MoveLeft_g01_c01.avi"
    <out>/demo_info.json                           the generation settings

The same seed gives the same frames (and files); scenes are seeded by (seed, group) and videos by
(seed, class, group, clip), so a video does not change when the number of videos per class changes.

Example (then the tools of ``src.tools.data``: generate_rgb_jpgs, convert_rgb_to_flow, ucf101_json)::

    python -m src.demo.make_demo_dataset --out demo_work/demo --seed 0
"""
import functools
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

from src.tools.cli import ToolError, check_positive, run_main, tool_parser
from src.tools.data.videos import DONE, FAILED, VideoOutcome, report_outcomes, run_per_video


@dataclass(frozen=True)
class Motion:
    """What defines a class: a translation heading (degrees, 0 = right, 90 = down), a rotation
    sense (+1 clockwise on screen, -1 anticlockwise) or a growth sense (+1 expand, -1 shrink)."""
    heading: Optional[float] = None
    spin: int = 0
    growth: int = 0


# Order fixes each class's seed stream, so the table only ever grows at the end.
CLASS_MOTIONS = {
    "MoveLeft": Motion(heading=180.0),
    "MoveRight": Motion(heading=0.0),
    "MoveUp": Motion(heading=270.0),
    "MoveDown": Motion(heading=90.0),
    "RotateClockwise": Motion(spin=1),
    "RotateAnticlockwise": Motion(spin=-1),
    "Expand": Motion(growth=1),
    "Shrink": Motion(growth=-1),
}
DEFAULT_CLASSES = ("MoveLeft", "MoveRight", "MoveUp", "MoveDown", "RotateClockwise", "RotateAnticlockwise")

# Magnitudes in pixels at a 128-pixel short side (scaled with the frame size): a few pixels per
# frame, which DIS and TV-L1 track reliably; distractors are smaller and slower than the object.
MOVE_SPEED = (2.0, 3.5)           # px/frame of the translation classes
MOVE_HEADING_JITTER = 10.0        # degrees around the class heading
SPIN_SPEED = (8.0, 12.0)          # degrees/frame of the rotation classes
SCALE_RANGE = ((0.55, 0.7), (1.3, 1.45))  # start/end scale of Expand (reversed for Shrink)
NUISANCE_SPIN = 1.0               # degrees/frame of incidental spin of the other classes
NUISANCE_DRIFT = 0.6              # px/frame of incidental drift of the non-translation classes
MIDDLE_BOX = 0.4                  # the object's centre at the middle frame: central 40% of each side
OBJECT_SIZE = (0.30, 0.40)        # object diameter, fraction of the short side
DISTRACTOR_SIZE = (0.07, 0.12)
DISTRACTOR_SPEED = (0.3, 1.5)     # px/frame, heading random-walks by DISTRACTOR_TURN radians/frame
DISTRACTOR_TURN = 0.3
DISTRACTOR_SPIN = 3.0
DISTRACTOR_COUNT = (2, 3)
MIN_TEXTURE_CONTRAST = 60.0       # grey levels between the two colours of an object's pattern
MIN_OBJECT_CONTRAST = 40.0        # grey levels between an object's mean colour and the background's
PATTERN_GRID = 16                 # cells of the largest object pattern
SHAPES = ("ellipse", "triangle", "square", "pentagon", "hexagon", "star")
REFERENCE_SIDE = 128.0
VIDEO_QUALITY = 95


@dataclass(frozen=True)
class VideoSpec:
    class_name: str
    group: int
    clip: int
    label: int  # 1-based class index of classInd.txt

    @property
    def video_id(self) -> str:
        return f"v_{self.class_name}_g{self.group:02d}_c{self.clip:02d}"


@dataclass(frozen=True)
class FrameSpec:
    height: int
    width: int
    num_frames: int
    seed: int
    fps: float


# --- drawing ---------------------------------------------------------------------------------

def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(20, 235, size=3).astype(np.float32)


def luma(colour_bgr: np.ndarray) -> float:
    """Grey level of a BGR colour, as ``cv2.cvtColor(..., COLOR_BGR2GRAY)`` computes it."""
    return float(np.dot(colour_bgr, (0.114, 0.587, 0.299)))


def contrasting_colours(rng: np.random.Generator, background_luma: float) -> Tuple[np.ndarray, np.ndarray]:
    """Two object colours whose grey levels differ from each other (texture) and, on average, from
    the background: flow is computed on grey frames, where a hue-only difference is invisible."""
    while True:
        first, second = _random_colour(rng), _random_colour(rng)
        inner, outer = abs(luma(first) - luma(second)), abs((luma(first) + luma(second)) / 2 - background_luma)
        if inner >= MIN_TEXTURE_CONTRAST and outer >= MIN_OBJECT_CONTRAST:
            return first, second


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth two-colour noise at two scales, (H, W, 3) float32 in 0..255."""
    coarse = cv2.resize(rng.random((height // 16 + 2, width // 16 + 2), dtype=np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(rng.random((height // 4 + 1, width // 4 + 1), dtype=np.float32), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    mix = np.clip(0.6 * coarse + 0.4 * fine, 0.0, 1.0)[..., None]
    first, second = _random_colour(rng), _random_colour(rng)
    return first + (second - first) * mix


def _outline(rng: np.random.Generator, shape: str, radius: float) -> np.ndarray:
    """Polygon vertices (N, 2) of ``shape`` centred on the origin, slightly stretched at random."""
    if shape == "star":
        angles = np.arange(10) * (np.pi / 5)
        radii = np.where(np.arange(10) % 2 == 0, radius, 0.5 * radius)
    else:
        sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6, "ellipse": 48}[shape]
        angles = np.arange(sides) * (2 * np.pi / sides)
        radii = np.full(sides, radius)
    points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return points * np.array([1.0, rng.uniform(0.7, 1.0)])


def make_sprite(rng: np.random.Generator, diameter: float, background_luma: float,
                max_scale: float = 1.0) -> np.ndarray:
    """An object centred on a square patch big enough for any rotation up to ``max_scale``:
    (S, S, 4) float32, premultiplied colour + alpha, contrasting with the background's grey level.

    The fill is a blocky two-colour pattern plus an off-centre dot, so rotation shows on the inside
    of the object too (a plain disc would look still while spinning).
    """
    # A fixed number of draws whatever the size, so one generator state gives one look at any size.
    outline = _outline(rng, SHAPES[rng.integers(len(SHAPES))], diameter / 2)
    first, second = contrasting_colours(rng, background_luma)
    dot = _random_colour(rng)
    cells_across = rng.uniform(3.5, 5.5)
    grid = rng.random((PATTERN_GRID, PATTERN_GRID), dtype=np.float32) < 0.5

    side = int(math.ceil(diameter * max_scale)) + 4
    centre = side / 2
    vertices = np.round((outline + centre) * 16).astype(np.int32)
    mask = np.zeros((side, side), np.uint8)
    cv2.fillPoly(mask, [vertices], 255, lineType=cv2.LINE_AA, shift=4)
    cell = max(2.0, diameter / cells_across)
    count = min(PATTERN_GRID, int(side / cell) + 1)
    pattern = cv2.resize(grid[:count, :count].astype(np.float32), (side, side),
                         interpolation=cv2.INTER_NEAREST)[..., None]
    colour = first + (second - first) * pattern
    dot_centre = (int(centre + 0.25 * diameter), int(centre - 0.1 * diameter))
    cv2.circle(colour, dot_centre, max(1, int(0.12 * diameter)), dot.tolist(), -1, cv2.LINE_AA)
    alpha = mask.astype(np.float32)[..., None] / 255.0
    return np.concatenate([colour * alpha, alpha], axis=2)


def draw_sprite(frame: np.ndarray, sprite: np.ndarray, centre: Tuple[float, float], angle: float,
                scale: float) -> None:
    """Alpha-blend ``sprite`` over ``frame`` in place, rotated ``angle`` degrees clockwise on screen
    and scaled about its centre, centred at ``centre`` with wrap-around (the frame is a torus, so
    the object never leaves it)."""
    side = sprite.shape[0]
    height, width = frame.shape[:2]
    left, top = math.floor(centre[0]) - side // 2, math.floor(centre[1]) - side // 2
    # Where the sprite centre lands inside the patch (keeps the sub-pixel part of the position).
    target_x, target_y = centre[0] - left, centre[1] - top
    theta = math.radians(angle)
    cos, sin = scale * math.cos(theta), scale * math.sin(theta)
    middle = side / 2
    # x' = cos*(x-m) - sin*(y-m) + tx, y' = sin*(x-m) + cos*(y-m) + ty: clockwise with y down.
    matrix = np.float32([[cos, -sin, target_x - cos * middle + sin * middle],
                         [sin, cos, target_y - sin * middle - cos * middle]])
    patch = cv2.warpAffine(sprite, matrix, (side, side), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rows = np.arange(top, top + side) % height
    cols = np.arange(left, left + side) % width
    region = np.ix_(rows, cols)
    frame[region] = frame[region] * (1.0 - patch[..., 3:]) + patch[..., :3]


# --- trajectories ----------------------------------------------------------------------------

def _unit(degrees: float) -> np.ndarray:
    return np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])


def main_object_track(rng: np.random.Generator, motion: Motion, num_frames: int, height: int, width: int,
                      unit: float) -> np.ndarray:
    """(T, 4) rows ``[centre_x, centre_y, angle_clockwise_degrees, scale]`` of the class's object."""
    steps = np.arange(num_frames, dtype=np.float64)[:, None]
    # Anchored near the centre at the middle frame, so centre crops (e.g. 112 of 128x171) see the
    # object; the rest of the track follows the motion and wraps around the edges.
    frame_centre = np.array([width / 2, height / 2])
    middle = frame_centre + rng.uniform(-MIDDLE_BOX / 2, MIDDLE_BOX / 2, size=2) * (width, height)
    start_angle = rng.uniform(0, 360)
    if motion.heading is not None:
        heading = motion.heading + rng.uniform(-MOVE_HEADING_JITTER, MOVE_HEADING_JITTER)
        velocity = _unit(heading) * rng.uniform(*MOVE_SPEED) * unit
    else:
        velocity = _unit(rng.uniform(0, 360)) * rng.uniform(0, NUISANCE_DRIFT) * unit
    if motion.spin:
        spin = motion.spin * rng.uniform(*SPIN_SPEED)
    else:
        spin = rng.uniform(-NUISANCE_SPIN, NUISANCE_SPIN)
    if motion.growth:
        small, large = rng.uniform(*SCALE_RANGE[0]), rng.uniform(*SCALE_RANGE[1])
        first, last = (small, large) if motion.growth > 0 else (large, small)
        scale = first * (last / first) ** (steps[:, 0] / max(1, num_frames - 1))
    else:
        scale = np.ones(num_frames)
    centres = np.mod(middle + (steps - (num_frames - 1) / 2) * velocity, (width, height))
    angles = start_angle + spin * steps[:, 0]
    return np.column_stack([centres, angles, scale])


def distractor_track(rng: np.random.Generator, num_frames: int, height: int, width: int,
                     unit: float) -> np.ndarray:
    """Same layout as :func:`main_object_track`, for a distractor with a random-walk heading."""
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, DISTRACTOR_TURN, num_frames))
    speed = rng.uniform(*DISTRACTOR_SPEED) * unit
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed
    positions = rng.uniform((0, 0), (width, height)) + np.cumsum(steps, axis=0) - steps[0]
    angles = rng.uniform(0, 360) + rng.uniform(-DISTRACTOR_SPIN, DISTRACTOR_SPIN) * np.arange(num_frames)
    return np.column_stack([np.mod(positions, (width, height)), angles, np.ones(num_frames)])


def render_video(spec: VideoSpec, frames: FrameSpec) -> Tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 (BGR order for OpenCV) and the object's track (T, 4), see
    :func:`main_object_track`. Deterministic in (seed, class, group, clip)."""
    height, width, count = frames.height, frames.width, frames.num_frames
    unit = min(height, width) / REFERENCE_SIDE
    short_side = min(height, width)
    class_key = list(CLASS_MOTIONS).index(spec.class_name)
    # The scene (background, object look) belongs to the group, whatever the class: every class is
    # performed in every scene, so appearance cannot tell the class and a model has to use motion.
    group_rng = np.random.default_rng([frames.seed, spec.group])
    clip_rng = np.random.default_rng([frames.seed, class_key, spec.group, spec.clip])

    background = textured_background(group_rng, height, width)
    background_luma = luma(background.mean(axis=(0, 1)))
    sprite = make_sprite(group_rng, short_side * clip_rng.uniform(*OBJECT_SIZE), background_luma,
                         max_scale=SCALE_RANGE[1][1])
    track = main_object_track(clip_rng, CLASS_MOTIONS[spec.class_name], count, height, width, unit)
    objects = []
    for _ in range(clip_rng.integers(DISTRACTOR_COUNT[0], DISTRACTOR_COUNT[1] + 1)):
        distractor = make_sprite(clip_rng, short_side * clip_rng.uniform(*DISTRACTOR_SIZE), background_luma)
        objects.append((distractor, distractor_track(clip_rng, count, height, width, unit)))
    objects.append((sprite, track))  # drawn last: the class's object passes over the distractors

    video = np.empty((count, height, width, 3), np.uint8)
    for index in range(count):
        frame = background.copy()
        for layer, path in objects:
            x, y, angle, scale = path[index]
            draw_sprite(frame, layer, (x, y), angle, scale)
        video[index] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return video, track


# --- files -----------------------------------------------------------------------------------

def write_avi(path: str, video: np.ndarray, fps: float) -> None:
    """MJPG AVI through OpenCV's built-in encoder: deterministic, any frame size (FFmpeg's MJPEG
    path drops an odd last column), decodable by every FFmpeg-based reader."""
    height, width = video.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise ToolError(f"cannot create {path}: OpenCV's MJPG writer is unavailable or the folder is not writable")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, VIDEO_QUALITY)
    for frame in video:
        writer.write(frame)
    writer.release()


def write_video(spec: VideoSpec, frames: FrameSpec, video_root: str) -> VideoOutcome:
    name = f"{spec.class_name}/{spec.video_id}"
    path = os.path.join(video_root, spec.class_name, spec.video_id + ".avi")
    try:
        write_avi(path, render_video(spec, frames)[0], frames.fps)
    except ToolError as err:
        return VideoOutcome(name, FAILED, str(err))
    return VideoOutcome(name, DONE)


def plan_videos(classes: List[str], train_per_class: int, test_per_class: int, clips_per_group: int
                ) -> Tuple[List[VideoSpec], List[VideoSpec]]:
    """Train and test videos with disjoint groups: test from g01, train from g08 (or after the
    test groups when there are more than 7 of them), ``clips_per_group`` clips per group."""
    test_groups = math.ceil(test_per_class / clips_per_group)
    first_train_group = max(8, test_groups + 1)
    train, test = [], []
    for label, class_name in enumerate(classes, 1):
        for index in range(test_per_class):
            test.append(VideoSpec(class_name, 1 + index // clips_per_group, 1 + index % clips_per_group, label))
        for index in range(train_per_class):
            train.append(VideoSpec(class_name, first_train_group + index // clips_per_group,
                                   1 + index % clips_per_group, label))
    return train, test


def _write_lines(path: str, lines: List[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("".join(line + "\r\n" for line in lines))


def write_lists(list_dir: str, classes: List[str], train: List[VideoSpec], test: List[VideoSpec]) -> None:
    os.makedirs(list_dir, exist_ok=True)
    _write_lines(os.path.join(list_dir, "classInd.txt"), [f"{i} {name}" for i, name in enumerate(classes, 1)])
    _write_lines(os.path.join(list_dir, "trainlist01.txt"),
                 [f"{v.class_name}/{v.video_id}.avi {v.label}" for v in train])
    _write_lines(os.path.join(list_dir, "testlist01.txt"), [f"{v.class_name}/{v.video_id}.avi" for v in test])


def parse_classes(text: str) -> List[str]:
    classes = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in classes if name not in CLASS_MOTIONS]
    if unknown:
        raise ToolError(f"unknown class(es) {unknown}; choose from {list(CLASS_MOTIONS)}")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ToolError(f"--classes needs at least two distinct classes, got {classes}")
    return classes


def build_parser():
    parser = tool_parser("src.demo.make_demo_dataset", __doc__)
    parser.add_argument("--out", required=True, help="output folder (videos/, ucfTrainTestlist/, demo_info.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                        help=f"comma-separated classes, from {', '.join(CLASS_MOTIONS)}")
    # 48 (24 scenes): a network trained from scratch on RGB generalises to unseen scenes only with
    # many of them (the demo's I3D RGB, best test top-1 in 12 epochs: 42% with 16, 67% with 32, 89% with 48)
    parser.add_argument("--videos_per_class_train", type=int, default=48, help="training videos per class")
    parser.add_argument("--videos_per_class_test", type=int, default=12,
                        help="test videos per class (12: one video is 1.4 points of top-1 over 6 classes)")
    parser.add_argument("--clips_per_group", type=int, default=2, help="clips (cYY) per group (gXX)")
    parser.add_argument("--num_frames", type=int, default=40, help="frames per video")
    parser.add_argument("--height", type=int, default=128, help="frame height")
    parser.add_argument("--width", type=int, default=171, help="frame width")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate stored in the AVI files")
    parser.add_argument("--num_workers", type=int, default=1, help="parallel worker processes")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        for name in ("videos_per_class_train", "videos_per_class_test", "clips_per_group", "num_workers"):
            check_positive(name, getattr(args, name))
        if args.num_frames < 2 or min(args.height, args.width) < 32:
            raise ToolError("--num_frames must be >= 2 and --height/--width >= 32")
        classes = parse_classes(args.classes)
        frames = FrameSpec(args.height, args.width, args.num_frames, args.seed, args.fps)
        train, test = plan_videos(classes, args.videos_per_class_train, args.videos_per_class_test,
                                  args.clips_per_group)
        video_root = os.path.join(args.out, "videos")
        for class_name in classes:
            os.makedirs(os.path.join(video_root, class_name), exist_ok=True)
        write_lists(os.path.join(args.out, "ucfTrainTestlist"), classes, train, test)
        with open(os.path.join(args.out, "demo_info.json"), "w", encoding="utf-8") as handle:
            json.dump({"classes": classes, "train_videos": len(train), "test_videos": len(test),
                       "clips_per_group": args.clips_per_group, **asdict(frames),
                       "horizontal_flip_changes_labels": True}, handle, indent=1)
        job = functools.partial(write_video, frames=frames, video_root=video_root)
        outcomes = run_per_video(job, train + test, args.num_workers, desc="demo videos")
        return report_outcomes(outcomes, strict=True, what=f"demo dataset in {args.out}")

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
