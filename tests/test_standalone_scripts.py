"""The model-zoo shell scripts: standalone training, single-stream and joint evaluation."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ("--model resnet3d --model_depth 10 --num_classes 2 --spatial_size 16 --resize_short 20 "
        "--train_sample_duration 4 --test_sample_duration 4 --batch_size 2 --num_workers 1 --optimizer sgd "
        "--lr 0.01 --normalize minus_one_to_one --checkpoints_num_keep 3")


def _run(script, args, tmp_path, out, extra=TINY):
    env = dict(os.environ, SKIP_SETUP="1", DEVICE_TARGET="CPU", CONFIG_PATH="configs/resnet3d/demo_rgb.yaml",
               OUTPUT_DIR=str(tmp_path / out), EXTRA_ARGS=extra)
    return subprocess.run(["bash", f"scripts/{script}"] + [str(a) for a in args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("script,count", [("run_standalone_train.sh", 7), ("run_single_eval.sh", 6),
                                          ("run_joint_eval.sh", 8)])
def test_wrong_argument_count_prints_usage(script, count, tmp_path):
    result = _run(script, ["x"] * (count - 1), tmp_path, "o")
    assert result.returncode != 0
    assert f"expected {count} arguments" in result.stderr and "bash scripts/" in result.stderr


def test_train_then_single_and_joint_eval(tiny_frames, tmp_path):
    anno = tiny_frames / "anno.json"
    for mode, frames in (("rgb", "jpg"), ("flow", "flow")):
        result = _run("run_standalone_train.sh", [0, "demo", mode, 2, tiny_frames / frames, anno, "none"],
                      tmp_path, f"train_{mode}")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ckpts = tmp_path / "train_rgb" / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("*-*_6.ckpt")) == ["resnet3d_demo_rgb-1_6.ckpt", "resnet3d_demo_rgb-2_6.ckpt"]

    result = _run("run_single_eval.sh", [0, "rgb", "demo", ckpts, tiny_frames / "jpg", anno], tmp_path, "eval_rgb")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = (tmp_path / "eval_rgb" / "summary.txt").read_text().splitlines()
    assert len(summary) == 3  # two epoch checkpoints and the best one

    flow_best = tmp_path / "train_flow" / "checkpoints" / "resnet3d_demo_flow_best.ckpt"
    result = _run("run_joint_eval.sh", [0, "demo", tiny_frames / "jpg", tiny_frames / "flow", anno, anno,
                                        ckpts / "resnet3d_demo_rgb_best.ckpt", flow_best], tmp_path, "eval_joint")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "eval_joint" / "results.json").read_text())
    assert metrics["fusion"] == "logits_sum" and metrics["num_videos"] == 4
