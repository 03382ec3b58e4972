"""What is in my video? Top-5 classes of a video file, or of every video of a folder.

    python -m src.tools.predict --video clip.mp4 --config_path configs/tsn/demo_flow.yaml \\
        --checkpoint tsn_flow_best.ckpt
    python -m src.tools.predict --video ./my_videos --config_path configs/tsn/demo_rgb.yaml \\
        --rgb_checkpoint rgb.ckpt --flow_checkpoint flow.ckpt --draw_dir ./labelled

One checkpoint predicts with the config's ``mode`` stream; an RGB and a flow checkpoint predict
jointly, with flow computed on the fly (``--flow_method``, as the flow tool computes it) and the
config's fusion. Videos are read, sampled and cropped as eval.py reads ``data_source=video``
(see :mod:`src.apis.inference`). Class names come from ``--class_index`` (a classInd.txt), else
from the config's annotation. A folder is searched recursively; videos inside a folder named like
a class are scored against that class and the top-1 accuracy is printed. The predictions go to
``--out_json`` (default ``<save_dir>/predictions.json``); ``--draw_dir`` writes each video again
with its top-1 class drawn on it. A video that cannot be used (unreadable, audio only, too short for
flow) is skipped with its reason, the others are predicted, and the command ends with the count of
skipped videos and exit status 1 (``--strict true``: stop at the first); a video shorter than a clip is
noted as loop-padded. ``--backend`` chooses what runs the networks: ``auto`` (ONNX
Runtime on a CPU when installed; the checkpoint is exported once to ``onnx_cache/`` beside it),
``mindspore`` or ``onnxruntime``, with the same answers; ``--num_threads`` sets their CPU threads.
Any other ``--key value`` is a configuration key (``python config.py --help``), e.g.
``--device_target CPU``.
"""
import json
import os
import sys
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from src.apis.inference import Prediction, Predictions, init_recognizer, predict_videos
from src.config import load_config
from src.data.readers import FrameReadError
from src.options import ConfigError, parse_bool
from src.tools.cli import (ToolError, add_backend_options, backend_overrides, check_positive, run_main,
                           tool_parser)
from src.tools.data.videos import VIDEO_EXTENSIONS
from src.utils.runtime import setup_runtime

__all__ = ["find_videos", "config_overrides", "draw_label", "build_parser", "main"]


def find_videos(path: str, class_names: Sequence[str]) -> List[Tuple[str, int]]:
    """``(video file, label)`` of a file or of every video under a folder (sorted); the label is the
    class of the nearest enclosing folder named like one, else -1."""
    if os.path.isfile(path):
        return [(path, -1)]
    if not os.path.isdir(path):
        raise ToolError(f"--video {path} does not exist; pass a video file or a folder of videos")
    index = {name: i for i, name in enumerate(class_names)}
    videos = []
    for folder, _, files in sorted(os.walk(path)):
        parts = os.path.relpath(folder, path).split(os.sep)
        label = next((index[part] for part in reversed(parts) if part in index), -1)
        videos.extend((os.path.join(folder, name), label) for name in sorted(files)
                      if name.lower().endswith(VIDEO_EXTENSIONS))
    if not videos:
        raise ToolError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {path}")
    return videos


def config_overrides(extra: Sequence[str]) -> dict:
    """``["--key", "value", ...]`` -> ``{key: value}`` (configuration keys given beside the tool's own)."""
    if len(extra) % 2 or not all(item.startswith("--") for item in extra[::2]):
        raise ToolError(f"unrecognised arguments {' '.join(extra)}: configuration keys are given as --key value")
    return {key[2:]: value for key, value in zip(extra[::2], extra[1::2])}


