"""Offline inference of localizers: one ``(feat_dim, tscale)`` feature window per row, and the
proposals and metrics of an inference program's outputs 0, 1, 2 (confidence map, start, end)."""
import os
from typing import Dict

from src.data.bmn_data import build_bmn_source
from src.options import Config
from src.infer.bins import DATA_FOLDER, BinBatchWriter, load_bin, read_latency, result_file, result_folder, \
    stream_meta, write_meta
from src.utils.progress import progress

from .evaluation import score_proposals

__all__ = ["write_localizer_batches", "score_localizer_results"]


def write_localizer_batches(cfg, out_dir: str, task_name: str, input_shape) -> Dict[str, str]:
    """Write the validation feature windows (one row per video) with each video's id, name and
    duration (seconds covered by the features) and the split's ground truth in the meta; a video
    whose feature file is unusable is written as zeros and marked ``unusable`` (no proposals)."""
    source = build_bmn_source(cfg, "val")
    shape = input_shape(cfg, cfg.batch_size)
    writer = BinBatchWriter(os.path.join(out_dir, DATA_FOLDER), f"{cfg.dataset}_{cfg.model}", shape)
    unusable = set()  # videos whose feature file could not be used: zero rows, no proposals when scored
    for index in progress(range(len(source)), desc=f"preprocess {cfg.dataset} {cfg.model}"):
        features, carried = source[index]
        if carried < 0:
            unusable.add(index)
        writer.add(features[None], index)
    videos = [dict(source.video_info(index), index=index, **({"unusable": True} if index in unusable else {}))
              for index in range(len(source))]
    meta = stream_meta(cfg, task_name, cfg.model, shape, writer.close(), videos, 1)
    meta["ground_truth"] = source.ground_truth
    write_meta(out_dir, meta)
    return {cfg.model: out_dir}


def score_localizer_results(cfg, meta: dict) -> dict:
    """Proposals, AR@AN and AUC of a localizer's results.

    Post-processing settings (soft_nms_*, max_proposals, num_workers) come from ``--config_path``
    when given, else from the configuration recorded in meta.json at preprocessing.
    """
    settings = cfg if cfg.config_path else Config(meta["config"])
    result_dir = result_folder(cfg.result_path)
    batch, tscale = meta["batch_size"], meta["input_shape"][-1]
    shapes = ((batch, 2, tscale, tscale), (batch, tscale), (batch, tscale))
    hint = f"localizer results must be float32 (confidence map {shapes[0]}, start {shapes[1]}, end {shapes[2]})"
    outputs = []
    for entry in meta["batches"]:
        confidence, start, end = (load_bin(result_file(result_dir, entry["file"], k), shape, hint=hint)
                                  for k, shape in enumerate(shapes))
        for row, (video, _) in enumerate(entry["rows"]):
            info = meta["videos"][video]
            if not info.get("unusable"):
                outputs.append((info["id"], info["duration"], start[row], end[row], confidence[row]))
    out_dir = cfg.postprocess_path or cfg.result_path
    summary = score_proposals(outputs, meta["ground_truth"], settings, out_dir,
                              f"{meta['model']} {meta['dataset']} (offline)", metrics_file="results.json")
    summary.update(model=meta["model"], dataset=meta["dataset"], result_path=os.path.abspath(cfg.result_path),
                   latency_ms=read_latency(cfg.result_path))
    return summary
