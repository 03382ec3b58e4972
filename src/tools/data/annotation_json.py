"""The Kinetics-style annotation JSON written by the UCF101 and HMDB51 converters::

    {"labels": [class names],
     "database": {<video id>: {"subset": "training" | "validation",
                               "annotations": {"label": <class>, "segment": [1, n_frames]}}, ...}}
"""
import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from src.options import parse_bool
from src.tools.cli import ToolError
from src.tools.data.videos import is_complete, n_frames_path, read_n_frames, require_dir


def add_annotation_options(parser: argparse.ArgumentParser, annotation_help: str) -> None:
    """The arguments shared by the annotation-JSON converters."""
    parser.add_argument("--annotation_dir", required=True, help=annotation_help)
    parser.add_argument("--video_path", required=True, help="frame root: <video_path>/<class>/<video>/n_frames")
    parser.add_argument("--split", type=int, choices=(1, 2, 3), default=1, help="official split number")
    parser.add_argument("--dst_path", required=True, help="annotation JSON to write")
    parser.add_argument("--strict", type=parse_bool, default=False,
                        help="fail (status 1, nothing written) when a listed video has no finished frame folder")


@dataclass(frozen=True)
class ListedVideo:
    """One video of a split list: ``source`` (``file:line``) is quoted in error messages."""
    label: str
    video_id: str
    subset: str
    source: str


def build_database(labels: Sequence[str], labels_source: str, videos: Sequence[ListedVideo],
                   video_path: str) -> Tuple[Dict[str, dict], List[str]]:
    """Kinetics-style ``database`` with ``segment = [1, n_frames]`` read from each frame folder.

    ``labels_source`` names where the labels came from, for the error on an unknown label.
    Returns the database and one message per video left out (no frame folder or no ``n_frames``).
    """
    known = set(labels)
    database: Dict[str, dict] = {}
    first_seen: Dict[str, str] = {}
    missing: List[str] = []
    for video in videos:
        if video.label not in known:
            raise ToolError(f"{video.source}: class {video.label!r} is not in {labels_source}; "
                            f"fix the line or add the class there")
        if video.video_id in first_seen:
            raise ToolError(f"{video.source}: video {video.video_id!r} is listed twice "
                            f"(first at {first_seen[video.video_id]})")
        first_seen[video.video_id] = video.source
        folder = os.path.join(video_path, video.label, video.video_id)
        if not os.path.isdir(folder):
            missing.append(f"{video.source}: frame folder {folder} does not exist")
            continue
        if not is_complete(folder):
            missing.append(f"{video.source}: {n_frames_path(folder)} is missing (extraction unfinished? frames "
                           f"of another tool: write it with src.tools.data.generate_n_frames --rgb_template ...)")
            continue
        n_frames = read_n_frames(folder)
        if n_frames < 1:
            missing.append(f"{video.source}: {n_frames_path(folder)} says the video has no frames")
            continue
        database[video.video_id] = {"subset": video.subset,
                                    "annotations": {"label": video.label, "segment": [1, n_frames]}}
    return database, missing


def write_annotation(labels: Sequence[str], labels_source: str, videos: Sequence[ListedVideo],
                     video_path: str, dst_path: str, strict: bool) -> int:
    """Build the annotation JSON, report left-out videos and write ``dst_path``; returns the exit
    status (1 when videos are left out under ``strict``, and then nothing is written)."""
    require_dir(video_path, "frame folder root (--video_path)",
                "run `python -m src.tools.data.generate_rgb_jpgs` first")
    database, missing = build_database(labels, labels_source, videos, video_path)
    for message in missing:
        print(f"  WARNING {message}", file=sys.stderr)
    if missing and strict:
        print(f"{len(missing)} listed video(s) have no usable frame folder and --strict is set: "
              f"nothing written to {dst_path}", file=sys.stderr)
        return 1
    folder = os.path.dirname(os.path.abspath(dst_path))
    os.makedirs(folder, exist_ok=True)
    with open(dst_path, "w", encoding="utf-8") as handle:
        json.dump({"labels": list(labels), "database": database}, handle)
    subsets = [entry["subset"] for entry in database.values()]
    print(f"wrote {dst_path}: {len(labels)} labels, {subsets.count('training')} training + "
          f"{subsets.count('validation')} validation videos, {len(missing)} left out")
    return 0