def draw_label(video: str, prediction: Prediction, out_path: str) -> str:
    """Write ``video`` again with its top-1 class and score drawn on every frame; returns the path."""
    capture = cv2.VideoCapture(video)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    _, name, score = prediction.top(1)[0]
    text = f"{name} {score:.2f}"
    writer = None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                if not writer.isOpened():
                    raise ToolError(f"cannot write {out_path} (no mp4v encoder, or no permission)")
                scale = max(0.3, min(height, width) / 300)
                (text_w, text_h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            cv2.rectangle(frame, (0, 0), (text_w + 8, text_h + base + 8), (0, 0, 0), -1)
            cv2.putText(frame, text, (4, text_h + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
            writer.write(frame)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    return out_path


def _report(predictions: Predictions, top_k: int) -> dict:
    for prediction in predictions:
        known = f" (class folder: {prediction.class_names[prediction.label]})" if prediction.label >= 0 else ""
        frames = prediction.padded_from
        padded = f" (only {frames} frame{'s' if frames != 1 else ''}: its clips are loop-padded)" if frames else ""
        print(f"{prediction.video}{known}{padded}")
        for rank, (index, name, score) in enumerate(prediction.top(top_k), 1):
            print(f"  {rank}. {name:<30s} {score:.4f}  (class {index})")
    labelled = [p for p in predictions if p.label >= 0]
    summary = {"num_videos": len(predictions), "skipped": [{"video": video, "reason": reason}
                                                          for video, reason in predictions.skipped]}
    if labelled:
        correct = sum(int(np.argmax(p.scores)) == p.label for p in labelled)
        summary.update(labelled_videos=len(labelled), top1=100.0 * correct / len(labelled))
        print(f"top-1 accuracy {summary['top1']:.2f}% ({correct} of {len(labelled)} videos in class folders)")
    return summary


def build_parser():
    parser = tool_parser("src.tools.predict", __doc__)
    parser.add_argument("--video", required=True, help="a video file, or a folder searched for video files")
    parser.add_argument("--config_path", required=True, help="the model's YAML config (configs/<model>/...)")
    parser.add_argument("--checkpoint", default="", help="checkpoint of the config's mode (rgb or flow)")
    parser.add_argument("--rgb_checkpoint", default="", help="RGB checkpoint of joint prediction")
    parser.add_argument("--flow_checkpoint", default="", help="flow checkpoint of joint prediction")
    parser.add_argument("--class_index", default="", help="classInd.txt naming the classes (default: the "
                                                         "config's annotation labels)")
    parser.add_argument("--flow_method", default="dis", choices=("tvl1", "dis", "farneback"),
                        help="flow computed on the fly for a flow checkpoint: the method of its training flow")
    parser.add_argument("--top_k", type=int, default=5, help="classes printed and saved per video")
    parser.add_argument("--out_json", default="", help="where the predictions are written "
                                                       "(default: <save_dir of the config>/predictions.json)")
    parser.add_argument("--draw_dir", default="", help="write each video with its top-1 class drawn here (.mp4)")
    parser.add_argument("--strict", type=parse_bool, default=False,
                        help="stop at the first video that cannot be used (default: skip it, predict the others "
                             "and exit with status 1)")
    add_backend_options(parser)
    return parser


def main(argv=None) -> int:
    args, extra = build_parser().parse_known_args(argv)

    def body() -> int:
        check_positive("top_k", args.top_k)
        cfg = load_config(args.config_path, dict(config_overrides(extra), **backend_overrides(args)))
        setup_runtime(cfg)
        model = init_recognizer(cfg, args.checkpoint, args.rgb_checkpoint, args.flow_checkpoint,
                                class_index=args.class_index, flow_method=args.flow_method)
        videos = find_videos(args.video, model.class_names)
        predictions = predict_videos(model, videos, strict=args.strict)
        summary = _report(predictions, args.top_k)
        drawn = {}
        if args.draw_dir:
            os.makedirs(args.draw_dir, exist_ok=True)
            root = args.video if os.path.isdir(args.video) else os.path.dirname(args.video)
            for prediction in predictions:
                # the path below --video names the output, so same-named videos of two folders stay apart
                name = os.path.relpath(prediction.video, root).replace(os.sep, "__") + ".mp4"
                drawn[prediction.video] = draw_label(prediction.video, prediction, os.path.join(args.draw_dir, name))
        payload = dict(summary, config=args.config_path, streams=list(model.nets),
                       checkpoints=[c for c in (args.checkpoint, args.rgb_checkpoint, args.flow_checkpoint) if c],
                       predictions=[dict(p.as_dict(args.top_k), **({"drawn": drawn[p.video]} if drawn else {}))
                                    for p in predictions])
        out_json = args.out_json or os.path.join(cfg.save_dir, "predictions.json")
        os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
        with open(out_json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        print(f"predictions of {len(predictions)} videos written to {out_json}")
        if predictions.skipped:
            print(f"{len(predictions.skipped)} of {len(videos)} videos skipped:", file=sys.stderr)
            for video, reason in predictions.skipped:
                print(f"  SKIPPED {video}: {reason}", file=sys.stderr)
            return 1
        return 0

    return run_main(body, known_errors=(ValueError, FileNotFoundError, FrameReadError, ConfigError))


if __name__ == "__main__":
    sys.exit(main())
