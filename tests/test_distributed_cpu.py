"""Data-parallel training with msrun on CPU through scripts/run_distribute_train.sh (2 local workers)."""
import os
import re
import shutil
import subprocess

import pytest

from helpers import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("msrun") is None, reason="msrun (MindSpore's launcher) is not on PATH")
def test_two_worker_msrun_training(tiny_frames, tmp_path):
    out = tmp_path / "dist"
    env = dict(os.environ, SKIP_SETUP="1", DEVICE_TARGET="CPU", OUTPUT_DIR=str(out), MASTER_PORT=str(free_port()),
               EXTRA_ARGS="--model resnet3d --model_depth 10 --num_classes 2 --spatial_size 16 --resize_short 20 "
                          "--train_sample_duration 4 --test_sample_duration 4 --batch_size 2 --num_workers 1 "
                          "--optimizer sgd --lr 0.01 --no_eval True --normalize minus_one_to_one --dataset demo")
    result = subprocess.run(
        ["bash", "scripts/run_distribute_train.sh", "2", "none", "demo", "rgb", "2", str(tiny_frames / "jpg"),
         str(tiny_frames / "anno.json"), "none", "configs/resnet3d/demo_rgb.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    logs = [out / "train.log", out / "rank_1" / "train.log"]
    detail = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, detail
    texts = [log.read_text() for log in logs]
    assert "rank 0 of 2" in texts[0] and "rank 1 of 2" in texts[1]
    # 12 training videos sharded over 2 ranks, batch 2 -> 3 steps per epoch on each rank
    assert all("3 steps per epoch" in text for text in texts)
    checksums = [re.search(r"trained-weight checksum ([0-9.]+)", text).group(1) for text in texts]
    assert checksums[0] == checksums[1]
    assert (out / "checkpoints" / "resnet3d_demo_rgb-2_3.ckpt").is_file()
    assert not (out / "rank_1" / "checkpoints").exists()  # only rank 0 writes checkpoints
