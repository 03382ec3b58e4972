"""Video indexes: which videos belong to a split, where their frames are, how long they are.

Three index formats are read, each into a list of :class:`VideoRecord`:

* a Kinetics-style annotation JSON (what ``src.tools.data.ucf101_json`` / ``hmdb51_json`` write) over
  frame folders ``<root>/<label>/<video_id>/``;
* an mmaction-style list file: ``path num_frames label`` per line (frame folders), or
  ``path label`` (video files, or frame folders whose frames are counted from the folder);
* the official UCF101 split lists (``trainlist01.txt`` with 1-based labels, ``testlist01.txt``
  with paths only) when ``classInd.txt`` lies beside them.
"""
import io
import os
import sys
import warnings
from dataclasses import dataclass
from typing import List, Tuple

from src.utils.io import read_json
from src.utils.numbers import MAX_FRAMES, checked_number

__all__ = ["VideoRecord", "AnnotationError", "SPLIT_SUBSETS", "RECOGNITION_SUBSETS", "load_annotation_json", "load_list_file",
           "read_class_index", "drop_missing"]

# Split names the entry points use -> the "subset" values annotation files give them.
SPLIT_SUBSETS = {"train": ("training", "train"), "val": ("validation", "val", "valid"),
                 "test": ("testing", "test")}
# Recognition datasets call their evaluation subset either way (UCF101 "validation", HMDB51 "testing"),
# so a recognizer's 'val' split reads both.
RECOGNITION_SUBSETS = {"train": SPLIT_SUBSETS["train"], "val": SPLIT_SUBSETS["val"] + SPLIT_SUBSETS["test"]}


class AnnotationError(ValueError):
    """An annotation or list file that cannot be used as it is."""


@dataclass(slots=True)
class VideoRecord:
    """One video of a split.

    ``path`` is a frame folder or a video file; ``num_frames`` counts the frames usable by the
    reader (flow folders have one frame fewer than their RGB folder).
    """
    video_id: str
    path: str
    num_frames: int
    label: int


