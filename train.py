"""Train any model of the zoo: ``python train.py --config_path configs/<model>/<file>.yaml [--key value ...]``."""
from src.config import get_config
from src.engine.trainer import train
from src.utils.cloud import run_as_cloud_job


def main():
    cfg = get_config(description=__doc__)
    with run_as_cloud_job(cfg, role="train") as job_cfg:
        train(job_cfg)


if __name__ == "__main__":
    main()
