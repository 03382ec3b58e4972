"""``run_evaluation(cfg)``: the evaluation behind eval.py, the same for every model of the zoo; the
model's task (:mod:`src.tasks`) loads the checkpoint(s) and scores them.

Started by a distributed launcher with ``--distributed True`` (msrun, or an HCCL rank table), the
ranks split the validation split between them; rank 0 writes the results of all of them to
``save_dir`` and the other ranks only their log, to ``save_dir/rank_<id>/eval.log``.
"""
import json
import os

from src.config import describe, save_config
from src.engine.builders import check_data_roots
from src.tasks import task_of
from src.utils.command import UserError
from src.utils.runtime import get_logger, setup_runtime, writable_folder

__all__ = ["launcher_ranks", "run_evaluation"]


def launcher_ranks() -> int:
    """How many ranks the distributed launcher that started this process runs (msrun's workers, or
    ``RANK_SIZE`` beside an HCCL rank table); 1 without one."""
    if os.environ.get("MS_ROLE") == "MS_WORKER":
        return int(os.environ.get("MS_WORKER_NUM", "1"))
    if os.environ.get("RANK_TABLE_FILE"):
        return int(os.environ.get("RANK_SIZE", "1"))
    return 1


def run_evaluation(cfg) -> dict:
    """Evaluate the configured checkpoint(s) on the validation split; results go to ``save_dir``."""
    ranks = launcher_ranks()
    if ranks > 1 and not cfg.distributed:
        raise UserError(f"eval.py runs as one of {ranks} ranks of a distributed launcher but distributed is "
                        f"False, so every rank would evaluate everything into the same save_dir: add "
                        f"--distributed True to split the videos across the ranks, or start one process")
    run = setup_runtime(cfg)
    out_dir = writable_folder(cfg.save_dir, "save_dir")
    check_data_roots(cfg, joint=cfg.test_mode == "joint")
    log_dir = out_dir if run.is_main else os.path.join(out_dir, f"rank_{run.rank_id}")
    logger = get_logger(log_file=os.path.join(log_dir, "eval.log"))
    if run.group_size > 1:
        logger.info(f"rank {run.rank_id} of {run.group_size} (pid {os.getpid()}): this rank scores its share of "
                    f"the videos; rank 0 writes the results of all of them to {out_dir}")
    logger.info(f"configuration (keys that differ from the defaults; all of them in eval_config.yaml): "
                f"{describe(cfg, changed_only=True)}")
    if run.is_main:
        save_config(cfg, out_dir, "eval_config.yaml")
    metrics = task_of(cfg).evaluate_checkpoints(cfg, out_dir, run)
    logger.info("results: " + json.dumps({k: v for k, v in metrics.items() if not isinstance(v, list)}))
    return metrics
