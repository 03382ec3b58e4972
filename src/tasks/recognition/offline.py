"""Offline inference of recognizers: the validation split as ``.bin`` batches, and the metrics of an
inference program's logits (layout of the folders: :mod:`src.infer.bins`).

Scoring uses the evaluator's conventions: the rows of every result batch are put back at their
(video, view) from the meta (padding rows dropped), each video's score is the mean of its views'
logits, so a model scored here and by eval.py on the same data reports the same numbers. Joint
RGB + flow: the two streams' video scores are fused with ``joint_fusion`` on the videos both
folders hold (in RGB order). Folders from ``preprocess.py --test_mode joint`` saw the same clips as
``eval.py --test_mode joint``; folders preprocessed one stream at a time sample the RGB clips over
the RGB frame count (joint evaluation samples both streams over the flow count), which is recorded
as ``same_clips: false`` in the results.

A video the preprocessing could not read is listed in ``bad_samples_val.tsv`` beside the batches,
written as zero views and recorded with the label -1 in the meta: scoring leaves it out and says so.

Outputs (``postprocess_path``): ``results.json`` + confusion PNG and ``scores.npz`` (``labels``,
``video_ids`` and per-video scores of every stream, ``fused`` for joint).
"""
import os
from typing import Dict

import numpy as np

from src.data.dataset import UNREADABLE_LABEL, dataset_from_source
from src.options import output_classes
from src.infer.bins import (DATA_FOLDER, LABELS_FILE, BinBatchWriter, load_bin, locate_meta, read_latency,
                            result_file, result_folder, stream_meta, write_meta)
from src.metrics.classification import recognition_metrics
from src.utils.progress import progress

from .evaluation import validation_source, write_results

__all__ = ["write_recognizer_batches", "view_logits", "score_stream_results", "score_joint_results"]


def write_recognizer_batches(cfg, out_dir: str, task_name: str, input_shape) -> Dict[str, str]:
    """Write the validation split of a recognizer; returns ``{stream: folder}``.

    The stream is ``test_mode`` or ``mode``; ``joint`` writes RGB and flow on the same clips.
    Batches hold ``cfg.batch_size`` rows: export the model with the same ``batch_size``.
    ``input_shape(stream_cfg, batch_size)`` is the exported model's input shape.
    """
    sampling = cfg.test_mode or cfg.mode
    joint = sampling == "joint"
    cfg = cfg.copy()
    if not joint:
        cfg.mode = sampling
    source = validation_source(cfg, out_dir, joint=joint)
    streams = [stream["modality"] for stream in source.streams]
    folders = {stream: os.path.join(out_dir, stream) if joint else out_dir for stream in streams}
    shapes, writers = {}, {}
    for stream in streams:
        stream_cfg = cfg.copy()
        stream_cfg.mode = stream
        shapes[stream] = input_shape(stream_cfg, cfg.batch_size)
        writers[stream] = BinBatchWriter(os.path.join(folders[stream], DATA_FOLDER),
                                         f"{cfg.dataset}_{stream}", shapes[stream])
    dataset = dataset_from_source(cfg, source, "val", batch_size=1)
    views, unreadable = 0, set()
    for *stream_views, label, index in progress(dataset.create_tuple_iterator(output_numpy=True),
                                                total=len(source), desc=f"preprocess {cfg.dataset} {sampling}"):
        for stream, batch in zip(streams, stream_views):
            writers[stream].add(batch[0], int(index[0]))
        views = len(stream_views[0][0])
        if int(label[0]) == UNREADABLE_LABEL:
            unreadable.add(int(index[0]))
    if unreadable:
        source.bad_samples.deduplicate()
        print(f"note: {len(unreadable)} of {len(source)} videos are unreadable, listed in {source.bad_samples.file}: "
              f"their views are zeros and postprocess.py leaves them out")
    videos = [{"index": i, "id": record.video_id, "label": UNREADABLE_LABEL if i in unreadable else int(record.label)}
              for i, record in enumerate(source.records)]
    labels = np.array([video["label"] for video in videos], dtype=np.int64)
    for stream in streams:
        meta = stream_meta(cfg, task_name, stream, shapes[stream], writers[stream].close(), videos, views)
        meta.update(sampling=sampling, num_classes=output_classes(cfg), class_names=source.class_names)
        written = sum(batch["valid"] for batch in meta["batches"])
        if written != views * len(videos):
            raise RuntimeError(f"{written} rows written for {len(videos)} videos x {views} views; the data "
                               f"pipeline yielded a video twice or not at all")
        write_meta(folders[stream], meta)
        np.save(os.path.join(folders[stream], LABELS_FILE), labels)
    return folders


def view_logits(meta: dict, output_path: str) -> np.ndarray:
    """(N videos, V views, K) logits of a recognizer's results, padding rows dropped."""
    result_dir = result_folder(output_path)
    batch, classes = meta["batch_size"], meta["num_classes"]
    logits = np.zeros((meta["num_videos"], meta["views_per_video"], classes), dtype=np.float32)
    filled = np.zeros(logits.shape[:2], dtype=bool)
    hint = (f"the results must be ({batch}, {classes}) float32 logits: export the model with batch_size {batch} "
            f"and {classes} classes, and run it on {meta.get('data_folder', DATA_FOLDER)} of this meta")
    for entry in meta["batches"]:
        output = load_bin(result_file(result_dir, entry["file"]), (batch, classes), hint=hint)
        rows = np.asarray(entry["rows"], dtype=np.int64).reshape(-1, 2)
        logits[rows[:, 0], rows[:, 1]] = output[:entry["valid"]]
        filled[rows[:, 0], rows[:, 1]] = True
    if not filled.all():
        raise ValueError(f"the meta of {output_path} leaves {int((~filled).sum())} (video, view) rows without a "
                         f"result; preprocess again")
    return logits


