"""Decode videos into JPEG frame folders.

``<src_path>/<class>/<video>.avi`` (the UCF101 and HMDB51 layout) becomes
``<dst_path>/<class>/<video>/image_00001.jpg ...`` plus an ``n_frames`` file, written last, so an
interrupted run resumes where it stopped: a video whose folder already has ``n_frames`` is skipped.
``--rgb_template img_{:05d}.jpg --start_index 0`` writes mmaction2-style names instead.

Every frame the decoder delivers is kept and counted (the header's count is not trusted). A video
that cannot be opened or yields no frame is reported (and its empty folder removed); one that
decodes clearly fewer frames than its header declares is reported as truncated, or as having a
variable frame rate when its frames span the whole duration (the rule of the video data source,
:class:`src.data.readers.DecodeCount`). Two videos of one class with the same name and different
extensions (``clip.avi``, ``clip.mp4``) would share a frame folder: both are refused, naming them.
Problems never stop the run; ``--strict true`` turns them into exit status 1.

Example::

    python -m src.tools.data.generate_rgb_jpgs --src_path data/UCF-101 --dst_path data/ucf101_jpg --num_workers 2
"""
import collections
import functools
import os
import shutil
import sys
from dataclasses import dataclass

import cv2

from src.data.readers import DEFAULT_RGB_TEMPLATE, DecodeCount, frame_file
from src.tools.cli import ToolError, add_run_options, check_positive, run_main, tool_parser
from src.tools.data.videos import (DONE, FAILED, SKIPPED, VIDEO_EXTENSIONS, WARNED, VideoOutcome, add_template_options,
                                   check_jpeg_quality, check_template_options, is_complete, list_class_videos,
                                   remove_frames, report_outcomes, run_per_video, video_name, write_n_frames)


@dataclass(frozen=True)
class ExtractOptions:
    short_side: int
    jpeg_quality: int
    overwrite: bool
    rgb_template: str = DEFAULT_RGB_TEMPLATE
    start_index: int = 1


def resize_short_side(frame, short_side: int):
    """Scale ``frame`` so its shorter side is ``short_side`` pixels (0 keeps the size)."""
    height, width = frame.shape[:2]
    if short_side <= 0 or min(height, width) == short_side:
        return frame
    scale = short_side / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(frame, size, interpolation=interpolation)


def extract_frames(video_file: str, out_dir: str, short_side: int = 0, jpeg_quality: int = 90,
                   rgb_template: str = DEFAULT_RGB_TEMPLATE, start_index: int = 1) -> DecodeCount:
    """Write every frame of ``video_file`` as ``out_dir/<rgb_template>`` numbered from ``start_index``.

    Returns the frames written beside the header's count (:class:`DecodeCount`). Raises
    :class:`ToolError` naming the file when it cannot be opened.
    """
    capture = cv2.VideoCapture(video_file)
    if not capture.isOpened():
        raise ToolError(f"cannot open {video_file}: not a video or an unsupported codec")
    declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    written, last_ms = 0, 0.0
    try:
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            last_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
            out_file = os.path.join(out_dir, frame_file(rgb_template, written, start_index))
            if not cv2.imwrite(out_file, resize_short_side(frame, short_side), params):
                raise ToolError(f"cannot write {out_file} (disk full or no permission?)")
            written += 1
    finally:
        capture.release()
    return DecodeCount(written, declared, fps, last_ms)


def frame_folder(dst_path: str, class_name: str, video_file: str) -> str:
    return os.path.join(dst_path, class_name, os.path.splitext(os.path.basename(video_file))[0])


def split_folder_collisions(videos, dst_path: str):
    """``(videos with a folder of their own, one outcome per folder that several videos would share)``."""
    by_folder = collections.defaultdict(list)
    for class_name, video_file in videos:
        by_folder[frame_folder(dst_path, class_name, video_file)].append((class_name, video_file))
    unique, refused = [], []
    for folder, members in by_folder.items():
        if len(members) == 1:
            unique.extend(members)
            continue
        files = ", ".join(os.path.basename(video_file) for _, video_file in members)
        class_name, video_file = members[0]  # one outcome for the folder they share: reported once
        refused.append(VideoOutcome(video_name(class_name, video_file), FAILED,
                                    f"{files} would share the frame folder {folder} (none of them is extracted); "
                                    f"rename one of them or pick one extension with --extensions"))
    return unique, refused


def process_video(item, options: ExtractOptions, dst_path: str) -> VideoOutcome:
    """Extract one ``(class_name, video_file)``; never raises, the outcome says what happened."""
    class_name, video_file = item
    name = video_name(class_name, video_file)
    out_dir = frame_folder(dst_path, class_name, video_file)
    if is_complete(out_dir) and not options.overwrite:
        return VideoOutcome(name, SKIPPED)
    os.makedirs(out_dir, exist_ok=True)
    remove_frames(out_dir, options.rgb_template)  # leftovers of an interrupted run
    try:
        count = extract_frames(video_file, out_dir, options.short_side, options.jpeg_quality,
                               options.rgb_template, options.start_index)
    except ToolError as err:
        shutil.rmtree(out_dir, ignore_errors=True)
        return VideoOutcome(name, FAILED, str(err))
    if count.frames == 0:
        shutil.rmtree(out_dir, ignore_errors=True)
        return VideoOutcome(name, FAILED, f"no frame could be decoded from {video_file} (empty or corrupt file)")
    write_n_frames(out_dir, count.frames)
    if count.problem():
        return VideoOutcome(name, WARNED, f"{video_file}: {count.problem()}")
    return VideoOutcome(name, DONE)


def build_parser():
    parser = tool_parser("src.tools.data.generate_rgb_jpgs", __doc__)
    parser.add_argument("--src_path", required=True, help="video root: <src_path>/<class>/<video>.avi")
    parser.add_argument("--dst_path", required=True, help="frame root, written as <dst_path>/<class>/<video>/")
    parser.add_argument("--short_side", type=int, default=0,
                        help="resize frames so their shorter side has this many pixels (0 = keep the size)")
    parser.add_argument("--jpeg_quality", type=int, default=90, help="JPEG quality, 1..100")
    parser.add_argument("--extensions", default=",".join(VIDEO_EXTENSIONS),
                        help="comma-separated extensions of the video files to pick up")
    add_template_options(parser)
    add_run_options(parser, overwrite_help="extract again videos that are already complete")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        check_positive("num_workers", args.num_workers)
        check_jpeg_quality(args.jpeg_quality)
        check_template_options(args)
        if args.short_side < 0:
            raise ToolError(f"--short_side must be >= 0, got {args.short_side}")
        extensions = [ext if ext.startswith(".") else "." + ext
                      for ext in (part.strip() for part in args.extensions.split(",")) if ext]
        videos, refused = split_folder_collisions(list_class_videos(args.src_path, extensions), args.dst_path)
        options = ExtractOptions(args.short_side, args.jpeg_quality, args.overwrite, args.rgb_template,
                                 args.start_index)
        job = functools.partial(process_video, options=options, dst_path=args.dst_path)
        outcomes = refused + run_per_video(job, videos, args.num_workers, desc="frames")
        return report_outcomes(outcomes, args.strict,
                               f"frames of {len(videos) + len(refused)} videos in {args.dst_path}")

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
