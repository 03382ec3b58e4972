"""Train any model of the zoo: ``python train.py --config_path configs/<model>/<file>.yaml [--key value ...]``."""
from src.config import get_config
from src.engine.trainer import train
from src.utils.cloud import prepare_cloud_job
from src.utils.command import run_command


def main():
    cfg, finish = prepare_cloud_job(get_config(description=__doc__), role="train")  # no-op unless --openI
    train(cfg)
    finish()


if __name__ == "__main__":
    run_command(main)
