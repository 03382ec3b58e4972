"""The distributed launch scripts, run without devices: DRY_RUN output, argument and rank-table checks,
and real launches of a stand-in interpreter that records each process's environment."""
import json
import os
import re
import subprocess
import sys

import pytest

from src.utils.rank_table import make_rank_table, save_rank_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(ROOT, "scripts", "run_distribute_train.sh")
EVAL_SCRIPT = os.path.join(ROOT, "scripts", "run_distributed_single-mode_eval.sh")

# Stands in for python: `-m`/`-c` calls go to the real interpreter; a train/eval call records its
# working folder, environment and arguments, writes results.json into --save_dir, and exits with
# FAIL_CODE when its RANK_ID (train) or checkpoint name (eval) is the one named in FAIL_WHEN.
FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-m" ] || [ "$1" = "-c" ]; then exec {python} "$@"; fi
save=""; prev=""
for arg in "$@"; do [ "$prev" = "--save_dir" ] && save="$arg"; prev="$arg"; done
{python} -c 'import json, os, sys; json.dump({{"cwd": os.getcwd(), "argv": sys.argv[1:],
    "env": {{k: os.environ.get(k) for k in ("DEVICE_ID", "RANK_ID", "RANK_SIZE", "RANK_TABLE_FILE")}}}},
    open("call.json", "w"))' "$@"