def _save(metrics: dict, labels: np.ndarray, final_scores: np.ndarray, video_scores: Dict[str, np.ndarray],
          video_ids, class_names, out_dir: str, tag: str) -> dict:
    write_results(metrics, labels, final_scores, class_names, out_dir, tag, video_ids)
    arrays = dict(video_scores, labels=labels, video_ids=np.asarray(video_ids))
    if tag == "joint":
        arrays["fused"] = final_scores
    np.savez(os.path.join(out_dir, "scores.npz"), **arrays)
    print(f"{tag}: top1 {metrics['top1']:.2f}  top5 {metrics['top5']:.2f}  mean class accuracy "
          f"{metrics['mean_class_accuracy']:.2f}  ({metrics['num_videos']} videos); "
          f"results in {os.path.join(out_dir, 'results.json')}")
    return metrics


def _note_unreadable(count: int, total: int) -> None:
    if count:
        print(f"note: {count} of {total} videos were unreadable when preprocessed and are left out (listed in "
              f"bad_samples_val.tsv beside the batches)")


def score_stream_results(cfg, meta: dict) -> dict:
    """Metrics of one stream's results (``result_path`` + its ``meta``)."""
    labels = np.array([video["label"] for video in meta["videos"]], dtype=np.int64)
    kept = labels != UNREADABLE_LABEL
    _note_unreadable(int((~kept).sum()), len(labels))
    stream = meta["stream"]
    metrics, scores, video_scores = recognition_metrics({stream: view_logits(meta, cfg.result_path)[kept]},
                                                        labels[kept])
    metrics.update(stream=stream, model=meta["model"], dataset=meta["dataset"],
                   result_path=os.path.abspath(cfg.result_path), latency_ms=read_latency(cfg.result_path))
    video_ids = [video["id"] for video, scored in zip(meta["videos"], kept) if scored]
    return _save(metrics, labels[kept], scores, video_scores, video_ids, meta["class_names"],
                 cfg.postprocess_path or cfg.result_path, stream)


def score_joint_results(cfg) -> dict:
    """Fused RGB + flow metrics of ``rgb_result_path`` and ``flow_result_path``."""
    paths = {"rgb": cfg.rgb_result_path, "flow": cfg.flow_result_path}
    metas = {stream: locate_meta(path, cfg.pre_result_path, stream) for stream, path in paths.items()}
    rgb_videos, flow_videos = metas["rgb"]["videos"], metas["flow"]["videos"]
    flow_position = {video["id"]: i for i, video in enumerate(flow_videos)}
    shared = [i for i, video in enumerate(rgb_videos) if video["id"] in flow_position]
    if not shared:
        raise ValueError(f"the RGB results ({paths['rgb']}) and flow results ({paths['flow']}) share no video")
    keep = [i for i in shared if UNREADABLE_LABEL not in
            (rgb_videos[i]["label"], flow_videos[flow_position[rgb_videos[i]["id"]]]["label"])]
    _note_unreadable(len(shared) - len(keep), len(shared))
    flow_keep = [flow_position[rgb_videos[i]["id"]] for i in keep]
    labels = np.array([rgb_videos[i]["label"] for i in keep], dtype=np.int64)
    flow_labels = np.array([flow_videos[i]["label"] for i in flow_keep], dtype=np.int64)
    if not np.array_equal(labels, flow_labels):
        raise ValueError("the RGB and flow metas give different labels to the same videos; preprocess both "
                         "streams from the same annotation")
    logits = {"rgb": view_logits(metas["rgb"], paths["rgb"])[keep],
              "flow": view_logits(metas["flow"], paths["flow"])[flow_keep]}
    metrics, scores, video_scores = recognition_metrics(logits, labels, cfg.joint_fusion, cfg.rgb_weight)
    same_clips = all(meta.get("sampling") == "joint" for meta in metas.values())
    if not same_clips:
        print("note: the streams were preprocessed separately, so the RGB clips are sampled over the RGB frame "
              "count; preprocess with --test_mode joint for the clips of eval.py --test_mode joint")
    metrics.update(stream="joint", model=metas["rgb"]["model"], dataset=metas["rgb"]["dataset"],
                   same_clips=same_clips, rgb_result_path=os.path.abspath(paths["rgb"]),
                   flow_result_path=os.path.abspath(paths["flow"]),
                   rgb_latency_ms=read_latency(paths["rgb"]), flow_latency_ms=read_latency(paths["flow"]))
    out_dir = cfg.postprocess_path or os.path.join(os.path.dirname(os.path.abspath(paths["rgb"])),
                                                   f"{metas['rgb']['dataset']}_joint")
    return _save(metrics, labels, scores, video_scores, [rgb_videos[i]["id"] for i in keep],
                 metas["rgb"]["class_names"], out_dir, "joint")
