"""``train(cfg)``: the training run behind ``train.py``, the same for every model of the zoo.

A run owns its ``save_dir`` (:class:`src.utils.runtime.RunLock`): a second training into the same
folder is refused while the first runs. Every input is read before the first step (training and
validation data, the checkpoint). SIGINT / SIGTERM stop the run at the next safe point with the
command that resumes it (exit code 128 + signal); a resumed run continues the history, the best
metric and the lr schedule of the run it resumes.
"""
import contextlib
import errno
import os
import re
import resource
import shlex
import sys
import time

import numpy as np
from mindspore.train import Model

from src.config import describe, save_config
from src.engine.builders import build_optimizer, build_train_cell, check_data_roots, freeze_by_prefixes
from src.models.builder import build_network
from src.data.bad_samples import BAD_SAMPLES_FILE
from src.data.dataset import start_data_at_epoch
from src.engine.callbacks import (BadSampleGuard, CheckpointKeeper, EpochEvaluator, PreciseBNUpdater, ScalarSummary,
                                  StopAtSafePoints, TooManyBadSamples, TrainMonitor, best_so_far,
                                  evaluation_schedule, read_history, restore_training_state)
from src.models.weights import remove_stale_temp_files
from src.tasks import task_of
from src.utils.runtime import RunLock, get_logger, run_folder, setup_runtime, writable_folder
from src.utils.signals import StopRequested, StopSignals

__all__ = ["train", "resume_command", "DISTRIBUTED_STOP_GRACE_S"]

DISTRIBUTED_STOP_GRACE_S = 60
# Failures to write the run's outputs that the user can fix and then resume from (a full disk, a
# folder made read-only during the run).
OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def resume_command(argv, checkpoint: str) -> str:
    """``python <argv>`` with ``--resume True --checkpoint_path checkpoint`` in place of any resume or
    checkpoint flags of ``argv`` (the command line of this run)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--resume", "--checkpoint_path"):
            skip = True
            continue
        if re.match(r"--(resume|checkpoint_path)=", arg):
            continue
        kept.append(arg)
    return shlex.join(["python"] + kept + ["--resume", "True", "--checkpoint_path", checkpoint])


def _resume_hint(cfg, keeper) -> str:
    last = _last_state(cfg, keeper)
    return f"; once fixed, resume with: {resume_command(sys.argv, last)}" if last else \
        "; once fixed, run the same command again (no epoch was saved yet)"


def _last_state(cfg, keeper) -> str:
    """The newest complete training state: this run's last checkpoint, else the one it resumed."""
    return (keeper.last_saved if keeper else None) or (cfg.checkpoint_path if cfg.resume else "")


def _report_stop(logger, stop: StopRequested, checkpoint: str) -> None:
    where = f"{stop} {stop.where}"
    if checkpoint:
        logger.error(f"{where}; the last complete state is {checkpoint}. Resume with:\n  "
                     f"{resume_command(sys.argv, checkpoint)}")
    else:
        logger.error(f"{where}, before the first checkpoint: nothing to resume; run the same command again")


def train(cfg) -> dict:
    """Train ``cfg.model``; returns the epoch history (loss, lr, timing, validation metric).

    The model's task (:mod:`src.tasks`) supplies the dataset, the loss, the evaluation and the
    metric that picks the best checkpoint.
    """
    run = setup_runtime(cfg)
    writable_folder(cfg.save_dir, "save_dir")
    check_data_roots(cfg)
    out_dir = run_folder(cfg.save_dir, run.rank_id)
    # Rank 0 owns save_dir (the other ranks write only their log into rank_<id>/); taken before any
    # file of the folder is touched, so a refused run changes nothing.
    lock = RunLock(cfg.save_dir) if run.is_main else contextlib.nullcontext()
    # A rank stopping at its safe point can leave the others waiting in a collective: distributed
    # runs end at the latest DISTRIBUTED_STOP_GRACE_S after the signal.
    grace = DISTRIBUTED_STOP_GRACE_S if run.group_size > 1 else None
    with lock, StopSignals(grace_s=grace) as signals, contextlib.ExitStack() as closing:
        return _train(cfg, run, out_dir, signals, closing)


