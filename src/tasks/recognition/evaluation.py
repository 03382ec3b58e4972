"""Recognizer evaluation: every view of every video scored, views averaged into video scores.

Multi-clip / multi-crop aggregation lives here and only here: a test item holds all V views of a
video ((V, C, T, H, W) or (V, S, C, H, W)); the network scores the V views as one batch and the
video's logits are their mean. Joint evaluation scores the RGB and flow views of the same clips
and fuses the two streams' video logits (``src.metrics.classification.fuse_streams``).

Across ranks (``run``, from :func:`src.utils.runtime.setup_runtime`) each rank scores its shard of
the videos, every rank receives all ranks' video logits (:mod:`src.utils.gather`), repeated videos of
uneven shards are dropped by video index, and only rank 0 writes files.
"""
import glob
import json
import os
import time
from typing import Dict, List, Sequence

import mindspore as ms
import numpy as np

from src.data.bad_samples import TooManyBadSamples
from src.data.dataset import EVAL_BAD_SAMPLES_FILE, UNREADABLE_LABEL, build_video_source, dataset_from_source
from src.infer.backends import inference_network
from src.metrics.classification import confusion_matrix, recognition_metrics
from src.utils.command import one_line
from src.utils.gather import all_gather_arrays, unique_rows
from src.utils.plots import plot_confusion_matrix
from src.utils.progress import progress
from src.utils.runtime import RunContext, get_logger, run_folder

__all__ = ["validation_source", "leave_out_unreadable", "score_views", "predict_dataset", "evaluate_nets",
           "evaluate_checkpoints", "write_results", "evaluate_recognizer"]


def validation_source(cfg, out_dir: str, joint: bool = False, rank_id: int = 0):
    """The validation source of an evaluation writing to ``out_dir``: it lists the videos it cannot
    read in ``bad_samples_val.tsv`` there (``rank_<id>/`` for the other ranks) and yields them as
    unreadable placeholders, which :func:`evaluate_nets` leaves out and counts. A list left by an
    earlier run is removed: it names the videos of this run only."""
    bad_samples_file = os.path.join(run_folder(out_dir or cfg.save_dir, rank_id), EVAL_BAD_SAMPLES_FILE)
    if os.path.isfile(bad_samples_file):
        os.remove(bad_samples_file)
    return build_video_source(cfg, "val", joint=joint, bad_samples_file=bad_samples_file)


def leave_out_unreadable(cfg, source, logits: List[np.ndarray], labels: np.ndarray, group_size: int = 1):
    """``(logits, labels, kept)`` without the videos ``source`` could not read (``kept``: the mask of the
    others); a warning counts them, and :class:`TooManyBadSamples` stops the evaluation when their share
    passes ``max_bad_sample_ratio``."""
    kept = labels != UNREADABLE_LABEL
    if source.bad_samples is not None:
        source.bad_samples.deduplicate()
    unreadable = int((~kept).sum())
    if not unreadable:
        return logits, labels, kept
    where = source.bad_samples.file + (" (rank_<id>/ beside it for the other ranks)" if group_size > 1 else "")
    if unreadable > cfg.max_bad_sample_ratio * len(labels):
        raise TooManyBadSamples(f"{unreadable} of the {len(labels)} validation videos are unreadable, more than "
                                f"max_bad_sample_ratio {cfg.max_bad_sample_ratio}; they are listed in {where}: repair "
                                f"or remove them (or raise --max_bad_sample_ratio)")
    get_logger().warning(f"{unreadable} of the {len(labels)} validation videos are unreadable and left out of the "
                         f"metrics; they are listed in {where}")
    return [stream[kept] for stream in logits], labels[kept], kept


def score_views(net, views: np.ndarray) -> np.ndarray:
    """Logits of every view: (B, V, ...) -> (B, V, K)."""
    batch, num_views = views.shape[:2]
    flat = views.reshape((batch * num_views,) + views.shape[2:])
    logits = net(ms.Tensor(flat, ms.float32)).asnumpy()
    return logits.reshape(batch, num_views, -1)


