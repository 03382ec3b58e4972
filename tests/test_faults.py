"""Runs that survive faults: kill -9, SIGTERM or Ctrl-C then an exact resume, kills during checkpoint
writes, two runs into one folder, a full disk or a read-only folder, a killed distributed worker;
plus what a run shows (progress, configuration once, the best epoch's evaluation files, MindInsight
scalars)."""
import errno
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import mindspore as ms
import numpy as np
import pytest

from helpers import free_port
from src.engine.lr import build_lr_schedule
from src.engine.trainer import train
from src.tasks.recognition import RecognitionTask
from src.utils.rank_table import make_rank_table, save_rank_table
from src.utils.runtime import FolderLockedError, RunLock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
PREFIX = "tiny3d_demo_rgb"
WRITE_PAUSED = "checkpoint write paused"
# train.py with the tiny test model registered. SLOW_SAVE_EPOCH=E makes the save of epoch E's
# checkpoint hang after its temporary file is written (printing WRITE_PAUSED first), so a test can
# kill the run mid-write.
LAUNCHER = f"""
import os, runpy, sys, time
sys.path[:0] = [{ROOT!r}, {TESTS!r}]
import conftest  # registers tiny3d
slow = os.environ.get("SLOW_SAVE_EPOCH")
if slow:
    import mindspore as ms
    real_save = ms.save_checkpoint
    def save(obj, path, **kwargs):
        real_save(obj, path, **kwargs)
        if "-" + slow + "_" in os.path.basename(path):
            print({WRITE_PAUSED!r}, flush=True)
            time.sleep(600)
    ms.save_checkpoint = save
sys.argv = ["train.py"] + sys.argv[1:]
runpy.run_path(os.path.join({ROOT!r}, "train.py"), run_name="__main__")
"""


def tiny_args(tiny_frames, out, **overrides):
    args = dict(model="tiny3d", dataset="demo", context="py", device_target="CPU",
                video_path=tiny_frames / "jpg", annotation_path=tiny_frames / "anno.json", num_classes=2,
                spatial_size=16, resize_short=20, train_sample_duration=4, test_sample_duration=4, batch_size=1,
                num_workers=1, lr=0.05, lr_scheduler="cosine", save_dir=out, dropout_keep_prob=1.0,
                checkpoints_num_keep=2, num_epochs=4)
    args.update(overrides)
    return [item for key, value in args.items() for item in (f"--{key}", str(value))]


def start(command, console, own_group=False, **env):
    """Start ``command`` (a list; a train.py argument list when it starts with ``--``) with its output in
    the file ``console`` (a pipe nobody reads would block it); ``own_group``: in a process group of its
    own, as a terminal starts a command (Ctrl-C signals the whole group)."""
    if command[0].startswith("--"):
        command = [sys.executable, "-c", LAUNCHER] + command
    with open(console, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, text=True,
                                   env=dict(os.environ, **env), start_new_session=own_group)
    process.console = console
    return process


def output_of(process, timeout=60):
    process.wait(timeout=timeout)
    return open(process.console, encoding="utf-8").read()


