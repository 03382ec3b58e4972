"""openI / ModelArts job support: inputs copied to the cache, paths rewritten, outputs copied back,
moxing used when present, one copying process per server."""
import json
import os
import subprocess
import sys
import time
import types

import pytest

from src.config import load_config
from src.utils import cloud
from src.utils.cloud import CloudError, prepare_cloud_job
from src.utils.rank_table import make_rank_table, save_rank_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def bucket(tmp_path):
    """A local stand-in for an OBS bucket: a dataset folder and a checkpoint."""
    data = tmp_path / "bucket" / "ucf101"
    (data / "jpg" / "ApplyEyeMakeup" / "v_1").mkdir(parents=True)
    (data / "jpg" / "ApplyEyeMakeup" / "v_1" / "n_frames").write_text("16")
    (data / "annotation").mkdir()
    (data / "annotation" / "ucf101_01.json").write_text("{}")
    (data / "pretrained").mkdir()
    (data / "pretrained" / "rgb_imagenet.ckpt").write_bytes(b"\x01\x02")
    (tmp_path / "bucket" / "runs").mkdir()
    (tmp_path / "bucket" / "runs" / "i3d-40_100.ckpt").write_bytes(b"weights")
    return tmp_path


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for name in ("RANK_SIZE", "RANK_ID", "DEVICE_ID", "LOCAL_RANK", "MS_ROLE", "RANK_TABLE_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_training_job_copies_data_in_and_outputs_out(bucket):
    data_url = str(bucket / "bucket" / "ucf101")
    cfg = load_config(overrides={
        "openI": True, "data_url": data_url, "train_url": str(bucket / "bucket" / "out"),
        "cache_dir": str(bucket / "cache"), "video_path": "jpg",  # relative to data_url
        "annotation_path": data_url + "/annotation/ucf101_01.json",  # a path inside data_url
        "checkpoint_path": "pretrained/rgb_imagenet.ckpt", "video_info_path": "/abs/elsewhere.csv"})
    new_cfg, finish = prepare_cloud_job(cfg, role="train")
    cache = bucket / "cache" / "data"
    assert new_cfg.video_path == str(cache / "jpg")
    assert new_cfg.annotation_path == str(cache / "annotation" / "ucf101_01.json")
    assert new_cfg.checkpoint_path == str(cache / "pretrained" / "rgb_imagenet.ckpt")
    assert new_cfg.video_info_path == "/abs/elsewhere.csv"  # absolute local paths stay
    assert new_cfg.save_dir == str(bucket / "cache" / "output")
    assert (cache / "jpg" / "ApplyEyeMakeup" / "v_1" / "n_frames").read_text() == "16"
    assert (cache / "pretrained" / "rgb_imagenet.ckpt").read_bytes() == b"\x01\x02"
    assert cfg.video_path == "jpg", "the caller's config must not change"

    os.makedirs(os.path.join(new_cfg.save_dir, "ckpt"))
    with open(os.path.join(new_cfg.save_dir, "ckpt", "i3d-1_10.ckpt"), "wb") as handle:
        handle.write(b"trained")
    assert finish() == str(bucket / "bucket" / "out")
    assert (bucket / "bucket" / "out" / "ckpt" / "i3d-1_10.ckpt").read_bytes() == b"trained"


def test_eval_job_takes_the_checkpoint_from_ckpt_url(bucket):
    cfg = load_config(overrides={
        "openI": True, "data_url": str(bucket / "bucket" / "ucf101"),
        "ckpt_url": str(bucket / "bucket" / "runs" / "i3d-40_100.ckpt"),
        "result_url": str(bucket / "bucket" / "results"), "cache_dir": str(bucket / "cache"),
        "video_path": "jpg", "annotation_path": "annotation/ucf101_01.json"})
    new_cfg, finish = prepare_cloud_job(cfg, role="eval")
    assert new_cfg.checkpoint_path == str(bucket / "cache" / "ckpt" / "i3d-40_100.ckpt")
    assert open(new_cfg.checkpoint_path, "rb").read() == b"weights"
    assert new_cfg.save_dir == str(bucket / "cache" / "result")
    with open(os.path.join(new_cfg.save_dir, "results.json"), "w") as handle:
        handle.write('{"top1": 0.5}')
    finish()
    assert (bucket / "bucket" / "results" / "results.json").read_text() == '{"top1": 0.5}'


def test_without_openI_nothing_changes():
    cfg = load_config(overrides={"video_path": "jpg", "data_url": "obs://bucket/x"})
    new_cfg, finish = prepare_cloud_job(cfg, role="train")
    assert new_cfg == cfg and new_cfg is not cfg
    assert finish() is None


def test_remote_urls_need_moxing(bucket):
    assert cloud._moxing() is None, "this test expects a machine without moxing"
    cfg = load_config(overrides={"openI": True, "data_url": "obs://bucket/ucf101", "train_url": "obs://bucket/out",
                                 "cache_dir": str(bucket / "cache")})
    with pytest.raises(CloudError, match="needs the `moxing` package"):
        prepare_cloud_job(cfg, role="train")


@pytest.mark.parametrize("overrides, message", [
    ({"train_url": ""}, "needs --train_url"),
    ({"data_url": ""}, "needs --data_url"),
    ({"video_path": "obs://other-bucket/jpg"}, "video_path=obs://other-bucket/jpg is outside data_url"),
])
def test_job_arguments_are_checked(bucket, overrides, message):
    base = {"openI": True, "data_url": str(bucket / "bucket" / "ucf101"), "train_url": str(bucket / "out"),
            "cache_dir": str(bucket / "cache")}
    with pytest.raises(CloudError, match=message):
        prepare_cloud_job(load_config(overrides={**base, **overrides}), role="train")


def test_moxing_is_used_when_importable(bucket, monkeypatch):
    calls = []

    def copy_parallel(src, dst):
        calls.append(("copy_parallel", src, dst))
        if "://" not in dst:  # a download lands in the local cache; an upload goes to the bucket
            os.makedirs(dst, exist_ok=True)

    fake_file = types.SimpleNamespace(is_directory=lambda path: not path.endswith(".ckpt"),
                                      copy_parallel=copy_parallel,
                                      copy=lambda src, dst: calls.append(("copy", src, dst)))
    monkeypatch.setitem(sys.modules, "moxing", types.SimpleNamespace(file=fake_file))
    cache = str(bucket / "cache")
    cfg = load_config(overrides={
        "openI": True, "data_url": "obs://bucket/ucf101/", "ckpt_url": "obs://bucket/runs/i3d-40_100.ckpt",
        "result_url": "obs://bucket/results", "cache_dir": cache,
        "video_path": "obs://bucket/ucf101/jpg", "annotation_path": "annotation/ucf101_01.json"})
    new_cfg, finish = prepare_cloud_job(cfg, role="eval")
    assert calls == [("copy_parallel", "obs://bucket/ucf101/", f"{cache}/data"),
                     ("copy", "obs://bucket/runs/i3d-40_100.ckpt", f"{cache}/ckpt/i3d-40_100.ckpt")]
    assert new_cfg.video_path == f"{cache}/data/jpg"
    assert new_cfg.annotation_path == f"{cache}/data/annotation/ucf101_01.json"
    assert new_cfg.checkpoint_path == f"{cache}/ckpt/i3d-40_100.ckpt"
    finish()
    assert calls[-1] == ("copy_parallel", f"{cache}/result", "obs://bucket/results")


def test_local_rank_rules(tmp_path):
    assert cloud.local_rank({"LOCAL_RANK": "3", "RANK_ID": "11"}) == 3
    assert cloud.local_rank({"MS_ROLE": "MS_WORKER", "DEVICE_ID": "2", "RANK_ID": "10"}) == 2
    table = make_rank_table([("10.0.0.1", [(i, f"192.{i}.0.1") for i in range(8)]),
                             ("10.0.0.2", [(4, "192.8.0.1"), (5, "192.9.0.1")])])
    path = save_rank_table(table, str(tmp_path / "table.json"))
    assert cloud.local_rank({"RANK_ID": "9", "RANK_SIZE": "10", "RANK_TABLE_FILE": path}) == 1
    assert cloud.local_rank({"RANK_ID": "11", "RANK_SIZE": "16"}) == 3
    assert cloud.local_rank({"RANK_ID": "5", "RANK_SIZE": "16", "DEVICE_NUM_PER_SERVER": "4"}) == 1
    assert cloud.local_rank({}) == 0


RANK_PROCESS = """
import json, sys, time
from src.config import load_config
from src.utils import cloud
if sys.argv[1] == "0":  # the copier is slow, so the other rank really has to wait
    plain_copy = cloud.copy_path
    def slow_copy(src, dst):
        time.sleep(1.5)
        return plain_copy(src, dst)
    cloud.copy_path = slow_copy
cfg = load_config(overrides={"openI": True, "distributed": True, "data_url": sys.argv[2], "train_url": sys.argv[3],
                             "cache_dir": sys.argv[4], "video_path": "jpg"})
new_cfg, finish = cloud.prepare_cloud_job(cfg, role="train", timeout=60)
print(json.dumps({"video_path": new_cfg.video_path, "done": time.time()}))
"""


def test_one_rank_copies_while_the_other_waits_for_its_marker(bucket):
    cache = str(bucket / "cache")
    args = [str(bucket / "bucket" / "ucf101"), str(bucket / "out"), cache]
    processes = {}
    for rank in ("1", "0"):  # the waiting rank starts first
        env = {"PYTHONPATH": ROOT, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RANK_ID": rank, "RANK_SIZE": "2"}
        processes[rank] = subprocess.Popen([sys.executable, "-c", RANK_PROCESS, rank, *args], env=env,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = {rank: process.communicate(timeout=120) for rank, process in processes.items()}
    for rank, process in processes.items():
        assert process.returncode == 0, outputs[rank][1]
    results = {rank: json.loads(out.strip().splitlines()[-1]) for rank, (out, _) in outputs.items()}
    assert results["0"]["video_path"] == results["1"]["video_path"] == os.path.join(cache, "data", "jpg")
    assert "[cloud] copied" in outputs["0"][0] and "[cloud] copied" not in outputs["1"][0]
    assert results["1"]["done"] >= results["0"]["done"] - 0.5, "rank 1 went on before the copy was done"
    assert os.path.exists(os.path.join(cache, ".sync", "data_url.done"))


def test_waiting_times_out_or_reports_the_copier_failure(tmp_path):
    marker = str(tmp_path / ".sync" / "data_url.done")
    start = time.monotonic()
    with pytest.raises(CloudError, match=r"waited 0 s for .*data_url.done"):
        cloud.run_once_per_server(lambda: "unused", marker, is_copier=False, timeout=0.3, poll=0.05)
    assert time.monotonic() - start < 5

    with pytest.raises(CloudError, match="does not exist"):
        cloud.run_once_per_server(lambda: cloud.copy_path(str(tmp_path / "absent"), str(tmp_path / "c")),
                                  marker, is_copier=True)
    with pytest.raises(CloudError, match=r"copying process of this server failed \(CloudError: .*absent"):
        cloud.run_once_per_server(lambda: "unused", marker, is_copier=False, timeout=30, poll=0.05)

    assert cloud.run_once_per_server(lambda: "/cache/data", marker, is_copier=True) == "/cache/data"
    assert not os.path.exists(marker + ".failed"), "a new copy clears the previous failure"
    assert cloud.run_once_per_server(lambda: "unused", marker, is_copier=False, timeout=1) == "/cache/data"