def predict_dataset(nets: Sequence, dataset, desc: str = "eval", group_size: int = 1):
    """Per-view logits of every video for each stream's net.

    Returns ``(logits, labels)`` with ``logits`` a list (one per stream) of (N, V, K) arrays in
    video-index order, one row per video, and ``labels`` (N,). With ``group_size`` > 1, ``dataset``
    is this rank's shard and the rows of every rank's shard are returned.
    """
    for net in nets:
        net.set_train(False)
    per_stream: List[List[np.ndarray]] = [[] for _ in nets]
    labels, indices = [], []
    total = dataset.get_dataset_size()
    for batch in progress(dataset.create_tuple_iterator(output_numpy=True), total=total, desc=desc, leave=False):
        *views, label, index = batch
        for stream, (net, stream_views) in enumerate(zip(nets, views)):
            per_stream[stream].append(score_views(net, stream_views))
        labels.append(label)
        indices.append(index)
    rows = {"index": np.concatenate(indices), "label": np.concatenate(labels)}
    rows.update({f"logits_{stream}": np.concatenate(chunks) for stream, chunks in enumerate(per_stream)})
    rows = unique_rows(all_gather_arrays(rows, group_size), "index")
    return [rows[f"logits_{stream}"] for stream in range(len(nets))], rows["label"]


def write_results(metrics: Dict, labels: np.ndarray, video_scores: np.ndarray, class_names: Sequence[str],
                  out_dir: str, tag: str, video_ids: Sequence[str], checkpoint: str = "") -> Dict:
    """Save ``results.json`` (metrics + per-video predictions by video name) and the confusion-matrix PNG
    (titled with ``checkpoint``, the weights evaluated, when given)."""
    os.makedirs(out_dir, exist_ok=True)
    predictions = video_scores.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, video_scores.shape[1])
    png = plot_confusion_matrix(matrix, class_names, os.path.join(out_dir, f"confusion_{tag}.png"),
                                title=f"{tag}: top-1 {metrics['top1']:.2f}%", checkpoint=checkpoint)
    payload = dict(metrics, confusion_png=os.path.basename(png),
                   predictions=[{"video": str(video), "label": int(label), "pred": int(pred),
                                 "label_name": class_names[label], "pred_name": class_names[pred]}
                                for video, label, pred in zip(video_ids, labels, predictions)])
    name = "results.json" if tag in ("rgb", "rgbdiff", "flow", "joint") else f"results_{tag}.json"
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    return metrics


def evaluate_nets(cfg, nets: Dict[str, object], out_dir: str = "", source=None, checkpoint: str = "",
                  run: RunContext = RunContext()) -> Dict:
    """Evaluate one stream (``{mode: net}``) or both (``{"rgb": .., "flow": ..}``) on the val split,
    split across the ranks of ``run``.

    Returns the metrics (top1, top5, mean_class_accuracy, clip_top1 — per stream and, for two
    streams, of the fusion; the same on every rank) and, on rank 0, writes results + confusion PNG
    when ``out_dir`` is given.
    """
    joint = len(nets) == 2
    if source is None:
        source = validation_source(cfg, out_dir, joint, run.rank_id)
    dataset = dataset_from_source(cfg, source, "val", run.rank_id, run.group_size)
    start = time.time()
    logits, labels = predict_dataset(list(nets.values()), dataset, desc="eval " + "+".join(nets),
                                     group_size=run.group_size)
    if len(labels) != len(source):
        raise RuntimeError(f"{len(labels)} of the {len(source)} videos were scored")
    logits, labels, kept = leave_out_unreadable(cfg, source, logits, labels, run.group_size)
    metrics, final_scores, _ = recognition_metrics(dict(zip(nets, logits)), labels, cfg.joint_fusion,
                                                   cfg.rgb_weight)
    metrics["seconds"] = round(time.time() - start, 2)
    if not kept.all():
        metrics["unreadable_videos"] = int((~kept).sum())
    if out_dir and run.is_main:
        video_ids = [record.video_id for record, scored in zip(source.records, kept) if scored]
        write_results(metrics, labels, final_scores, source.class_names, out_dir, "joint" if joint else cfg.mode,
                      video_ids, checkpoint)
    return metrics


