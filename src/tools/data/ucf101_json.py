"""Write the Kinetics-style annotation JSON of one UCF101 split.

Reads ``classInd.txt`` ("1 ApplyEyeMakeup"), ``trainlist0N.txt``
("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1") and ``testlist0N.txt`` (path only) from
``--annotation_dir``, and the frame count of each video from ``<video_path>/<class>/<video>/n_frames``.
Output::

    {"labels": [class names in classInd order],
     "database": {"v_ApplyEyeMakeup_g08_c01": {"subset": "training" | "validation",
                  "annotations": {"label": "ApplyEyeMakeup", "segment": [1, n_frames]}}, ...}}

A listed video without a finished frame folder is left out with a warning (an error with
``--strict true``); a class missing from classInd.txt, or a train-list index that disagrees with the
class folder, is an error naming the line.

Example::

    python -m src.tools.data.ucf101_json --annotation_dir data/ucfTrainTestlist --video_path data/ucf101_jpg \\
        --split 1 --dst_path data/ucf101_01.json
"""
import os
import sys
from typing import List, Tuple

from src.data.annotations import AnnotationError, read_class_index
from src.tools.cli import ToolError, run_main, tool_parser
from src.tools.data.annotation_json import ListedVideo, add_annotation_options, write_annotation
from src.tools.data.videos import require_dir


def require_list_file(path: str) -> str:
    if not os.path.isfile(path):
        raise ToolError(f"list file not found: {path}; --annotation_dir must hold the UCF101 "
                        f"classInd.txt, trainlist0N.txt and testlist0N.txt")
    return path


def _lines(path: str) -> List[Tuple[int, str]]:
    """Non-empty lines of a list file with their 1-based numbers (CRLF tolerated, as in UCF101)."""
    with open(require_list_file(path), "r", encoding="utf-8") as handle:
        return [(number, line.strip()) for number, line in enumerate(handle, 1) if line.strip()]


def read_split_list(path: str, subset: str, labels: List[str]) -> List[ListedVideo]:
    """Videos of a train or test list; train lines may carry the class index, checked against classInd."""
    videos = []
    for number, line in _lines(path):
        source = f"{path}:{number}"
        parts = line.split()
        relative = parts[0].replace("\\", "/")
        if len(parts) > 2 or relative.count("/") != 1:
            raise ToolError(f"{source}: expected '<Class>/<video>.avi [index]', found {line!r}")
        label, file_name = relative.split("/")
        if len(parts) == 2:
            if not parts[1].isdigit():
                raise ToolError(f"{source}: the class index must be an integer, found {parts[1]!r}")
            index = int(parts[1])
            if label in labels and (index < 1 or index > len(labels) or labels[index - 1] != label):
                raise ToolError(f"{source}: index {index} does not match class {label!r} "
                                f"(classInd gives it index {labels.index(label) + 1})")
        videos.append(ListedVideo(label, os.path.splitext(file_name)[0], subset, source))
    return videos


def build_parser():
    parser = tool_parser("src.tools.data.ucf101_json", __doc__)
    add_annotation_options(parser, "folder with classInd.txt, trainlist0N.txt, testlist0N.txt (ucfTrainTestlist)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        require_dir(args.annotation_dir, "annotation folder", "pass the ucfTrainTestlist folder")
        class_file = os.path.join(args.annotation_dir, "classInd.txt")
        labels = read_class_index(require_list_file(class_file))
        videos = (read_split_list(os.path.join(args.annotation_dir, f"trainlist0{args.split}.txt"), "training", labels)
                  + read_split_list(os.path.join(args.annotation_dir, f"testlist0{args.split}.txt"), "validation",
                                    labels))
        return write_annotation(labels, class_file, videos, args.video_path, args.dst_path, args.strict)

    return run_main(body, known_errors=(AnnotationError,))


if __name__ == "__main__":
    sys.exit(main())
