"""``run_evaluation(cfg)``: the evaluation behind eval.py, the same for every model of the zoo; the
model's task (:mod:`src.tasks`) loads the checkpoint(s) and scores them."""
import json
import os

from src.config import describe, save_config
from src.engine.builders import check_data_roots
from src.tasks import task_of
from src.utils.runtime import get_logger, setup_runtime, writable_folder

__all__ = ["run_evaluation"]


def run_evaluation(cfg) -> dict:
    """Evaluate the configured checkpoint(s) on the validation split; results go to ``save_dir``."""
    setup_runtime(cfg)
    out_dir = writable_folder(cfg.save_dir, "save_dir")
    check_data_roots(cfg, joint=cfg.test_mode == "joint")
    logger = get_logger(log_file=os.path.join(out_dir, "eval.log"))
    logger.info(f"configuration (keys that differ from the defaults; all of them in eval_config.yaml): "
                f"{describe(cfg, changed_only=True)}")
    save_config(cfg, out_dir, "eval_config.yaml")
    metrics = task_of(cfg).evaluate_checkpoints(cfg, out_dir)
    logger.info("results: " + json.dumps({k: v for k, v in metrics.items() if not isinstance(v, list)}))
    return metrics
