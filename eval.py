"""Evaluate: ``python eval.py --config_path configs/<model>/<file>.yaml --checkpoint_path CKPT``.

* one stream (``--test_mode rgb|flow``, default: ``mode``): ``checkpoint_path`` is a checkpoint, or
  a folder of checkpoints (each evaluated, ``summary.txt`` written);
* both streams (``--test_mode joint``): ``--rgb_path`` and ``--flow_path`` are the two checkpoints,
  ``--video_path`` / ``--video_path_joint_flow`` the two frame roots; fusion by ``--joint_fusion``;
* BMN: proposals JSON, AR@1/5/10/100 and AUC.
"""
from src.config import get_config
from src.engine.evaluator import run_evaluation
from src.utils.cloud import run_as_cloud_job


def main():
    cfg = get_config(description=__doc__)
    with run_as_cloud_job(cfg, role="eval") as job_cfg:
        run_evaluation(job_cfg)


if __name__ == "__main__":
    main()
