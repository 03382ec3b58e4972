"""Evaluate: ``python eval.py --config_path configs/<model>/<file>.yaml --checkpoint_path CKPT``.

* one stream (``--test_mode rgb|flow``, default: ``mode``): ``checkpoint_path`` is a checkpoint, or
  a folder of checkpoints (each evaluated, ``summary.txt`` written);
* both streams (``--test_mode joint``): ``--rgb_path`` and ``--flow_path`` are the two checkpoints,
  ``--video_path`` / ``--video_path_joint_flow`` the two frame roots; fusion by ``--joint_fusion``;
* BMN: proposals JSON, AR@1/5/10/100 and AUC.

Under a distributed launcher (msrun, or an HCCL rank table) with ``--distributed True`` the ranks
split the videos and rank 0 writes the results of all of them (docs/en/distributed.md).
"""
from src.config import get_config
from src.engine.evaluator import run_evaluation
from src.utils.cloud import prepare_cloud_job
from src.utils.command import run_command


def main():
    cfg, finish = prepare_cloud_job(get_config(description=__doc__), role="eval")  # no-op unless --openI
    run_evaluation(cfg)
    finish()


if __name__ == "__main__":
    run_command(main)