def evaluate_checkpoints(cfg, folder: str, out_dir: str, run: RunContext = RunContext()) -> List[Dict]:
    """Evaluate every ``*.ckpt`` of ``folder`` (sorted by name, each split across the ranks of
    ``run``) and write ``summary.txt`` (rank 0).

    A checkpoint that cannot be loaded is reported in the summary with its whole reason (and logged)
    and the others are still evaluated; ``summary.txt`` is rewritten after each checkpoint, so
    results already computed survive a later failure. Returns the rows of the checkpoints that were
    evaluated. Raises ValueError when none could be, and when any failed unless
    ``cfg.allow_failed_checkpoints`` accepts partial results (then eval.py exits non-zero).
    """
    checkpoints = sorted(glob.glob(os.path.join(folder, "*.ckpt")))
    if not checkpoints:
        raise FileNotFoundError(f"no .ckpt files in {folder}")
    source = validation_source(cfg, out_dir, rank_id=run.rank_id)
    os.makedirs(out_dir, exist_ok=True)
    summary_path = os.path.join(out_dir, "summary.txt")
    rows, lines = [], []
    for checkpoint in checkpoints:
        name = os.path.basename(checkpoint)
        try:
            net = inference_network(cfg, checkpoint)
        except (ValueError, OSError) as err:
            get_logger().error(f"skipping {checkpoint}: {err}")
            lines.append(f"{name}	FAILED	{one_line(err)}")
        else:
            metrics = evaluate_nets(cfg, {cfg.mode: net}, source=source, run=run)
            rows.append(dict(metrics, checkpoint=name))
            unreadable = metrics.get("unreadable_videos")
            lines.append(f"{name}	top1 {metrics['top1']:.2f}	top5 {metrics['top5']:.2f}	"
                         f"mean_class {metrics['mean_class_accuracy']:.2f}"
                         + (f"	unreadable_videos {unreadable}" if unreadable else ""))
        if run.is_main:
            with open(summary_path, "w", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in lines))
    if not rows:
        raise ValueError(f"none of the {len(checkpoints)} checkpoints in {folder} could be loaded; see {summary_path}")
    failed = [line.split("\t", 1)[0] for line in lines if "\tFAILED\t" in line]
    if failed and not cfg.allow_failed_checkpoints:
        raise ValueError(f"{len(failed)} of {len(checkpoints)} checkpoints in {folder} could not be evaluated "
                         f"({', '.join(failed)}; the reasons and the others' results are in {summary_path}); "
                         f"--allow_failed_checkpoints True accepts the partial results")
    return rows


def evaluate_recognizer(cfg, out_dir: str, run: RunContext = RunContext()) -> Dict:
    """eval.py for recognizers: one stream (a checkpoint or a folder of them) or joint RGB + flow,
    split across the ranks of ``run``."""
    test_mode = cfg.test_mode or cfg.mode
    if test_mode == "joint":
        if not (cfg.rgb_path and cfg.flow_path):
            raise ValueError("joint evaluation needs --rgb_path and --flow_path (the two checkpoints)")
        nets = {"rgb": inference_network(cfg, cfg.rgb_path, "rgb"),
                "flow": inference_network(cfg, cfg.flow_path, "flow")}
        checkpoints = f"{os.path.basename(cfg.rgb_path)} + {os.path.basename(cfg.flow_path)}"
        return evaluate_nets(cfg, nets, out_dir, checkpoint=checkpoints, run=run)
    if os.path.isdir(cfg.checkpoint_path):
        rows = evaluate_checkpoints(cfg.copy(), cfg.checkpoint_path, out_dir, run)
        get_logger().info(f"summary of the checkpoints: {os.path.join(out_dir, 'summary.txt')}")
        return max(rows, key=lambda row: row["top1"])
    cfg = cfg.copy()
    cfg.mode = test_mode
    return evaluate_nets(cfg, {test_mode: inference_network(cfg, cfg.checkpoint_path)}, out_dir,
                         checkpoint=os.path.basename(cfg.onnx_path or cfg.checkpoint_path), run=run)
