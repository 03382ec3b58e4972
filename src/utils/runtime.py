"""Process set-up shared by the entry points: execution mode, device, seeds, distributed init, logging."""
import logging
import os
import random
import sys
import warnings
from dataclasses import dataclass

import mindspore as ms
import mindspore.dataset as ds
import numpy as np

__all__ = ["RunContext", "setup_runtime", "resolve_device_target", "seed_everything", "get_logger",
           "effective_amp_level"]


@dataclass
class RunContext:
    """Where this process runs: rank and group size (1 and 0 when not distributed)."""
    rank_id: int = 0
    group_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank_id == 0


def seed_everything(seed: int) -> None:
    """Seed mindspore (weights, dropout), the dataset pipeline (shuffle), numpy and random."""
    ms.set_seed(seed)
    ds.config.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def resolve_device_target(requested: str) -> str:
    """``requested``, or for ``auto`` the first of Ascend, GPU, CPU that this MindSpore can use."""
    if requested != "auto":
        return requested
    for target in ("Ascend", "GPU"):
        if ms.hal.is_available(target):
            return target
    return "CPU"


def setup_runtime(cfg) -> RunContext:
    """Set the execution mode and device, initialise communication when distributed, seed.

    ``cfg.device_target`` ``auto`` is replaced by the device found (and said). The seed is set after
    ``init()`` and before any network is built, so every rank starts from the same weights.
    """
    mode = ms.GRAPH_MODE if cfg.context == "gr" else ms.PYNATIVE_MODE
    ms.set_context(mode=mode)
    if cfg.device_target == "auto":
        cfg.device_target = resolve_device_target("auto")
        get_logger().info(f"device_target auto: running on {cfg.device_target}")
    device_id = int(os.environ.get("DEVICE_ID", cfg.device_id))
    if cfg.device_target == "CPU":
        if ms.get_context("device_target") != "CPU":  # CPU is the default: setting it after a kernel ran fails
            ms.set_device("CPU")
    else:
        ms.set_device(cfg.device_target, device_id)
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
    """A logger printing to stdout and, when given, appending to ``log_file``."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        logger.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    if log_file and not any(getattr(h, "baseFilename", None) == os.path.abspath(log_file) for h in logger.handlers):
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(file_handler)
    return logger
