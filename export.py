"""Export a checkpoint: ``python export.py --config_path CFG --checkpoint_path CKPT --file_format MINDIR``.

The exported input layout of each model is documented in ``src/engine/exporter.py`` and README.md.
"""
from src.config import get_config
from src.engine.exporter import export_from_config
from src.utils.runtime import setup_runtime


def main():
    cfg = get_config(description=__doc__)
    setup_runtime(cfg)
    path, difference, shape = export_from_config(cfg)
    print(f"exported {path} (input {list(shape)})")
    if difference is not None:
        print(f"reloaded {path}: max abs difference to the checkpoint's output {difference:.3e}")


if __name__ == "__main__":
    main()
