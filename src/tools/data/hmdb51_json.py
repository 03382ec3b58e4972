"""Write the Kinetics-style annotation JSON of one HMDB51 split.

Reads ``<annotation_dir>/<class>_test_split<N>.txt`` (the ``testTrainMulti_7030_splits`` folder;
lines "name.avi K" with K = 1 training, 2 test, 0 unused) and the frame count of each video from
``<video_path>/<class>/<video>/n_frames``. Class names come from the split file names, sorted
alphabetically; test videos get the subset "validation". Same output format as ``ucf101_json``.

A listed video without a finished frame folder is left out with a warning (an error with
``--strict true``); a malformed line is an error naming it.

Example::

    python -m src.tools.data.hmdb51_json --annotation_dir data/testTrainMulti_7030_splits \\
        --video_path data/hmdb51_jpg --split 1 --dst_path data/hmdb51_1.json
"""
import glob
import os
import sys
from typing import List, Tuple

from src.tools.cli import ToolError, run_main, tool_parser
from src.tools.data.annotation_json import ListedVideo, add_annotation_options, write_annotation
from src.tools.data.videos import require_dir

SUBSET_OF_TAG = {"1": "training", "2": "validation", "0": None}


def read_splits(annotation_dir: str, split: int) -> Tuple[List[str], List[ListedVideo]]:
    """Labels (sorted class names) and listed videos of split ``split``."""
    require_dir(annotation_dir, "split folder", "pass the testTrainMulti_7030_splits folder")
    suffix = f"_test_split{split}.txt"
    files = sorted(glob.glob(os.path.join(glob.escape(annotation_dir), "*" + suffix)))
    if not files:
        raise ToolError(f"no '<class>{suffix}' files in {annotation_dir}; "
                        f"pass the testTrainMulti_7030_splits folder")
    labels, videos = [], []
    for path in files:
        label = os.path.basename(path)[:-len(suffix)]
        labels.append(label)
        with open(path, "r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or parts[1] not in SUBSET_OF_TAG:
                    raise ToolError(f"{path}:{number}: expected '<video>.avi <0|1|2>', found {line.strip()!r}")
                subset = SUBSET_OF_TAG[parts[1]]
                if subset:
                    videos.append(ListedVideo(label, os.path.splitext(parts[0])[0], subset, f"{path}:{number}"))
    return labels, videos


def build_parser():
    parser = tool_parser("src.tools.data.hmdb51_json", __doc__)
    add_annotation_options(parser, "folder with <class>_test_split<N>.txt files (testTrainMulti_7030_splits)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        labels, videos = read_splits(args.annotation_dir, args.split)
        return write_annotation(labels, f"the split files of {args.annotation_dir}", videos, args.video_path,
                                args.dst_path, args.strict)

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
