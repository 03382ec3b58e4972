"""Process set-up shared by the entry points: execution mode, device, seeds, distributed init, logging,
the lock that keeps one training per output folder, output folders checked for writing, and stop
signals turned into a clean stop.

Every command that runs a network starts with one line naming its device (``device_target CPU:
running on CPU``). A device this MindSpore build or machine cannot use is refused in one line
(:class:`DeviceUnavailableError`) before MindSpore tries it. MindSpore's device probe logs four
warnings about the Ascend/GPU libraries it could not load when the answer is no; the probe here
(:func:`device_available`) keeps them back -- they describe the answer the caller acts on -- unless
``ZOO_DEBUG=1`` (:mod:`src.utils.command`) asks for them. Nothing else of MindSpore's log is hidden.
"""
import contextlib
import fcntl
import json
import logging
import os
import random
import shlex
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Optional

import mindspore as ms
import mindspore.dataset as ds
import numpy as np

from src.utils.command import DEBUG_ENV, UserError, debug_enabled

__all__ = ["RunContext", "setup_runtime", "set_cpu_threads", "resolve_device_target", "device_available",
           "DeviceUnavailableError", "say_device", "writable_folder", "seed_everything", "get_logger",
           "effective_amp_level", "FolderLockedError", "RunLock", "run_folder"]


@dataclass
class RunContext:
    """Where this process runs: rank and group size (1 and 0 when not distributed)."""
    rank_id: int = 0
    group_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank_id == 0


def run_folder(save_dir: str, rank_id: int) -> str:
    """Where a rank of a training run writes: ``save_dir`` for rank 0, ``save_dir/rank_<id>`` for the others."""
    return save_dir if rank_id == 0 else os.path.join(save_dir, f"rank_{rank_id}")


def seed_everything(seed: int) -> None:
    """Seed mindspore (weights, dropout), the dataset pipeline (shuffle), numpy and random."""
    ms.set_seed(seed)
    ds.config.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class DeviceUnavailableError(UserError, RuntimeError):
    """A ``device_target`` this MindSpore build or machine cannot use."""


@contextlib.contextmanager
def _quiet_device_probe():
    """Keep back the warnings MindSpore logs while it answers "not available" (unless ZOO_DEBUG)."""
    if debug_enabled():
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def device_available(target: str) -> bool:
    """Whether this MindSpore build can use ``target`` ('Ascend' | 'GPU' | 'CPU') on this machine."""
    if target == "CPU":
        return True
    with _quiet_device_probe():
        return bool(ms.hal.is_available(target))


def _unavailable(target: str, reason: str = "") -> DeviceUnavailableError:
    usable = [name for name in ("Ascend", "GPU") if name != target and device_available(name)] + ["CPU"]
    reason = reason or (f"this MindSpore build cannot use {'an' if target == 'Ascend' else 'a'} {target} device on this machine (its {target} "
                        f"support is not installed or its libraries are not found)")
    return DeviceUnavailableError(f"device_target {target}: {reason}; use --device_target {usable[0]} (or auto, "
                                  f"the best device there is; {DEBUG_ENV}=1 shows MindSpore's own errors)")


def resolve_device_target(requested: str) -> str:
    """``requested`` when this MindSpore can use it (else :class:`DeviceUnavailableError`), or for
    ``auto`` the first of Ascend, GPU, CPU that it can use."""
    if requested == "auto":
        return next((target for target in ("Ascend", "GPU") if device_available(target)), "CPU")
    if not device_available(requested):
        raise _unavailable(requested)
    return requested


def say_device(text: str) -> None:
    """The first line of a command: the device it runs on (or that it runs no network)."""
    get_logger().info(text)


