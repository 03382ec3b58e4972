"""Recognizers for one's own videos: build one from a config and checkpoint(s), call it on video files.

    from src.apis import init_recognizer, inference_recognizer
    model = init_recognizer("configs/tsn/demo_flow.yaml", "tsn_flow_best.ckpt")
    prediction = inference_recognizer(model, "clip.mp4")
    prediction.top(5)   # [(class index, class name, score), ...]

Joint RGB + flow: ``init_recognizer(config, rgb_checkpoint=..., flow_checkpoint=...)``; flow is
computed on the fly from the decoded frames (:class:`src.data.readers.VideoFlowReader`, the flow
tool's method and encoding). Videos are read, sampled and cropped as ``eval.py`` reads its
validation videos with ``data_source=video`` (the same source class, test views, view averaging
and stream fusion), so on the same videos both give the same predictions. Scores are
probabilities: the softmax of the view-averaged logits (``logits_sum`` fusion: of their sum), or
the fused softmax scores (``softmax_avg``).

Class names come from a ``classInd.txt`` (``1 ApplyEyeMakeup`` per line), else from the labels of
the config's ``annotation_path`` (annotation JSON, or the ``classInd.txt`` beside a list file),
else ``class_<i>``.
"""
import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from src.config import load_config
from src.data.annotations import AnnotationError, VideoRecord, read_class_index
from src.data.dataset import VideoClipSource
from src.data.pipelines import build_pipeline, frames_needed
from src.data.readers import VideoFileReader, VideoFlowReader, count_video_frames
from src.infer.backends import BACKENDS, resolve_backend
from src.infer.backends import inference_network
from src.metrics.classification import fuse_streams, softmax
from src.options import Config, appearance_modality, output_classes, stream_config
from src.tasks.recognition.evaluation import score_views
from src.utils.io import read_json

__all__ = ["Recognizer", "Prediction", "Predictions", "init_recognizer", "inference_recognizer", "predict_videos",
           "class_names_for"]


@dataclass
class Recognizer:
    """Networks of one or two streams (``{"rgb": net}``, ``{"flow": net}`` or both) with their
    configuration and class names."""
    cfg: Config
    nets: Dict[str, object]
    class_names: List[str]
    flow_method: str = "dis"


@dataclass
class Prediction:
    """Class scores (K,) of one video; ``label`` is its true class index when known (else -1)."""
    video: str
    scores: np.ndarray
    class_names: List[str] = field(repr=False)
    label: int = -1
    padded_from: int = 0  # the video's frame count when it is shorter than a clip (its frames loop-padded)

    def top(self, k: int = 5) -> List[Tuple[int, str, float]]:
        """The ``k`` best classes as (index, name, score), best first."""
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [(int(i), self.class_names[i], float(self.scores[i])) for i in order]

    def as_dict(self, k: int = 5) -> dict:
        entry = {"video": self.video, "top": [{"class": i, "name": name, "score": round(score, 6)}
                                              for i, name, score in self.top(k)]}
        if self.label >= 0:
            entry.update(label=self.label, label_name=self.class_names[self.label])
        if self.padded_from:
            entry.update(padded_from_frames=self.padded_from)
        return entry


def class_names_for(cfg, class_index: str = "") -> List[str]:
    """Class names of a recognizer: ``class_index`` (classInd.txt), else the labels of the config's
    annotation, else ``class_<i>``; their count must be the network's."""
    num_classes = output_classes(cfg)
    annotation = cfg.annotation_path if cfg.annotation_path and os.path.isfile(cfg.annotation_path) else ""
    beside = os.path.join(os.path.dirname(annotation), "classInd.txt") if annotation else ""
    if class_index:
        names, origin = read_class_index(class_index), class_index
    elif annotation.endswith(".json"):
        data = read_json(annotation, AnnotationError)
        names, origin = list(data.get("labels") or []) if isinstance(data, dict) else [], annotation
    elif beside and os.path.isfile(beside):
        names, origin = read_class_index(beside), beside
    else:
        names, origin = [f"class_{i}" for i in range(num_classes)], "the default names"
    if len(names) != num_classes:
        raise AnnotationError(f"{origin} names {len(names)} classes but the network predicts {num_classes}; "
                              f"pass the classInd.txt of the checkpoint's classes")
    return names


