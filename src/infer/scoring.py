"""Postprocessing of offline inference: ``result_Files`` + ``meta.json`` -> the metrics of eval.py.

Recognizers: the rows of every result batch are put back at their (video, view) from the meta
(padding rows dropped), each video's score is the mean of its views' logits and the metrics are
:func:`src.metrics.classification.classification_metrics` of those scores — the evaluator's
conventions, so a model scored here and by eval.py on the same data reports the same numbers.
Joint RGB + flow: the two streams' video scores are fused with ``joint_fusion`` on the videos both
folders hold (in RGB order). Folders from ``preprocess.py --test_mode joint`` saw the same clips as
``eval.py --test_mode joint``; folders preprocessed one stream at a time sample the RGB clips over
the RGB frame count (joint evaluation samples both streams over the flow count), which is recorded
as ``same_clips: false`` in the results.

BMN: outputs 0, 1, 2 of each batch (confidence map, start, end) go through the evaluator's
post-processing (:mod:`src.postprocess.bmn_proposals`) and proposal metric
(:mod:`src.metrics.proposal_metrics`) with each video's duration from the meta.

Outputs (``postprocess_path``): ``results.json`` + confusion PNG (``evaluator.write_results``) and
``scores.npz`` (``labels``, ``video_ids`` and per-video scores of every stream, ``fused`` for joint);
BMN: ``results.json`` (AR@AN, AUC, the curve), the proposals JSON and the AR-AN curve PNG.
"""
import json
import os
from typing import Dict, Tuple

import numpy as np

from src.config import Config
from src.engine.evaluator import write_results
from src.infer.bins import META_FILE, RESULT_FOLDER, load_bin, read_latency, read_meta, result_file
from src.metrics.classification import recognition_metrics
from src.metrics.proposal_metrics import plot_ar_an, proposal_metrics
from src.postprocess.bmn_proposals import CURVE_FILE, PROPOSALS_FILE, SoftNMSParams, postprocess_videos, \
    write_proposals

__all__ = ["result_folder", "locate_meta", "view_logits", "postprocess_stream",
           "postprocess_joint", "postprocess_bmn", "run_postprocess"]

BMN_SUMMARY = ("AR@1", "AR@5", "AR@10", "AR@100", "AUC")


def result_folder(output_path: str) -> str:
    """The folder of the ``*_0.bin`` results: ``<output_path>/result_Files`` or ``output_path`` itself."""
    nested = os.path.join(output_path, RESULT_FOLDER)
    if os.path.isdir(nested):
        return nested
    if os.path.isdir(output_path) and any(name.endswith("_0.bin") for name in os.listdir(output_path)):
        return output_path
    raise FileNotFoundError(f"no {RESULT_FOLDER}/ in {output_path}; pass the --output_path of the inference "
                            f"run (ascend_310_infer/out/main or python -m src.infer.mindir_runner)")


def locate_meta(output_path: str, pre_result_path: str, stream: str = "") -> dict:
    """The meta.json describing ``output_path``'s results.

    Looked up in ``pre_result_path/<stream>/`` (joint preprocessing), ``pre_result_path/``, then
    ``output_path/`` (run_infer_310.sh copies it there). ``stream``, when given, must match.
    """
    candidates = []
    if pre_result_path:
        candidates += [os.path.join(pre_result_path, stream)] if stream else []
        candidates.append(pre_result_path)
    candidates.append(output_path)
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, META_FILE)):
            meta = read_meta(folder)
            if stream and meta.get("stream") != stream:
                raise ValueError(f"{os.path.join(folder, META_FILE)} describes the {meta.get('stream')} stream, not "
                                 f"{stream}; pass the {stream} folders")
            return meta
    raise FileNotFoundError(f"no {META_FILE} in {' or '.join(candidates)}; pass --pre_result_path (the "
                            f"preprocess.py output folder)")


def view_logits(meta: dict, output_path: str) -> np.ndarray:
    """(N videos, V views, K) logits of a recognizer's results, padding rows dropped."""
    result_dir = result_folder(output_path)
    batch, classes = meta["batch_size"], meta["num_classes"]
    logits = np.zeros((meta["num_videos"], meta["views_per_video"], classes), dtype=np.float32)
    filled = np.zeros(logits.shape[:2], dtype=bool)
    hint = (f"the results must be ({batch}, {classes}) float32 logits: export the model with batch_size {batch} "
            f"and {classes} classes, and run it on {meta.get('data_folder', '00_data')} of this meta")
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
    write_results(metrics, labels, final_scores, class_names, out_dir, tag)
    arrays = dict(video_scores, labels=labels, video_ids=np.asarray(video_ids))
    if tag == "joint":
        arrays["fused"] = final_scores
    np.savez(os.path.join(out_dir, "scores.npz"), **arrays)
    print(f"{tag}: top1 {metrics['top1']:.2f}  top5 {metrics['top5']:.2f}  mean class accuracy "
          f"{metrics['mean_class_accuracy']:.2f}  ({metrics['num_videos']} videos); "
          f"results in {os.path.join(out_dir, 'results.json')}")
    return metrics


