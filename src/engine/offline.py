"""preprocess.py and postprocess.py for every model: the model's task (:mod:`src.tasks`) writes the
``.bin`` batches and scores the inference program's results (folder layout: :mod:`src.infer.bins`)."""
import os
from typing import Dict

from src.engine.builders import check_data_roots
from src.infer.bins import locate_meta
from src.models.registry import model_task
from src.tasks import get_task, task_of
from src.utils.command import UserError

__all__ = ["write_offline_batches", "score_offline_results"]


def write_offline_batches(cfg, out_dir: str = "") -> Dict[str, str]:
    """The validation split of ``cfg.model`` as .bin batches in ``out_dir`` (default: see config)."""
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {cfg.batch_size}")
    check_data_roots(cfg, joint=cfg.test_mode == "joint")
    return task_of(cfg).write_offline_batches(cfg, out_dir or cfg.pre_result_path)


def score_offline_results(cfg) -> dict:
    """Metrics of ``result_path`` (one stream), or of ``rgb_result_path`` + ``flow_result_path`` (joint),
    by the task recorded in the preprocessing meta."""
    joint = bool(cfg.rgb_result_path or cfg.flow_result_path)
    result_path = (cfg.rgb_result_path or cfg.flow_result_path) if joint else cfg.result_path
    if not result_path:
        raise ValueError("set --result_path (the inference output folder holding result_Files/), or "
                         "--rgb_result_path and --flow_result_path for joint accuracy")
    given = [("rgb_result_path", cfg.rgb_result_path), ("flow_result_path", cfg.flow_result_path)] if joint \
        else [("result_path", cfg.result_path)]
    for key, folder in given:
        if folder and not os.path.isdir(folder):
            raise UserError(f"{key} {folder} {'is not a folder' if os.path.exists(folder) else 'does not exist'}: "
                            f"set --{key} to the inference program's --output_path (the folder holding "
                            f"result_Files/)")
    stream = ("rgb" if cfg.rgb_result_path else "flow") if joint else ""
    meta = locate_meta(result_path, cfg.pre_result_path, stream)
    return get_task(meta.get("task") or model_task(meta["model"])).score_offline_results(cfg, meta)