def _open_text(path: str) -> io.StringIO:
    """The text of ``path``, read like ``open()``; AnnotationError naming it when it is not UTF-8 text."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return io.StringIO(handle.read())
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path} is not a text file ({err.reason} at byte {err.start}): class index and list "
                              f"files are UTF-8 text, one entry per line") from err


def read_class_index(path: str) -> List[str]:
    """``classInd.txt`` (``1 ApplyEyeMakeup`` per line) -> class names in label order."""
    names, index_line, name_line = {}, {}, {}
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[0].isdigit():
                raise AnnotationError(f"{path}:{line_no}: expected 'index ClassName', got {line.strip()!r}")
            index, name = int(parts[0]), parts[1]
            if index in index_line:
                raise AnnotationError(f"{path}: lines {index_line[index]} and {line_no} both give index {index}; "
                                      f"each class needs its own index")
            if name in name_line:
                raise AnnotationError(f"{path}: lines {name_line[name]} and {line_no} both name class {name!r}; "
                                      f"one class cannot have two labels")
            names[index], index_line[index], name_line[name] = name, line_no, line_no
    if sorted(names) != list(range(1, len(names) + 1)):
        raise AnnotationError(f"{path}: class indices must run 1..{len(names)} without gaps, "
                              f"found {sorted(names)[:10]}")
    return [names[i] for i in range(1, len(names) + 1)]


def _compact_video_entry(obj: dict):
    """``json.load``'s object hook: a video entry (``{"subset": str, "annotations": {...}}``) becomes
    ``(subset, label, segment)`` as soon as it is read, its strings shared, so reading a 240,000-video
    annotation never holds 240,000 entry dicts; any other object stays as it is."""
    if not isinstance(obj.get("subset"), str):
        return obj
    annotation = obj.get("annotations") or {}
    label = annotation.get("label") if isinstance(annotation, dict) else None
    return (sys.intern(obj["subset"]), sys.intern(label) if isinstance(label, str) else label,
            annotation.get("segment") if isinstance(annotation, dict) else None)


def load_annotation_json(path: str, split: str, video_root: str) -> Tuple[List[VideoRecord], List[str]]:
    """Records of ``split`` ('train' | 'val') and the class names of a Kinetics-style annotation JSON."""
    data = read_json(path, AnnotationError, "write it with `python -m src.tools.data.ucf101_json` or `hmdb51_json`",
                     object_hook=_compact_video_entry)
    if not isinstance(data, dict) or "labels" not in data or "database" not in data:
        raise AnnotationError(f"{path}: expected keys 'labels' and 'database' (Kinetics-style annotation)")
    labels = list(data["labels"])
    label_index = {name: i for i, name in enumerate(labels)}
    subsets = RECOGNITION_SUBSETS[split]
    records = []
    for video_id, entry in data["database"].items():
        subset, label, segment = entry if isinstance(entry, tuple) else (None, None, None)
        if subset not in subsets:
            continue
        if not isinstance(label, str) or label not in label_index:
            raise AnnotationError(f"{path}: video {video_id} has label {label!r}, which is not in 'labels'")
        segment = segment or [1, 0]
        if not isinstance(segment, (list, tuple)) or len(segment) != 2:
            raise AnnotationError(f"{path}: video {video_id}: segment must be [first_frame, last_frame], "
                                  f"got {segment!r}")
        first, last = (checked_number(value, f"{path}: video {video_id}", "segment", integer=True, low=0,
                                      high=MAX_FRAMES, error=AnnotationError) for value in segment)
        num_frames = last - first + 1
        records.append(VideoRecord(video_id, os.path.join(video_root, label, video_id), num_frames,
                                   label_index[label]))
    if not records:
        raise AnnotationError(f"{path}: the {split} split ({'/'.join(subsets)}) is empty")
    return records, labels


def _list_integer(path: str, line_no: int, text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise AnnotationError(f"{path}:{line_no}: {what} {text[:40]!r} is not an integer; lines are "
                              f"'path num_frames label' or 'path label'") from None
    if abs(value) > MAX_FRAMES:
        raise AnnotationError(f"{path}:{line_no}: {what} {text[:40]!r} is not a plausible {what} (more than "
                              f"{MAX_FRAMES:,}); fix this line")
    return value


def load_list_file(path: str, root: str, num_classes: int = 0) -> Tuple[List[VideoRecord], List[str]]:
    """Records from a list file; paths are relative to ``root``. With ``num_classes`` a label outside
    0..num_classes-1 is an error naming its line.

    ``path num_frames label`` lines describe frame folders (0-based labels, mmaction "rawframes");
    ``path label`` and ``path`` lines describe video files or frame folders. When ``classInd.txt``
    lies beside the list (the official UCF101 split files), labels are 1-based and a missing label is
    taken from the class folder of the path. ``num_frames`` is 0 when the line has none (the source
    counts the frames). mmaction2's offset form (``path offset total_frames label``) and multi-label
    form (``path total_frames label1 label2 ...``) are refused: recognizers here are single-label.
    """
    if not os.path.isfile(path):
        raise AnnotationError(f"list file not found: {path}")
    class_index_path = os.path.join(os.path.dirname(path), "classInd.txt")
    class_names = read_class_index(class_index_path) if os.path.isfile(class_index_path) else None
    label_offset = 1 if class_names else 0
    records = []
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            rel_path = parts[0]
            if len(parts) == 3:
                num_frames = _list_integer(path, line_no, parts[1], "num_frames")
                label = _list_integer(path, line_no, parts[2], "label") - label_offset
            elif len(parts) == 2:
                num_frames, label = 0, _list_integer(path, line_no, parts[1], "label") - label_offset
            elif len(parts) == 1 and class_names:
                class_dir = rel_path.replace("\\", "/").split("/")[0]
                if class_dir not in class_names:
                    raise AnnotationError(f"{path}:{line_no}: class folder {class_dir!r} is not in {class_index_path}")
                num_frames, label = 0, class_names.index(class_dir)
            elif len(parts) > 3:
                raise AnnotationError(f"{path}:{line_no}: {len(parts)} columns: mmaction2's offset form "
                                      f"('path offset total_frames label') and multi-label form ('path "
                                      f"total_frames label1 label2 ...') are not supported; write "
                                      f"'path num_frames label' (one label per video)")
            else:
                raise AnnotationError(f"{path}:{line_no}: expected 'path num_frames label' or 'path label', "
                                      f"got {line.strip()!r}")
            if label < 0 or (class_names and label >= len(class_names)):
                raise AnnotationError(f"{path}:{line_no}: label {label + label_offset} is outside "
                                      f"{class_index_path if class_names else 'the valid range'}")
            if num_classes and not class_names and label >= num_classes:
                raise AnnotationError(f"{path}:{line_no}: label {label} is not below num_classes {num_classes} "
                                      f"(labels are 0-based): fix this line, or set --num_classes if the dataset "
                                      f"really has more classes")
            video_id = os.path.splitext(os.path.basename(rel_path.rstrip("/")))[0]
            records.append(VideoRecord(video_id, os.path.join(root, rel_path), num_frames, label))
    if not records:
        raise AnnotationError(f"{path}: the list is empty")
    if class_names is None:
        class_names = [f"class_{i}" for i in range(max(r.label for r in records) + 1)]
    return records, class_names


def drop_missing(records: List[VideoRecord], what: str) -> List[VideoRecord]:
    """Drop records whose frame folder / video file is missing, with one warning naming them."""
    present = [r for r in records if os.path.exists(r.path)]
    missing = [r.path for r in records if not os.path.exists(r.path)]
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        warnings.warn(f"{len(missing)} of {len(records)} {what} are missing and skipped: {shown} "
                      f"(extract them with src.tools.data.generate_rgb_jpgs / convert_rgb_to_flow)")
    if not present:
        raise AnnotationError(f"none of the {len(records)} {what} exist (first expected at {records[0].path}): "
                              f"check --video_path, the root the annotation's paths are relative to")
    return present