def postprocess_stream(cfg) -> dict:
    """Metrics of one stream's results (``result_path`` + its meta)."""
    if not cfg.result_path:
        raise ValueError("set --result_path (the inference output folder holding result_Files/), or "
                         "--rgb_result_path and --flow_result_path for joint accuracy")
    meta = locate_meta(cfg.result_path, cfg.pre_result_path)
    if meta["model"] == "bmn":
        return postprocess_bmn(cfg, meta)
    labels = np.array([video["label"] for video in meta["videos"]], dtype=np.int64)
    stream = meta["stream"]
    metrics, scores, video_scores = recognition_metrics({stream: view_logits(meta, cfg.result_path)}, labels)
    metrics.update(stream=stream, model=meta["model"], dataset=meta["dataset"],
                   result_path=os.path.abspath(cfg.result_path), latency_ms=read_latency(cfg.result_path))
    return _save(metrics, labels, scores, video_scores, [v["id"] for v in meta["videos"]], meta["class_names"],
                 cfg.postprocess_path or cfg.result_path, stream)


def postprocess_joint(cfg) -> dict:
    """Fused RGB + flow metrics of ``rgb_result_path`` and ``flow_result_path``."""
    paths = {"rgb": cfg.rgb_result_path, "flow": cfg.flow_result_path}
    metas = {stream: locate_meta(path, cfg.pre_result_path, stream) for stream, path in paths.items()}
    rgb_videos, flow_videos = metas["rgb"]["videos"], metas["flow"]["videos"]
    flow_position = {video["id"]: i for i, video in enumerate(flow_videos)}
    keep = [i for i, video in enumerate(rgb_videos) if video["id"] in flow_position]
    if not keep:
        raise ValueError(f"the RGB results ({paths['rgb']}) and flow results ({paths['flow']}) share no video")
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


def postprocess_bmn(cfg, meta: dict) -> dict:
    """Proposals, AR@AN and AUC of BMN results (outputs 0, 1, 2 = confidence map, start, end).

    Post-processing settings (soft_nms_*, max_proposals, num_workers) come from ``--config_path``
    when given, else from the configuration recorded in meta.json at preprocessing.
    """
    settings = cfg if cfg.config_path else Config(meta["config"])
    result_dir = result_folder(cfg.result_path)
    batch, tscale = meta["batch_size"], meta["input_shape"][-1]
    shapes = ((batch, 2, tscale, tscale), (batch, tscale), (batch, tscale))
    hint = f"BMN results must be float32 (confidence map {shapes[0]}, start {shapes[1]}, end {shapes[2]})"
    outputs = []
    for entry in meta["batches"]:
        confidence, start, end = (load_bin(result_file(result_dir, entry["file"], k), shape, hint=hint)
                                  for k, shape in enumerate(shapes))
        for row, (video, _) in enumerate(entry["rows"]):
            info = meta["videos"][video]
            outputs.append((info["id"], info["duration"], start[row], end[row], confidence[row]))
    results = postprocess_videos(outputs, SoftNMSParams.from_config(settings), settings.num_workers)
    out_dir = cfg.postprocess_path or cfg.result_path
    proposals_path = write_proposals(results, os.path.join(out_dir, PROPOSALS_FILE))
    metrics = proposal_metrics(meta["ground_truth"], results, settings.max_proposals)
    plot_ar_an(metrics, os.path.join(out_dir, CURVE_FILE), f"BMN {meta['dataset']} (offline)")
    missing = metrics.pop("missing_videos")
    summary = {key: metrics[key] for key in BMN_SUMMARY}
    summary.update(num_videos=len(outputs), missing_videos=len(missing), model="bmn", dataset=meta["dataset"],
                   result_path=os.path.abspath(cfg.result_path), latency_ms=read_latency(cfg.result_path),
                   proposals=os.path.basename(proposals_path))
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(dict(summary, missing_video_ids=missing, **metrics), handle, indent=1)
    print("bmn: " + "  ".join(f"{key} {summary[key]:.2f}" for key in BMN_SUMMARY)
          + f"  ({len(outputs)} videos); results in {os.path.join(out_dir, 'results.json')}")
    return summary


def run_postprocess(cfg) -> dict:
    """postprocess.py: joint when both stream folders are given, else one stream (or BMN)."""
    if cfg.rgb_result_path or cfg.flow_result_path:
        if not (cfg.rgb_result_path and cfg.flow_result_path):
            raise ValueError("joint postprocessing needs both --rgb_result_path and --flow_result_path")
        return postprocess_joint(cfg)
    return postprocess_stream(cfg)
