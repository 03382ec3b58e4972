"""eval.py split across 2 CPU workers started by msrun gives what one process gives: the same
per-video predictions, metrics and proposals, on an odd number of videos (uneven shards); a
launcher's rank without --distributed True is refused."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import free_port
from src.config import load_config
from src.engine.evaluator import run_evaluation
from src.models.builder import build_network
from src.models.weights import save_checkpoint_atomic
from src.utils.command import UserError
from src.utils.gather import all_gather_arrays, unique_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING_KEYS = ("seconds", "postprocess_ms_per_video", "inference_ms_per_video")
RECOGNIZER = dict(model="resnet3d", model_depth=10, dataset="demo", num_classes=2, spatial_size=16, resize_short=20,
                  test_sample_duration=4, num_val_samples=2, num_workers=1, normalize="minus_one_to_one")
BMN = dict(model="bmn", dataset="demo", tscale=8, feat_dim=4, num_workers=1, video_info_path="")

needs_msrun = pytest.mark.skipif(shutil.which("msrun") is None, reason="msrun (MindSpore's launcher) is not on PATH")


def eval_args(settings: dict) -> list:
    return [f"--{key}={value}" for key, value in settings.items()]


def run_eval(args: list, ranks: int, log_dir) -> None:
    """eval.py in one process, or under msrun in ``ranks`` local workers."""
    if ranks == 1:
        command = [sys.executable, "eval.py"] + args
    else:
        command = ["msrun", f"--worker_num={ranks}", f"--local_worker_num={ranks}", f"--master_port={free_port()}",
                   f"--log_dir={log_dir}", "--join=True", "eval.py"] + args + ["--distributed=True"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, GLOG_v="3"))
    logs = "".join(open(os.path.join(log_dir, name)).read()[-3000:] for name in sorted(os.listdir(log_dir))
                   if name.startswith("worker")) if ranks > 1 else ""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + logs


def single_and_distributed(tmp_path, args: list) -> tuple:
    """The save_dir of one process and of two msrun workers on the same arguments."""
    single, split = tmp_path / "single", tmp_path / "split"
    run_eval(args + [f"--save_dir={single}"], 1, tmp_path)
    run_eval(args + [f"--save_dir={split}"], 2, tmp_path / "msrun_log")
    assert "rank 1 of 2" in (split / "rank_1" / "eval.log").read_text()
    assert sorted(os.listdir(split / "rank_1")) == ["eval.log"]  # the other rank writes only its log
    return single, split


def without_timing(results: dict) -> dict:
    return {key: value for key, value in results.items() if key not in TIMING_KEYS}


@pytest.fixture()
def odd_frames(tiny_frames):
    """The tiny frame dataset with 5 validation videos instead of 4."""
    path = tiny_frames / "anno.json"
    annotation = json.loads(path.read_text())
    annotation["database"]["v_MoveLeft_g06_c01"]["subset"] = "validation"
    path.write_text(json.dumps(annotation))
    return tiny_frames


def save_recognizer(folder, mode: str) -> str:
    path = os.path.join(folder, f"{mode}.ckpt")
    save_checkpoint_atomic(build_network(load_config("", dict(RECOGNIZER, mode=mode))), path)
    return path


@needs_msrun
@pytest.mark.parametrize("test_mode", ["rgb", "joint"])
def test_recognizer_across_two_workers_equals_one_process(odd_frames, tmp_path, test_mode):
    settings = dict(RECOGNIZER, video_path=odd_frames / "jpg", annotation_path=odd_frames / "anno.json")
    if test_mode == "joint":
        settings.update(test_mode="joint", rgb_path=save_recognizer(tmp_path, "rgb"),
                        flow_path=save_recognizer(tmp_path, "flow"), video_path_joint_flow=odd_frames / "flow")
    else:
        settings.update(checkpoint_path=save_recognizer(tmp_path, "rgb"))
    single, split = single_and_distributed(tmp_path, eval_args(settings))
    expected, got = (json.loads((folder / "results.json").read_text()) for folder in (single, split))
    assert len(expected["predictions"]) == 5
    assert without_timing(got) == without_timing(expected)
    assert (split / f"confusion_{test_mode}.png").is_file()


@needs_msrun
def test_bmn_across_two_workers_equals_one_process(tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    rng = np.random.default_rng(0)
    database = {}
    for k in range(7):
        database[f"video{k}"] = {"duration_second": 10.0, "duration_frame": 250, "feature_frame": 250,
                                 "subset": "validation",
                                 "annotations": [{"segment": [1.0 + k % 3, 4.0 + k % 4], "label": "x"}]}
        np.save(features / f"video{k}.npy", rng.normal(size=(BMN["tscale"], BMN["feat_dim"])).astype(np.float32))
    (tmp_path / "anno.json").write_text(json.dumps(database))
    settings = dict(BMN, annotation_path=tmp_path / "anno.json", feature_path=features)
    checkpoint = str(tmp_path / "bmn.ckpt")
    save_checkpoint_atomic(build_network(load_config("", settings)), checkpoint)
    single, split = single_and_distributed(tmp_path, eval_args(dict(settings, checkpoint_path=checkpoint)))
    expected, got = (json.loads((folder / "bmn_metrics.json").read_text()) for folder in (single, split))
    assert expected["num_videos"] == 7 and "AUC" in expected
    assert without_timing(got) == without_timing(expected)
    proposals = [(folder / "bmn_proposals.json").read_text() for folder in (single, split)]
    assert proposals[0] == proposals[1]


def test_rows_of_repeated_videos_count_once_in_video_order():
    rows = all_gather_arrays({"index": np.array([4, 0, 2, 0]), "label": np.array([1, 0, 1, 0])}, 1)
    kept = unique_rows(rows, "index")
    assert kept["index"].tolist() == [0, 2, 4] and kept["label"].tolist() == [0, 1, 1]


def test_a_launchers_rank_without_distributed_is_refused(tiny_cfg, monkeypatch):
    monkeypatch.setenv("MS_ROLE", "MS_WORKER")
    monkeypatch.setenv("MS_WORKER_NUM", "2")
    with pytest.raises(UserError, match="one of 2 ranks .* add --distributed True"):
        run_evaluation(tiny_cfg)