def init_recognizer(config: Union[str, Config], checkpoint: str = "", rgb_checkpoint: str = "",
                    flow_checkpoint: str = "", overrides: Optional[dict] = None, class_index: str = "",
                    flow_method: str = "dis", backend: Optional[str] = None) -> Recognizer:
    """A recognizer from a config and either one checkpoint (the config's ``mode``) or an RGB and a
    flow checkpoint (joint). ``config`` is a YAML path (``overrides``: key -> value over it, as
    ``--key value`` on the command line) or a resolved :class:`Config`. ``backend`` (``auto``,
    ``mindspore`` or ``onnxruntime``; None: the config's ``backend``) chooses what runs the networks
    (:mod:`src.infer.backends`); the config's ``num_threads`` sets their CPU threads."""
    cfg = load_config(config, overrides) if isinstance(config, str) else config.copy()
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: expected one of {list(BACKENDS)}")
        cfg.backend = backend
    if checkpoint and (rgb_checkpoint or flow_checkpoint):
        raise ValueError("give one checkpoint, or an RGB and a flow checkpoint, not both")
    if checkpoint:
        nets = {cfg.mode: inference_network(cfg, checkpoint)}
    elif rgb_checkpoint and flow_checkpoint:
        if cfg.onnx_path and resolve_backend(cfg.backend, cfg.device_target) == "onnxruntime":
            raise ValueError(f"onnx_path {cfg.onnx_path} is one network; joint prediction runs two: leave "
                             f"onnx_path empty (each checkpoint is exported on its own)")
        nets = {"rgb": inference_network(cfg, rgb_checkpoint, "rgb"),
                "flow": inference_network(cfg, flow_checkpoint, "flow")}
    else:
        raise ValueError("no checkpoint: give a checkpoint, or an RGB and a flow checkpoint")
    return Recognizer(cfg, nets, class_names_for(cfg, class_index), flow_method)


class Predictions(list):
    """Predictions of the videos that could be read, in order; ``skipped`` lists ``(video, reason)`` of
    the others."""

    def __init__(self, predictions=(), skipped=()):
        super().__init__(predictions)
        self.skipped: List[Tuple[str, str]] = list(skipped)


def _record(path: str, label: int, flow: bool) -> VideoRecord:
    """The record of a video with its decoder frame count; ValueError when it cannot be used, and a
    warning when it decodes fewer frames than its header declares."""
    count = count_video_frames(path)
    if count.frames < (2 if flow else 1):
        raise ValueError("cannot be decoded" + (" into two frames (flow needs two)" if flow else "")
                         + (" (audio only, or not a video?)" if count.frames == 0 else ""))
    if count.problem():
        warnings.warn(f"{path}: {count.problem()}")
    return VideoRecord(os.path.splitext(os.path.basename(path))[0], path, count.frames, label)


def _source(model: Recognizer, record: VideoRecord) -> VideoClipSource:
    """The test-time source eval.py builds, over one video: per stream its reader, sampler and crops."""
    joint = len(model.nets) == 2
    streams = []
    for role in model.nets:  # 'rgb' and/or 'flow'
        modality = appearance_modality(model.cfg) if role == "rgb" else role
        stream_cfg = stream_config(model.cfg, modality) if joint else model.cfg
        temporal, pipeline = build_pipeline(stream_cfg, "val", modality)
        if modality == "flow":  # n frames give n - 1 flow frames, as flow folders hold
            records = [VideoRecord(record.video_id, record.path, record.num_frames - 1, record.label)]
            reader = VideoFlowReader(model.flow_method)
        else:
            records, reader = [record], VideoFileReader()
        streams.append({"modality": modality, "records": records, "reader": reader, "temporal": temporal,
                        "pipeline": pipeline})
    return VideoClipSource(streams, model.class_names, model.cfg.seed, test_mode=True)


def _predict(model: Recognizer, path: str, label: int) -> Prediction:
    record = _record(path, label, flow="flow" in model.nets)
    *views, _, _ = _source(model, record)[0]
    logits = {modality: score_views(net, stream_views[None])[0].mean(axis=0)
              for (modality, net), stream_views in zip(model.nets.items(), views)}
    if len(logits) == 2:
        fused = fuse_streams(logits["rgb"][None], logits["flow"][None], model.cfg.joint_fusion, model.cfg.rgb_weight)[0]
        scores = fused if model.cfg.joint_fusion == "softmax_avg" else softmax(fused)
    else:
        scores = softmax(next(iter(logits.values())))
    needed = frames_needed(model.cfg, "val")
    return Prediction(path, scores, model.class_names, label,
                      padded_from=record.num_frames if record.num_frames < needed else 0)


def predict_videos(model: Recognizer, videos: Sequence[Union[str, Tuple[str, int]]],
                   strict: bool = False) -> Predictions:
    """Predictions of video files (paths, or ``(path, true label)`` pairs), in order. A video that cannot
    be used (unreadable, audio only, too short for flow) is skipped, with its reason in ``.skipped`` and
    one warning for all; with ``strict`` the first one raises ValueError naming it instead."""
    pairs = [(video, -1) if isinstance(video, str) else (video[0], int(video[1])) for video in videos]
    results = Predictions()
    for path, label in pairs:
        try:
            results.append(_predict(model, path, label))
        except (ValueError, OSError) as err:  # FrameReadError is an OSError
            if strict:
                raise ValueError(f"{path}: {err}") from err
            results.skipped.append((path, str(err)))
    if results.skipped:
        shown = "; ".join(f"{path}: {reason}" for path, reason in results.skipped[:3])
        warnings.warn(f"{len(results.skipped)} of {len(pairs)} videos skipped: {shown}"
                      f"{' ...' if len(results.skipped) > 3 else ''}")
    return results


def inference_recognizer(model: Recognizer, video: str) -> Prediction:
    """The prediction of one video file (mmaction2's ``inference_recognizer``); ValueError naming it when
    it cannot be used."""
    return predict_videos(model, [video], strict=True)[0]
