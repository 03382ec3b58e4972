"""msrun over several hosts through the launchers: two launcher runs on this machine acting as 2 hosts
x 1 worker train the same weights as one host with 2 workers, and the host settings are checked before
anything starts."""
import os
import shutil
import signal
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from helpers import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(ROOT, "scripts", "run_distribute_train.sh")
EVAL_SCRIPT = os.path.join(ROOT, "scripts", "run_distributed_single-mode_eval.sh")
# PyNative and no precise BN: a tiny 3D-ResNet whose start-up dominates less
TINY_RUN = ("--model resnet3d --model_depth 10 --num_classes 2 --spatial_size 16 --resize_short 20 "
            "--train_sample_duration 4 --test_sample_duration 4 --batch_size 2 --num_workers 1 --optimizer sgd "
            "--lr 0.01 --no_eval True --normalize minus_one_to_one --dataset demo --precise_bn_batches 0 --context py")
CHECKPOINT = os.path.join("checkpoints", "resnet3d_demo_rgb-2_3.ckpt")


def start_training(frames, out, console, **env):
    """(job, console): run_distribute_train.sh started with 2 workers in all on CPU (2 epochs of a tiny
    3D-ResNet), its output written to the file ``console``."""
    full_env = dict(os.environ, SKIP_SETUP="1", DEVICE_TARGET="CPU", OUTPUT_DIR=str(out), EXTRA_ARGS=TINY_RUN,
                    **env)
    with open(console, "w", encoding="utf-8") as handle:
        job = subprocess.Popen(
            ["bash", TRAIN_SCRIPT, "2", "none", "demo", "rgb", "2", str(frames / "jpg"), str(frames / "anno.json"),
             "none", "configs/resnet3d/demo_rgb.yaml"],
            cwd=ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    return job, console


def finish(started) -> list:
    """The output of each (job, console) started; all jobs are stopped (with msrun's workers) when one
    fails, so that the others do not wait for the cluster's timeout."""
    try:
        outputs = []
        for job, console in started:
            job.wait(timeout=300)
            output = console.read_text(encoding="utf-8")
            assert job.returncode == 0, output[-4000:]
            outputs.append(output)
        return outputs
    finally:
        for job, _ in started:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()


def not_owning_loopback(folder) -> str:
    """A PATH whose `ip` lists no address: msrun, asked whether this host owns MASTER_ADDR (127.0.0.1),
    starts no scheduler of its own, as on a second machine."""
    folder.mkdir()
    (folder / "ip").write_text("#!/bin/sh\necho '[]'\n")
    (folder / "ip").chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def parameters(checkpoint) -> dict:
    return {name: value.asnumpy() for name, value in ms.load_checkpoint(str(checkpoint)).items()}


@pytest.mark.skipif(shutil.which("msrun") is None, reason="msrun (MindSpore's launcher) is not on PATH")
def test_two_hosts_train_the_weights_of_one_host(tiny_frames, tmp_path):
    # The one-host run and the two hosts at the same time (their start-ups overlap); both hosts write
    # into one folder, as hosts sharing a filesystem do.
    single, shared = tmp_path / "single", tmp_path / "hosts"
    hosts = dict(NUM_HOSTS="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    outputs = finish([start_training(tiny_frames, shared, tmp_path / "host_0.log", HOST_RANK="0", **hosts),
                      start_training(tiny_frames, shared, tmp_path / "host_1.log", HOST_RANK="1",
                                     PATH=not_owning_loopback(tmp_path / "bin"), **hosts),
                      start_training(tiny_frames, single, tmp_path / "single.log", MASTER_PORT=str(free_port()))])

    for rank, output in enumerate(outputs[:2]):
        log_dir = shared / "msrun_log" / f"host_{rank}"
        assert f"all 1 workers of this host finished; outputs in {shared}, logs in {log_dir}" in output
        assert [path.name for path in log_dir.glob("worker_*.log")] == [f"worker_{rank}.log"]
    assert "rank 0 of 2" in (shared / "train.log").read_text()
    assert "rank 1 of 2" in (shared / "rank_1" / "train.log").read_text()
    assert not (shared / "rank_1" / "checkpoints").exists()  # only global rank 0 writes checkpoints

    expected, found = parameters(single / CHECKPOINT), parameters(shared / CHECKPOINT)
    assert sorted(found) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(found[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def run_launcher(script, args, cwd, **env) -> subprocess.CompletedProcess:
    """A launcher run from ``cwd``, a dry run unless ``env`` sets DRY_RUN=0."""
    full_env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "SKIP_SETUP": "1", "HOME": str(cwd),
                "DRY_RUN": "1", **env}
    return subprocess.run(["bash", script, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "jpg").mkdir()
    (tmp_path / "annotation.json").write_text("{}")
    (tmp_path / "config.yaml").write_text("model: i3d\n")
    return tmp_path


TRAIN_ARGS = [4, "none", "ucf101", "rgb", 2, "jpg", "annotation.json", "none", "config.yaml"]


def test_dry_run_prints_this_hosts_msrun_command(inputs):
    out_dir = inputs / "output" / "distribute_train"
    for rank in (0, 1):
        result = run_launcher(TRAIN_SCRIPT, TRAIN_ARGS, inputs, DEVICE_TARGET="GPU", NUM_HOSTS="2",
                              HOST_RANK=str(rank), MASTER_ADDR="10.0.0.1", MASTER_PORT="9123")
        assert result.returncode == 0, result.stderr
        commands = [line for line in result.stdout.splitlines() if line.startswith(f"[msrun host {rank} of 2] cd ")]
        assert len(commands) == 1, result.stdout
        assert (f"msrun --worker_num=4 --local_worker_num=2 --master_addr=10.0.0.1 --node_rank={rank} "
                f"--master_port=9123 --log_dir={out_dir}/msrun_log/host_{rank} --join=True {ROOT}/train.py ") \
            in commands[0]
        assert f"--device_target GPU --save_dir {out_dir}" in commands[0]
        assert f"RANK_ID {2 * rank}..{2 * rank + 1};" in result.stdout
    assert not (inputs / "output").exists()


@pytest.mark.parametrize("env, message", [
    (dict(NUM_HOSTS="two"), "error: NUM_HOSTS must be a positive integer (the number of hosts of the job), "
                            "got 'two'"),
    (dict(NUM_HOSTS="0"), "error: NUM_HOSTS must be a positive integer"),
    (dict(NUM_HOSTS="2", HOST_RANK="2"), "error: HOST_RANK must be 0..1 with NUM_HOSTS=2"),
    (dict(NUM_HOSTS="2", HOST_RANK="-1"), "error: HOST_RANK must be 0..1 with NUM_HOSTS=2"),
    (dict(NUM_HOSTS="3", HOST_RANK="0"), "error: RANK_SIZE=4 does not divide over NUM_HOSTS=3 hosts; make "
                                         "RANK_SIZE (the workers of all hosts) a multiple of NUM_HOSTS"),
    (dict(NUM_HOSTS="2", MASTER_ADDR=""), "error: MASTER_ADDR is not set but NUM_HOSTS=2"),
    (dict(NUM_HOSTS="2", MASTER_PORT="80"), "error: MASTER_PORT must be a port number 1024..65535, got '80'"),
    (dict(NUM_HOSTS="2", DEVICE_TARGET="Ascend"), "error: NUM_HOSTS=2 is for msrun on GPU/CPU"),
])
def test_bad_host_settings_stop_with_one_error(inputs, env, message):
    env = dict(dict(DEVICE_TARGET="CPU", MASTER_ADDR="10.0.0.1"), **env)
    result = run_launcher(TRAIN_SCRIPT, TRAIN_ARGS, inputs, **env)
    assert result.returncode != 0
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert "msrun" not in result.stdout


def failing_msrun(folder) -> str:
    """A PATH whose msrun reports worker 4242 failed with exit code 1."""
    folder.mkdir()
    (folder / "msrun").write_text("#!/bin/sh\necho 'Worker process 4242 exit with exception. Error code: 1.'\nexit 1\n")
    (folder / "msrun").chmod(0o755)
    return f"{folder}:{os.path.dirname(sys.executable)}:/usr/bin:/bin"


def test_failed_host_prints_the_resume_command_with_its_host_settings(inputs):
    hosts = dict(DEVICE_TARGET="CPU", NUM_HOSTS="2", HOST_RANK="1", MASTER_ADDR="10.0.0.1", MASTER_PORT="9123",
                 PATH=failing_msrun(inputs / "bin"), DRY_RUN="0")
    result = run_launcher(TRAIN_SCRIPT, TRAIN_ARGS, inputs, **hosts)
    assert result.returncode == 1
    assert "host 0 (global rank 0) writes them; resume every host with host 0's newest checkpoint" in result.stderr

    checkpoint = inputs / "output" / "distribute_train" / "checkpoints" / "i3d_rgb-3_25.ckpt"
    checkpoint.parent.mkdir()
    checkpoint.write_text("")
    result = run_launcher(TRAIN_SCRIPT, TRAIN_ARGS, inputs, **hosts)
    assert "rank ? (pid 4242) FAILED with exit code 1" in result.stderr
    assert (f"  NUM_HOSTS=2 HOST_RANK=1 MASTER_ADDR=10.0.0.1 MASTER_PORT=9123 OUTPUT_DIR={checkpoint.parent.parent} "
            f"DEVICE_TARGET=CPU EXTRA_ARGS=--resume\\ True bash {TRAIN_SCRIPT} 4 none ucf101 rgb 2 jpg "
            f"annotation.json {checkpoint} config.yaml") in result.stderr
    assert result.stderr.strip().endswith(f"logs in {checkpoint.parent.parent}/msrun_log/host_1")


@pytest.fixture
def checkpoints(inputs):
    for epoch in range(1, 9):
        (inputs / f"i3d_rgb-{epoch}_25.ckpt").write_text("")
    return inputs


EVAL_ARGS = [3, "rgb", "ucf101", "annotation.json", "jpg", ".", 25, "config.yaml"]


def test_eval_hosts_share_the_epochs(checkpoints):
    for rank, epochs in ((0, (3, 4)), (1, (5, 6))):
        result = run_launcher(EVAL_SCRIPT, EVAL_ARGS, checkpoints, DEVICE_TARGET="GPU", DEVICE_NUM="4",
                              NUM_HOSTS="2", HOST_RANK=str(rank))
        assert result.returncode == 0, result.stderr
        commands = [line for line in result.stdout.splitlines() if line.startswith("[eval ")]
        assert len(commands) == 2
        for device, (epoch, line) in enumerate(zip(epochs, commands)):
            assert f"DEVICE_ID={device} " in line
            assert f"--checkpoint_path {checkpoints}/i3d_rgb-{epoch}_25.ckpt " in line
        assert (f"host {rank} of 2: epochs {epochs[0]}..{epochs[1]}, "
                f"summary: {checkpoints}/output_eval/summary_host_{rank}.txt") in result.stdout


@pytest.mark.parametrize("env, message", [
    (dict(NUM_HOSTS="2", HOST_RANK="5"), "error: HOST_RANK must be 0..1 with NUM_HOSTS=2"),
    (dict(NUM_HOSTS="3"), "error: DEVICE_NUM=4 does not divide over NUM_HOSTS=3 hosts"),
])
def test_eval_bad_host_settings_stop_with_one_error(checkpoints, env, message):
    result = run_launcher(EVAL_SCRIPT, EVAL_ARGS, checkpoints, DEVICE_NUM="4", **env)
    assert result.returncode != 0
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