def finish(args, timeout=240):
    result = subprocess.run([sys.executable, "-c", LAUNCHER] + args, cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def wait_for(predicate, process, what, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {what}:\n{output_of(process)[-3000:]}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"timed out waiting for {what}")


def log_has(out, text):
    path = os.path.join(out, "train.log")
    return os.path.isfile(path) and text in open(path, encoding="utf-8").read()


def epoch_checkpoints(out):
    return sorted(glob.glob(os.path.join(out, "checkpoints", f"{PREFIX}-*_*.ckpt")))


def temp_files(out):
    return glob.glob(os.path.join(out, "checkpoints", ".*tmp*"))


def history_of(out):
    with open(os.path.join(out, "checkpoints", "history.json"), encoding="utf-8") as handle:
        return json.load(handle)


def best_entry(out):
    state = ms.load_checkpoint(os.path.join(out, "checkpoints", f"{PREFIX}_best.ckpt"))
    return int(state["epoch_num"].asnumpy()), float(state["best_metric"].asnumpy())


def test_kill_9_mid_epoch_then_resume_keeps_history_best_and_lr(tiny_frames):
    out = str(tiny_frames / "run")
    args = tiny_args(tiny_frames, out, num_epochs=5)
    console = tiny_frames / "console.txt"
    run = start(args, console)
    # 12 steps per epoch; killed within epoch 3, 4 or 5 (the progress bar shows 1 to 11 steps done)
    mid_epoch = re.compile(r"epoch [345]/5: ([1-9]|1[01])/12 \(")
    wait_for(lambda: mid_epoch.search(console.read_text()), run, "a step in the middle of epoch 3 or later")
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    newest = max(epoch_checkpoints(out), key=lambda p: int(re.search(r"-(\d+)_", p).group(1)))
    done = int(re.search(r"-(\d+)_", newest).group(1))
    assert done < 5

    output = finish(args + ["--resume", "True", "--checkpoint_path", newest])
    assert f"resuming after epoch {done}" in output
    history = history_of(out)
    assert [record["epoch"] for record in history] == [1, 2, 3, 4, 5]  # earlier epochs read back, none twice
    # the lr of every epoch is the schedule's value at its last step: the resumed optimizer continued it
    schedule = build_lr_schedule(0.05, 12, 5, "cosine")
    np.testing.assert_allclose([record["lr"] for record in history], schedule[11::12], rtol=1e-5)
    metrics = [record["metric"] for record in history]
    best_epoch, best_metric = best_entry(out)
    assert best_metric == max(metrics) and best_epoch == 1 + metrics.index(max(metrics))
    assert os.path.isfile(os.path.join(out, "checkpoints", "training_curve.png"))


def _state(checkpoint):
    return {name: value.asnumpy() for name, value in ms.load_checkpoint(checkpoint).items()}


def _epoch_checkpoint(out, epoch):
    return next(path for path in epoch_checkpoints(out) if f"-{epoch}_" in os.path.basename(path))


def _resume_command(out):
    """The arguments of train.py in the resume command a stopped run wrote to its log."""
    log = open(os.path.join(out, "train.log"), encoding="utf-8").read()
    command = shlex.split(log.split("Resume with:\n", 1)[1].splitlines()[0].strip())
    assert command[:2] == ["python", os.path.join(ROOT, "train.py")] and "--checkpoint_path" in command
    assert os.path.isfile(command[-1])
    return command[2:]


def _assert_same_run(cut, whole, epoch):
    expected, resumed = _state(_epoch_checkpoint(whole, epoch)), _state(_epoch_checkpoint(cut, epoch))
    assert sorted(expected) == sorted(resumed)
    for name, value in expected.items():  # weights, optimizer moments, dropout draws: all equal
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    assert [r["loss"] for r in history_of(cut)] == [r["loss"] for r in history_of(whole)]
    assert [r.get("metric") for r in history_of(cut)] == [r.get("metric") for r in history_of(whole)]


def test_a_run_resumed_after_kill_9_sigterm_or_ctrl_c_equals_the_uninterrupted_run(tiny_frames):
    # random crops and flips, mixup, dropout and two loader workers: every source of randomness a run has
    args = dict(num_epochs=3, dropout_keep_prob=0.5, flip=True, mixup_alpha=0.4, num_workers=2,
                checkpoints_num_keep=4, batch_size=2, seed=3)
    whole = str(tiny_frames / "whole")
    finish(tiny_args(tiny_frames, whole, **args))
    for signum in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        cut = str(tiny_frames / f"cut_{signum}")
        console = tiny_frames / f"console_{signum}.txt"
        run = start(tiny_args(tiny_frames, cut, **args), console, own_group=True)
        wait_for(lambda: re.search(r"epoch 2/3: [1-5]/6 \(", console.read_text()), run, "a step in epoch 2")
        if signum == signal.SIGINT:
            os.killpg(run.pid, signum)  # Ctrl-C: the whole process group, loader workers included
        else:
            run.send_signal(signum)
        output = output_of(run)
        if signum == signal.SIGKILL:
            assert run.returncode == -signum
            resume = tiny_args(tiny_frames, cut, **args) + ["--resume", "True", "--checkpoint_path",
                                                             _epoch_checkpoint(cut, 1)]
        else:
            # MindSpore's runtime relays a SIGINT that lands inside a step as SIGTERM to its process: the
            # run still knows the interrupt for what it was
            assert run.returncode == 128 + signum, output[-2000:]
            said = "interrupted (SIGINT)" if signum == signal.SIGINT else "stopped by SIGTERM"
            assert said in output and "Resume with:" in output
            resume = _resume_command(cut)  # the command the run printed
        assert "resuming after epoch 1" in finish(resume)
        _assert_same_run(cut, whole, 3)


def test_resumed_run_only_replaces_best_by_a_better_epoch(tiny_cfg):
    tiny_cfg.update(num_epochs=2)
    train(tiny_cfg)
    ckpt_dir = os.path.join(tiny_cfg.save_dir, "checkpoints")
    best_path = os.path.join(ckpt_dir, f"{PREFIX}_best.ckpt")
    history = history_of(tiny_cfg.save_dir)
    history[0]["metric"] = 1000.0  # an epoch-1 score no resumed epoch can beat
    with open(os.path.join(ckpt_dir, "history.json"), "w", encoding="utf-8") as handle:
        json.dump(history, handle)
    before = open(best_path, "rb").read()
    resumed = tiny_cfg.copy()
    resumed.update(resume=True, num_epochs=4, checkpoint_path=os.path.join(ckpt_dir, f"{PREFIX}-2_6.ckpt"))
    train(resumed)
    assert open(best_path, "rb").read() == before
    assert [record["epoch"] for record in history_of(tiny_cfg.save_dir)] == [1, 2, 3, 4]


def test_kills_during_checkpoint_writes_leave_loadable_checkpoints_and_no_temp_file(tiny_frames):
    out = str(tiny_frames / "run")
    args = tiny_args(tiny_frames, out, num_epochs=4, no_eval=True)
    resume_from = []
    for epoch in (2, 3):  # killed while writing epoch 2's checkpoint, then (resumed) epoch 3's
        console = tiny_frames / "console.txt"
        run = start(args + resume_from, console, SLOW_SAVE_EPOCH=str(epoch))
        # waiting for the temporary file alone would race MindSpore, which replaces it while writing
        wait_for(lambda: WRITE_PAUSED in console.read_text(), run, f"epoch {epoch}'s write")
        assert any(f"-{epoch}_12.ckpt." in path for path in temp_files(out))
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        assert temp_files(out)
        for path in epoch_checkpoints(out):  # every checkpoint under its final name is whole
            assert int(ms.load_checkpoint(path)["epoch_num"].asnumpy()) < epoch
        resume_from = ["--resume", "True", "--checkpoint_path", epoch_checkpoints(out)[-1]]
    output = finish(args + resume_from)
    assert "left by a checkpoint write that never finished" in output
    assert not temp_files(out)
    assert [record["epoch"] for record in history_of(out)] == [1, 2, 3, 4]


def test_second_training_into_the_same_folder_is_refused_until_the_first_is_gone(tiny_frames, tiny_cfg):
    out = str(tiny_frames / "run")
    first = start(tiny_args(tiny_frames, out, num_epochs=50, no_eval=True), tiny_frames / "console.txt")
    wait_for(lambda: log_has(out, "saved "), first, "the first checkpoint")
    second = tiny_cfg.copy()
    second.update(save_dir=out)
    with pytest.raises(FolderLockedError) as refused:
        train(second)
    message = str(refused.value)
    assert f"pid {first.pid}" in message and socket.gethostname() in message and "--save_dir" in message
    assert "started 20" in message and "num_epochs 50" in message  # start time and command
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    # the killed run's lock does not block the resume of its folder
    second.update(resume=True, num_epochs=3, checkpoint_path=epoch_checkpoints(out)[0], lr_scheduler="cosine",
                  batch_size=1, no_eval=True)
    train(second)
    with RunLock(out):  # released at the end
        pass


def test_lock_names_its_holder_and_is_released_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", f"import sys, time; sys.path.insert(0, {ROOT!r}); "
                               f"from src.utils.runtime import RunLock; lock = RunLock({str(tmp_path)!r}).acquire(); "
                               f"print('held', flush=True); time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderLockedError, match=f"pid {holder.pid} on {socket.gethostname()}, started 20"):
        RunLock(str(tmp_path)).acquire()
    holder.kill()
    holder.wait(timeout=30)
    with RunLock(str(tmp_path)):
        assert json.loads((tmp_path / RunLock.NAME).read_text())["pid"] == os.getpid()


def fail_second_epoch_save(monkeypatch, error: OSError) -> None:
    """The save of epoch 2's checkpoint raises ``error`` after leaving MindSpore's partial file."""
    real_save = ms.save_checkpoint

    def failing_save(obj, path, **kwargs):
        if "-2_6.ckpt" in os.path.basename(path):
            with open(path[:-len(".ckpt")] + ".tmp", "wb") as handle:  # MindSpore's partial file
                handle.write(b"\0" * 1024)
            raise error
        return real_save(obj, path, **kwargs)

    monkeypatch.setattr(ms, "save_checkpoint", failing_save)


def train_until_the_second_save_fails(tiny_cfg, monkeypatch, error: OSError, expected: str):
    """Train 3 epochs whose second checkpoint write raises ``error``; the message (matching ``expected``)
    and the checkpoint folder. No temporary file may be left."""
    fail_second_epoch_save(monkeypatch, error)
    tiny_cfg.update(num_epochs=3, no_eval=True)
    ckpt_dir = os.path.join(tiny_cfg.save_dir, "checkpoints")
    with pytest.raises(OSError, match=expected) as stopped:
        train(tiny_cfg)
    assert not glob.glob(os.path.join(ckpt_dir, ".*tmp*"))
    return str(stopped.value), ckpt_dir


def test_full_disk_names_the_folder_and_keeps_earlier_checkpoints(tiny_cfg, monkeypatch):
    message, ckpt_dir = train_until_the_second_save_fails(
        tiny_cfg, monkeypatch, OSError(errno.ENOSPC, "No space left on device"), "no space left")
    assert ckpt_dir in message and "resume" in message
    assert int(ms.load_checkpoint(os.path.join(ckpt_dir, f"{PREFIX}-1_6.ckpt"))["epoch_num"].asnumpy()) == 1
    with RunLock(tiny_cfg.save_dir):  # released on the failure
        pass


def test_save_dir_made_read_only_mid_run_ends_with_the_resume_command(tiny_cfg, monkeypatch):
    # as root, chmod does not stop a write: the save fails as on a file system remounted read-only
    message, ckpt_dir = train_until_the_second_save_fails(
        tiny_cfg, monkeypatch, OSError(errno.EROFS, "Read-only file system"), "Read-only file system")
    assert "Make the folder writable" in message and ckpt_dir in message
    assert re.search(r"resume with: python .*--resume True --checkpoint_path \S+-1_6\.ckpt", message)
    monkeypatch.undo()  # writable again: the resumed run is the run that was not stopped
    resumed = tiny_cfg.copy()
    resumed.update(resume=True, checkpoint_path=os.path.join(ckpt_dir, f"{PREFIX}-1_6.ckpt"))
    train(resumed)
    whole = tiny_cfg.copy()
    whole.update(save_dir=tiny_cfg.save_dir + "_whole")
    train(whole)
    _assert_same_run(tiny_cfg.save_dir, whole.save_dir, 3)


def test_progress_configuration_once_and_the_best_epochs_evaluation_files(tiny_cfg, monkeypatch):
    scores = iter([50.0, 90.0, 70.0])

    def scripted_evaluator(self, cfg, net, out_dir):
        def evaluate():
            score = next(scores)
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as handle:
                json.dump({"top1": score}, handle)
            return {"top1": score}
        return evaluate

    monkeypatch.setattr(RecognitionTask, "epoch_evaluator", scripted_evaluator)
    tiny_cfg.update(num_epochs=3, summary_dir=os.path.join(tiny_cfg.save_dir, "summary"))
    train(tiny_cfg)
    out = tiny_cfg.save_dir
    assert json.load(open(os.path.join(out, "eval", "results.json")))["top1"] == 90.0  # the reported epoch
    assert json.load(open(os.path.join(out, "eval", "latest", "results.json")))["top1"] == 70.0
    assert best_entry(out) == (2, 90.0)
    log = open(os.path.join(out, "train.log"), encoding="utf-8").read()
    assert log.count("configuration (") == 1 and "num_epochs=3" in log
    assert "the first step builds the network's kernels" in log and "first step done in" in log
    assert re.search(r"epoch 1/3: loss .* left \(ends ~\d\d:\d\d\)", log)
    events = glob.glob(os.path.join(tiny_cfg.summary_dir, "events*"))
    assert len(events) == 1
    scalars = read_scalars(events[0])
    assert scalars["top1"] == {1: 50.0, 2: 90.0, 3: 70.0}
    history = history_of(out)
    assert scalars["loss"] == pytest.approx({h["epoch"]: h["loss"] for h in history}, rel=1e-6)
    assert set(scalars["lr"]) == {1, 2, 3}


def read_scalars(path):
    """{tag: {step: value}} of a MindInsight events file (records: length, its crc, data, data crc)."""
    from mindspore.train.summary_pb2 import Event
    scalars, data = {}, open(path, "rb").read()
    position = 0
    while position < len(data):
        length = int.from_bytes(data[position:position + 8], "little")
        event = Event.FromString(data[position + 12:position + 12 + length])
        position += 12 + length + 4
        for value in event.summary.value:
            scalars.setdefault(value.tag, {})[event.step] = value.scalar_value
    return scalars


@pytest.mark.skipif(shutil.which("msrun") is None, reason="msrun (MindSpore's launcher) is not on PATH")
def test_killed_distributed_worker_ends_the_job_with_a_report_then_resumes_exactly(tiny_frames, tmp_path):
    out = tmp_path / "dist"
    env = dict(SKIP_SETUP="1", DEVICE_TARGET="CPU", OUTPUT_DIR=str(out), MASTER_PORT=str(free_port()),
               EXTRA_ARGS="--model resnet3d --model_depth 10 --num_classes 2 --spatial_size 16 --resize_short 20 "
                          "--train_sample_duration 4 --test_sample_duration 4 --batch_size 1 --num_workers 1 "
                          "--optimizer sgd --lr 0.01 --no_eval True --dataset demo")
    args = ["2", "none", "demo", "rgb", "2", str(tiny_frames / "jpg"), str(tiny_frames / "anno.json"), "none",
            "configs/resnet3d/demo_rgb.yaml"]
    job = start(["bash", "scripts/run_distribute_train.sh", *args], tmp_path / "console.txt", **env)
    rank1_log = out / "rank_1" / "train.log"
    wait_for(lambda: (out / "checkpoints" / "resnet3d_demo_rgb-1_6.ckpt").is_file(), job, "epoch 1's checkpoint",
             timeout=300)
    pid = int(re.search(r"rank 1 of 2 \(pid (\d+)\)", rank1_log.read_text()).group(1))
    os.kill(pid, signal.SIGKILL)
    started = time.time()
    output = output_of(job, timeout=180)  # bounded: msrun stops the other rank
    assert job.returncode != 0 and time.time() - started < 180
    assert f"rank 1 (pid {pid}) FAILED, killed by signal 9" in output
    assert str(out / "msrun_log" / "worker_1.log") in output
    command = output.split("resume with:\n", 1)[1].splitlines()[0].strip()
    words = shlex.split(command)
    assert words[2].startswith("EXTRA_ARGS=") and words[2].endswith(" --resume True")
    assert words[-2].startswith(str(out / "checkpoints" / "resnet3d_demo_rgb-"))  # CHECKPOINT_PATH
    env.update(MASTER_PORT=str(free_port()))
    resumed = subprocess.run(["bash", "-c", command], cwd=ROOT, env=dict(os.environ, **env), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert (out / "checkpoints" / "resnet3d_demo_rgb-2_6.ckpt").is_file()
    assert "resuming after epoch" in (out / "train.log").read_text()
    # the resumed job is the job that was not killed: the same weights on both ranks' data
    whole = tmp_path / "whole"
    env.update(OUTPUT_DIR=str(whole), MASTER_PORT=str(free_port()))
    uninterrupted = subprocess.run(["bash", "scripts/run_distribute_train.sh", *args], cwd=ROOT,
                                   env=dict(os.environ, **env), capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stdout[-3000:] + uninterrupted.stderr[-3000:]
    expected = _state(str(whole / "checkpoints" / "resnet3d_demo_rgb-2_6.ckpt"))
    resumed_state = _state(str(out / "checkpoints" / "resnet3d_demo_rgb-2_6.ckpt"))
    assert sorted(expected) == sorted(resumed_state)
    for name, value in expected.items():
        np.testing.assert_array_equal(resumed_state[name], value, err_msg=name)


# Stands in for python on Ascend: `-m` calls (the rank-table checks) go to the real interpreter;
# rank 1 fails at once, the other ranks hang as ranks waiting in a collective would.
HANGING_RANKS_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-m" ]; then exec {python} "$@"; fi
if [ "$RANK_ID" = "1" ]; then exit 3; fi
exec sleep 600
"""


def test_ascend_ranks_left_waiting_after_a_failure_are_stopped(tmp_path):
    table = make_rank_table([("10.0.0.1", [(0, "192.0.27.6"), (1, "192.1.27.6")])])
    save_rank_table(table, str(tmp_path / "hccl_2p.json"))
    fake = tmp_path / "fake_python"
    fake.write_text(HANGING_RANKS_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    (tmp_path / "jpg").mkdir()
    (tmp_path / "anno.json").write_text("{}")
    (tmp_path / "run.yaml").write_text("model: i3d\n")
    checkpoints = tmp_path / "out" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "i3d_ucf101_rgb-3_10.ckpt").write_bytes(b"")
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "SKIP_SETUP": "1", "HOME": str(tmp_path),
           "PYTHON": str(fake), "OUTPUT_DIR": str(tmp_path / "out"), "FAILED_RANK_GRACE_S": "2"}
    started = time.time()
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_distribute_train.sh"), "2", "hccl_2p.json",
                             "ucf101", "rgb", "5", "jpg", "anno.json", "none", "run.yaml"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and time.time() - started < 30
    assert f"rank 1 (device 1) FAILED with exit code 3; see {tmp_path}/out/rank_1/console.log" in result.stderr
    assert "stopping the 1 remaining rank(s)" in result.stderr
    command = shlex.split(result.stderr.split("resume with:\n", 1)[1].splitlines()[0])
    assert command[2].endswith("--resume True") and command[-2] == str(checkpoints / "i3d_ucf101_rgb-3_10.ckpt")


# A command's main that says it is ready and then waits, run by run_command as every entry point is.
WAITING_COMMAND = f"""
import sys, time
sys.path.insert(0, {ROOT!r})
from src.utils.command import run_command
def main():
    print("ready", flush=True)
    time.sleep(60)
run_command(main)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_command_with_nothing_to_resume_stops_at_once_with_one_line(tmp_path, signum):
    run = start([sys.executable, "-c", WAITING_COMMAND], tmp_path / "console.txt", own_group=True)
    wait_for(lambda: "ready" in (tmp_path / "console.txt").read_text(), run, "the command's start")
    if signum == signal.SIGINT:
        os.killpg(run.pid, signum)  # Ctrl-C: the whole process group
    else:
        run.send_signal(signum)
    output = output_of(run, timeout=30)
    assert run.returncode == 128 + signum and "Traceback" not in output, output
    said = "interrupted (SIGINT)" if signum == signal.SIGINT else "stopped by SIGTERM"
    assert f"{said}: stopped before the end" in output
