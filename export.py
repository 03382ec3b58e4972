"""Export a checkpoint: ``python export.py --config_path CFG --checkpoint_path CKPT --file_format MINDIR``.

The exported input layout of each model is documented in ``src/engine/exporter.py`` and README.md.
"""
from src.config import get_config
from src.engine.exporter import export_from_config
from src.utils.command import run_command
from src.utils.runtime import setup_runtime


def main():
    cfg = get_config(description=__doc__)
    setup_runtime(cfg)
    path, difference, shape = export_from_config(cfg)
    print(f"exported {path} (input {list(shape)})")
    checked_by = {"MINDIR": "reloaded", "ONNX": "ran with onnxruntime"}.get(cfg.file_format)
    if difference is not None:
        print(f"{checked_by} {path}: max abs difference to the checkpoint's outputs {difference:.3e}")
    elif cfg.file_format == "ONNX":
        print(f"{path} not checked: onnxruntime is not installed (pip install onnxruntime)")


if __name__ == "__main__":
    run_command(main)
