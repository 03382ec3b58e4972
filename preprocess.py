"""Offline-inference input: ``python preprocess.py --config_path CFG --pre_result_path OUT [--batch_size 1]``.

Writes the VALIDATION split with the deterministic test transforms as raw float32 ``.bin`` batches
in the exported model's input layout (``OUT/00_data/``), plus ``OUT/meta.json`` and
``OUT/labels.npy`` (layout: ``src/infer/bins.py``). ``--batch_size`` must be the batch size the
model is exported with (``python export.py ... --batch_size N``). ``--test_mode joint`` writes
``OUT/rgb/`` and ``OUT/flow/`` on the same clips (``--video_path`` RGB root,
``--video_path_joint_flow`` flow root). BMN (``--model bmn``) writes its feature windows.
"""
from src.config import get_config
from src.engine.offline import write_offline_batches
from src.utils.command import run_command
from src.utils.runtime import say_device


def main():
    cfg = get_config(description=__doc__)
    say_device("device: none needed (preprocess.py runs no network; it reads and writes data on the CPU)")
    for stream, folder in write_offline_batches(cfg).items():
        print(f"{stream}: batches in {folder}")


if __name__ == "__main__":
    run_command(main)
