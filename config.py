"""Show the resolved configuration: ``python config.py --config_path configs/i3d/ucf101_rgb.yaml [--key value]``.

Every entry point (train.py, eval.py, export.py, preprocess.py, postprocess.py) reads the same
configuration (``src/config.py``); ``python config.py --help`` lists every key with its type.
"""
from src.config import describe, get_config


def main():
    print(describe(get_config(description=__doc__)))


if __name__ == "__main__":
    main()