def writable_folder(path: str, key: str, value: Optional[str] = None) -> str:
    """Create the folder ``path`` when missing and check, by writing a file, that it takes files (a
    permission test would not do: root passes them all); :class:`UserError` naming the folder and the
    configuration key ``key`` otherwise. ``path`` is the key's value, or the folder of ``value``."""
    path = os.fspath(path)
    fix = f"choose a folder you can write with --{key}"
    subject = f"{key} {path}" if value is None else f"the folder {path} of {key} {value}"
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        blocker = next((parent for parent in _parents(path)
                        if os.path.exists(parent) and not os.path.isdir(parent)), None)
        why = f"{blocker} is a file, not a folder" if blocker else err.strerror
        raise UserError(f"{subject} cannot be created ({why}): {fix}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UserError(f"{subject} is not writable ({err.strerror}): {fix}") from None
    return path


def _parents(path: str):
    path = os.path.abspath(path)
    while True:
        yield path
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


_CPU_THREADS = {"set": 0}  # what set_cpu_threads gave MindSpore in this process (0: nothing yet)


def set_cpu_threads(num_threads: int) -> None:
    """Give MindSpore's CPU kernels ``num_threads`` threads (0: leave its default). MindSpore takes
    the setting once per process: asking again for the same number is nothing, asking for another
    one warns and keeps the first (ONNX Runtime, which takes its own per session, still follows)."""
    if not num_threads or _CPU_THREADS["set"] == num_threads:
        return
    kept = (f"MindSpore's CPU kernels keep the threads set earlier in this process (it takes the setting once); "
            f"num_threads {num_threads} is not applied to them")
    if _CPU_THREADS["set"]:
        warnings.warn(kept)
        return
    try:
        ms.device_context.cpu.op_tuning.threads_num(num_threads)
    except RuntimeError:  # set by other code of this process
        warnings.warn(kept)
        return
    _CPU_THREADS["set"] = num_threads


def setup_runtime(cfg) -> RunContext:
    """Set the execution mode and device, initialise communication when distributed, seed.

    ``cfg.device_target`` ``auto`` is replaced by the device found (and said). The seed is set after
    ``init()`` and before any network is built, so every rank starts from the same weights.
    """
    mode = ms.GRAPH_MODE if cfg.context == "gr" else ms.PYNATIVE_MODE
    ms.set_context(mode=mode)
    set_cpu_threads(cfg.num_threads)
    requested = cfg.device_target
    cfg.device_target = resolve_device_target(requested)
    device_id = int(os.environ.get("DEVICE_ID", cfg.device_id))
    if cfg.device_target == "CPU":
        if ms.get_context("device_target") != "CPU":  # CPU is the default: setting it after a kernel ran fails
            ms.set_device("CPU")
        say_device(f"device_target {requested}: running on CPU")
    else:
        try:
            ms.set_device(cfg.device_target, device_id)
        except RuntimeError as err:  # a build with the device's support, on a machine without a usable one
            raise _unavailable(cfg.device_target, f"{cfg.device_target} device {device_id} cannot be used "
                                                  f"({str(err).splitlines()[0]})") from err
        say_device(f"device_target {requested}: running on {cfg.device_target} {device_id}")
    run = RunContext()
    if cfg.distributed:
        from mindspore.communication import get_group_size, get_rank, init
        try:
            init()
        except RuntimeError as err:
            raise RuntimeError(f"distributed init failed ({err}); start distributed runs with "
                               f"scripts/run_distribute_train.sh (HCCL rank table on Ascend, msrun on "
                               f"GPU/CPU)") from err
        run = RunContext(get_rank(), get_group_size())
        ms.reset_auto_parallel_context()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                     device_num=run.group_size)
    seed_everything(cfg.seed)
    return run


def effective_amp_level(cfg) -> str:
    """The AMP level actually used: CPU kernels are float32, so CPU runs use O0 (with a warning)."""
    if cfg.device_target == "CPU" and cfg.amp_level != "O0":
        warnings.warn(f"amp_level {cfg.amp_level} is not supported on CPU; using O0")
        return "O0"
    return cfg.amp_level


def get_logger(name: str = "videozoo", log_file: str = "") -> logging.Logger:
    """A logger printing to stdout and, when given, appending to ``log_file`` (the log of this process's
    current run: the file of an earlier run in the same process stops receiving messages)."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        logger.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    if log_file and not any(getattr(h, "baseFilename", None) == os.path.abspath(log_file) for h in logger.handlers):
        for earlier in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(earlier)
            earlier.close()
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(file_handler)
    return logger


class FolderLockedError(UserError, RuntimeError):
    """A second training into an output folder that a running training holds."""


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


class RunLock:
    """``<folder>/.train.lock``: an exclusive lock (``flock``) held by the training that writes into
    ``folder``, with the holder's pid, host, start time and command written in the file.

    Taking a lock another process holds raises :class:`FolderLockedError` naming that process. The
    operating system releases the lock when its process ends, however it ends (kill -9 included), so
    a killed run never blocks its resume. The file itself stays (deleting it would let two runs lock
    two different files of the same name).
    """

    NAME = ".train.lock"

    def __init__(self, folder: str):
        self.path = os.path.join(folder, self.NAME)
        self._handle = None

    def _holder(self) -> str:
        for _ in range(20):  # the holder writes its details just after taking the lock
            try:
                with open(self.path, "r", encoding="utf-8") as handle:
                    holder = json.load(handle)
                described = (f"pid {holder['pid']} on {holder['host']}, started {holder['started']}, "
                             f"command: {holder['command']}")
                break
            except (OSError, ValueError, KeyError, TypeError):
                time.sleep(0.05)
        else:
            return f"details unreadable in {self.path}"
        if holder["host"] == socket.gethostname() and not _process_exists(int(holder["pid"])):
            # forked data-loader workers share the lock until they notice their parent is gone
            described += " (that process has ended and its worker processes are exiting: retry in a few seconds)"
        return described

    def acquire(self) -> "RunLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # never truncated before the lock is ours
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise FolderLockedError(f"{os.path.dirname(self.path)} is in use by another training: {self._holder()}. "
                                    f"Choose another --save_dir, or wait for that run to end (or stop it)") from None
        handle.seek(0)
        handle.truncate()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "command": shlex.join([sys.executable] + sys.argv)}, handle)
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