def _train(cfg, run, out_dir: str, signals: StopSignals, closing: contextlib.ExitStack) -> dict:
    task = task_of(cfg)
    os.makedirs(out_dir, exist_ok=True)
    logger = get_logger(log_file=os.path.join(out_dir, "train.log"))
    signals.logger = logger
    ckpt_dir = os.path.join(out_dir, "checkpoints")
    if run.is_main:
        for stale in remove_stale_temp_files(ckpt_dir) if os.path.isdir(ckpt_dir) else ():
            logger.warning(f"removed {stale}, left by a checkpoint write that never finished")
        config_file = save_config(cfg, out_dir)
        logger.info(f"configuration (keys that differ from the defaults; all of them in {config_file}): "
                    f"{describe(cfg, changed_only=True)}")
    # The pid lets a launcher name the rank of a worker that died (scripts/run_distribute_train.sh).
    logger.info(f"rank {run.rank_id} of {run.group_size} (pid {os.getpid()}); model {cfg.model}, "
                f"dataset {cfg.dataset}, mode {cfg.mode}")

    dataset = task.create_dataset(cfg, "train", run.rank_id, run.group_size)  # max_steps_per_epoch caps it
    steps = dataset.get_dataset_size()
    if steps == 0:
        raise ValueError(f"the training split yields no full batch of {cfg.batch_size}: lower --batch_size")

    net = build_network(cfg, for_resume=cfg.resume)
    trainable, frozen = freeze_by_prefixes(net, cfg.finetune_prefixes)
    logger.info(f"{trainable} parameter tensors trained, {frozen} frozen; {steps} steps per epoch")
    optimizer = build_optimizer(cfg, net, steps)
    train_cell = build_train_cell(cfg, task.loss_network(cfg, net), optimizer)
    start_epoch = restore_training_state(train_cell, cfg.checkpoint_path) if cfg.resume else cfg.start_epoch
    if start_epoch >= cfg.num_epochs:
        raise ValueError(f"start epoch {start_epoch} is not below num_epochs {cfg.num_epochs}: nothing to train")
    start_data_at_epoch(dataset, start_epoch)  # the data order and augmentation of the epochs being resumed
    prefix = task.checkpoint_prefix(cfg)
    # The history and best checkpoint of the run being resumed lie beside its checkpoint (usually
    # this run's own checkpoints folder).
    resumed_dir = os.path.dirname(os.path.abspath(cfg.checkpoint_path)) if cfg.resume else ckpt_dir
    history = read_history(resumed_dir, start_epoch, logger) if cfg.resume and run.is_main else []
    if cfg.resume:
        logger.info(f"resuming after epoch {start_epoch} of {cfg.checkpoint_path} ({len(history)} epochs of history)")

    monitor = TrainMonitor(logger, steps, cfg.batch_size, optimizer, run.group_size, show_progress=run.is_main,
                           num_epochs=cfg.num_epochs, history=history, graph_mode=cfg.context == "gr")
    callbacks = [monitor, BadSampleGuard(os.path.join(out_dir, BAD_SAMPLES_FILE), cfg.max_bad_sample_ratio,
                                         cfg.batch_size, logger)]
    keeper = None
    if run.is_main:
        due = evaluation_schedule(cfg.eval_interval, cfg.num_epochs)
        if cfg.precise_bn_batches > 0:
            bn_cfg = cfg.copy()
            bn_cfg.num_workers = 1  # its own single-process loader: no workers to start every epoch
            bn_cfg.mixup_alpha = 0.0  # statistics of the clips the network will see, not of blends
            bn_data = task.create_dataset(bn_cfg, "train", run.rank_id, run.group_size)
            callbacks.append(PreciseBNUpdater(net, bn_data, cfg.precise_bn_batches, logger, due))
        # The evaluator reads its data now, so a missing or empty validation split stops the run
        # before the first step rather than after the first epoch.
        eval_dir = os.path.join(out_dir, "eval")
        latest_dir = os.path.join(eval_dir, "latest")
        evaluate = None if cfg.no_eval else task.epoch_evaluator(cfg, net, latest_dir)
        best = best_so_far(history, os.path.join(resumed_dir, f"{prefix}_best.ckpt"), start_epoch, logger) \
            if cfg.resume else -np.inf
        callbacks.append(EpochEvaluator(evaluate, task.best_metric, net, monitor, ckpt_dir, prefix, logger, best,
                                        latest_dir, eval_dir, subject=prefix.replace("_", " "), due=due))
        # After the evaluator: history.json always holds the epoch of the newest checkpoint, so a run
        # killed between the two resumes with its whole history.
        keeper = CheckpointKeeper(train_cell, ckpt_dir, prefix, steps, cfg.checkpoint_frequency,
                                  cfg.checkpoints_num_keep, logger)
        callbacks.append(keeper)
        if cfg.summary_dir:
            summary = ScalarSummary(cfg.summary_dir, monitor)
            closing.callback(summary.close)
            callbacks.append(summary)
    callbacks.append(StopAtSafePoints(signals))
    start = time.time()
    try:
        Model(train_cell).train(cfg.num_epochs, dataset, callbacks=callbacks, dataset_sink_mode=cfg.sink_mode,
                                initial_epoch=start_epoch)
    except StopRequested as stop:
        _report_stop(logger, stop, _last_state(cfg, keeper))
        raise SystemExit(128 + stop.signum) from None
    except TooManyBadSamples as err:
        raise TooManyBadSamples(f"{err}{_resume_hint(cfg, keeper)}") from None
    except OSError as err:
        if err.errno not in OUTPUT_ERRNOS:
            raise
        raise OSError(err.errno, f"{err.strerror}{_resume_hint(cfg, keeper)}") from err
    # Data-parallel ranks must end with identical trained weights (BatchNorm moving statistics are
    # per rank): every rank logs the same checksum.
    checksum = sum(float(np.abs(p.asnumpy().astype(np.float64)).sum()) for p in net.trainable_params())
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    logger.info(f"training finished in {time.time() - start:.1f} s; peak memory {peak_gib:.2f} GiB; "
                f"trained-weight checksum {checksum:.6f}")
    return {"history": monitor.history, "out_dir": out_dir}