echo '{{"top1": 0.8125, "top5": 0.96875}}' > "$save/results.json"
case "RANK_ID=$RANK_ID $save" in *"$FAIL_WHEN"*) [ -n "$FAIL_WHEN" ] && exit 3;; esac
exit 0
"""


def run(script, args, cwd, **env):
    full_env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "SKIP_SETUP": "1",
                "HOME": str(cwd), **env}
    return subprocess.run(["bash", script, *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def workspace(tmp_path):
    """A rank table of 8 devices, data paths, a config file and the stand-in interpreter."""
    (tmp_path / "jpg").mkdir()
    (tmp_path / "annotation.json").write_text("{}")
    (tmp_path / "config.yaml").write_text("model: i3d\n")
    (tmp_path / "rgb_imagenet.ckpt").write_text("")
    table = make_rank_table([("10.0.0.1", [(i, f"192.{i}.27.6") for i in range(8)])])
    save_rank_table(table, str(tmp_path / "hccl_8p.json"))
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    return tmp_path


def train_args(rank_size=8, table="hccl_8p.json", mode="rgb"):
    return [rank_size, table, "ucf101", mode, 2, "jpg", "annotation.json", "rgb_imagenet.ckpt", "config.yaml"]


def test_dry_run_prints_one_environment_per_rank(workspace):
    result = run(TRAIN_SCRIPT, train_args(), workspace, DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[rank ")]
    assert len(lines) == 8
    table = str(workspace / "hccl_8p.json")
    for rank, line in enumerate(lines):
        rank_dir = str(workspace / "output" / "distribute_train" / f"rank_{rank}")
        assert f"DEVICE_ID={rank} RANK_ID={rank} RANK_SIZE=8 RANK_TABLE_FILE={table} " in line
        assert line.startswith(f"[rank {rank}] cd {rank_dir} && ")
        assert f"{ROOT}/train.py --config_path {workspace}/config.yaml --dataset ucf101 --mode rgb" in line
        assert f"--checkpoint_path {workspace}/rgb_imagenet.ckpt" in line
        out_dir = workspace / "output" / "distribute_train"
        assert f"--distributed True --device_target Ascend --device_id {rank} --save_dir {out_dir} > " in line
        assert line.endswith(f"> {rank_dir}/console.log 2>&1")
    assert not (workspace / "output").exists(), "a dry run must not create anything"


def test_wrong_argument_count_prints_usage(workspace):
    for args in ([], train_args()[:5], train_args() + ["extra"]):
        result = run(TRAIN_SCRIPT, args, workspace)
        assert result.returncode != 0
        assert "Usage: bash scripts/run_distribute_train.sh RANK_SIZE RANK_TABLE_FILE" in result.stderr
    result = run(EVAL_SCRIPT, [1, "rgb"], workspace)
    assert result.returncode != 0 and "Usage: bash scripts/run_distributed_single-mode_eval.sh" in result.stderr


@pytest.mark.parametrize("problem, expected", [
    ("duplicate_rank", "rank_id values are not unique"),
    ("bad_json", "not valid JSON"),
    ("rank_size", "lists 8 devices but the job asks for rank_size 4"),
])
def test_bad_rank_table_stops_before_launching(workspace, problem, expected):
    args = train_args()
    if problem == "duplicate_rank":
        table = json.loads((workspace / "hccl_8p.json").read_text())
        table["server_list"][0]["device"][5]["rank_id"] = "1"
        (workspace / "bad.json").write_text(json.dumps(table))
        args[1] = "bad.json"
    elif problem == "bad_json":
        (workspace / "bad.json").write_text("{\"version\": \"1.0\",")
        args[1] = "bad.json"
    else:
        args[0] = 4
    result = run(TRAIN_SCRIPT, args, workspace, PYTHON=str(workspace / "fake_python"))
    assert result.returncode != 0
    assert expected in result.stderr and "nothing was started" in result.stderr
    assert not (workspace / "output").exists()


def test_bad_arguments_are_named(workspace):
    cases = {"MODE must be rgb or flow": train_args(mode="depth"),
             "RANK_SIZE must be a positive integer": train_args(rank_size="eight"),
             "ANNOTATION_PATH": train_args()[:6] + ["absent.json"] + train_args()[7:],
             "config file": train_args()[:8] + ["configs/absent.yaml"]}
    for message, args in cases.items():
        # A real run (a dry run only notes missing inputs); each case stops before anything starts.
        result = run(TRAIN_SCRIPT, args, workspace, PYTHON=str(workspace / "fake_python"))
        assert result.returncode != 0 and message in result.stderr, (message, result.stderr)
    result = run(TRAIN_SCRIPT, cases["ANNOTATION_PATH"], workspace, DRY_RUN="1")
    assert result.returncode == 0 and "note (dry run): ANNOTATION_PATH" in result.stderr, result.stderr


def test_cpu_dry_run_shows_the_msrun_command(workspace):
    args = train_args(rank_size=2, table="none", mode="flow")[:8]  # config from CONFIG_PATH this time
    result = run(TRAIN_SCRIPT, args, workspace, DRY_RUN="1", CONFIG_PATH="config.yaml", MASTER_PORT="9123",
                 EXTRA_ARGS="--batch_size 2 --lr 0.01", RANK_TABLE_FILE="/stale/table.json")
    assert result.returncode == 0, result.stderr
    out_dir = workspace / "output" / "distribute_train"
    expected = (f"[msrun] cd {out_dir} && msrun --worker_num=2 --local_worker_num=2 --master_port=9123 "
                f"--log_dir={out_dir}/msrun_log --join=True {ROOT}/train.py --config_path {workspace}/config.yaml "
                f"--dataset ucf101 --mode flow --num_epochs 2 --video_path {workspace}/jpg "
                f"--annotation_path {workspace}/annotation.json --checkpoint_path {workspace}/rgb_imagenet.ckpt "
                f"--distributed True --device_target CPU --save_dir {out_dir} --batch_size 2 --lr 0.01")
    assert expected in result.stdout
    assert "[rank " not in result.stdout


def test_ascend_launch_waits_for_every_rank_and_reports_failures(workspace):
    table = make_rank_table([("10.0.0.1", [(i, f"192.{i}.27.6") for i in (4, 5, 6, 7)])])
    save_rank_table(table, str(workspace / "hccl_4p.json"))
    args = train_args(rank_size=4, table="hccl_4p.json")
    args[7] = "none"
    result = run(TRAIN_SCRIPT, args, workspace, PYTHON=str(workspace / "fake_python"), FAIL_WHEN="RANK_ID=2 ",
                 OUTPUT_DIR="runs")
    assert result.returncode == 1
    assert "rank 2 (device 6) FAILED with exit code 3" in result.stderr
    assert "1 of 4 ranks failed" in result.stderr
    finished = sorted(re.findall(r"rank (\d) \(device (\d)\) finished", result.stdout))
    assert finished == [("0", "4"), ("1", "5"), ("3", "7")]
    for rank in range(4):
        rank_dir = workspace / "runs" / f"rank_{rank}"
        call = json.loads((rank_dir / "call.json").read_text())
        assert call["cwd"] == str(rank_dir)
        assert call["env"] == {"DEVICE_ID": str(rank + 4), "RANK_ID": str(rank), "RANK_SIZE": "4",
                               "RANK_TABLE_FILE": str(workspace / "hccl_4p.json")}
        argv = call["argv"]
        assert argv[argv.index("--device_id") + 1] == str(rank + 4)
        assert argv[argv.index("--checkpoint_path") + 1] == ""
        assert argv[argv.index("--save_dir") + 1] == str(workspace / "runs")
        assert (rank_dir / "console.log").exists()


@pytest.fixture
def checkpoints(workspace):
    folder = workspace / "ckpt" / "rank_0"
    folder.mkdir(parents=True)
    for epoch in (3, 4, 6, 12):
        (folder / f"i3d_rgb-{epoch}_25.ckpt").write_text("")
    (folder / "i3d_rgb-5_30.ckpt").write_text("")  # other steps per epoch: not this run's
    # A second epoch-3 checkpoint nearer to the searched folder: it wins over the deeper one even
    # though its path sorts after it.
    (workspace / "ckpt" / "zz-3_25.ckpt").write_text("")
    return workspace


def eval_args(start=3):
    return [start, "rgb", "ucf101", "annotation.json", "jpg", "ckpt", 25, "config.yaml"]


def test_eval_dry_run_lists_the_checkpoints_found(checkpoints):
    result = run(EVAL_SCRIPT, eval_args(), checkpoints, DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    folder = checkpoints / "ckpt" / "rank_0"
    assert f"epoch 3: 2 matches, using the first\nepoch 3: {checkpoints}/ckpt/zz-3_25.ckpt\n" in result.stdout
    for epoch in (4, 6):
        assert f"epoch {epoch}: {folder}/i3d_rgb-{epoch}_25.ckpt" in result.stdout
    for epoch in (5, 7, 8, 9, 10):
        assert f"epoch {epoch}: no *-{epoch}_25.ckpt" in result.stdout
    assert "i3d_rgb-12_25" not in result.stdout  # epoch 12 is past start + 7
    commands = [line for line in result.stdout.splitlines() if line.startswith("[eval ")]
    assert len(commands) == 3
    paths = [checkpoints / "ckpt" / "zz-3_25.ckpt", folder / "i3d_rgb-4_25.ckpt", folder / "i3d_rgb-6_25.ckpt"]
    for device, (path, line) in enumerate(zip(paths, commands)):
        run_dir = checkpoints / "output_eval" / path.stem
        assert f"cd {run_dir} && DEVICE_ID={device} " in line
        assert f"--checkpoint_path {path} --device_target Ascend --device_id {device}" in line
        assert f"--save_dir {run_dir}" in line
    assert not (checkpoints / "output_eval").exists()


def test_eval_runs_in_parallel_and_writes_the_summary(checkpoints):
    result = run(EVAL_SCRIPT, eval_args(), checkpoints, PYTHON=str(checkpoints / "fake_python"),
                 FAIL_WHEN="i3d_rgb-4_25")
    assert result.returncode == 1 and "1 of 3 evaluations failed" in result.stderr
    summary = (checkpoints / "output_eval" / "summary.txt").read_text().splitlines()
    folder = checkpoints / "ckpt" / "rank_0"
    assert summary[0] == f"epoch 3 {checkpoints}/ckpt/zz-3_25.ckpt top1=0.8125 top5=0.9688"
    assert summary[1].startswith(f"epoch 4 {folder}/i3d_rgb-4_25.ckpt FAILED (exit code 3; see ")
    assert summary[2] == f"epoch 6 {folder}/i3d_rgb-6_25.ckpt top1=0.8125 top5=0.9688"
    call = json.loads((checkpoints / "output_eval" / "i3d_rgb-6_25" / "call.json").read_text())
    assert call["env"]["DEVICE_ID"] == "2"


def test_eval_without_matching_checkpoints_fails(checkpoints):
    result = run(EVAL_SCRIPT, eval_args(start=20), checkpoints, DRY_RUN="1")
    assert result.returncode != 0
    assert "no checkpoint named *-<epoch>_25.ckpt for epochs 20..27" in result.stderr


def test_eval_host_writes_its_own_summary(checkpoints):
    result = run(EVAL_SCRIPT, eval_args(), checkpoints, PYTHON=str(checkpoints / "fake_python"), DEVICE_NUM="4",
                 NUM_HOSTS="2", HOST_RANK="1")
    assert result.returncode == 0, result.stderr
    assert "epoch 5: no *-5_25.ckpt" in result.stdout  # host 1 of 2 takes epochs 5..6 of 3..6
    summary = (checkpoints / "output_eval" / "summary_host_1.txt").read_text().splitlines()
    assert summary == [f"epoch 6 {checkpoints}/ckpt/rank_0/i3d_rgb-6_25.ckpt top1=0.8125 top5=0.9688"]
    assert not (checkpoints / "output_eval" / "summary.txt").exists()
    call = json.loads((checkpoints / "output_eval" / "i3d_rgb-6_25" / "call.json").read_text())
    assert call["env"]["DEVICE_ID"] == "0"  # devices of this host from 0
