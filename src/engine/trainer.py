"""``train(cfg)``: the training run behind ``train.py``, the same for every model of the zoo."""
import os
import resource
import time

import numpy as np
from mindspore.train import Model

from src.config import describe, save_config
from src.engine.builders import build_network, build_optimizer, build_train_cell, freeze_by_prefixes
from src.engine.callbacks import (CheckpointKeeper, EpochEvaluator, PreciseBNUpdater, TrainMonitor,
                                  restore_training_state)
from src.tasks import task_of
from src.utils.runtime import get_logger, setup_runtime

__all__ = ["train"]


def train(cfg) -> dict:
    """Train ``cfg.model``; returns the epoch history (loss, lr, timing, validation metric).

    The model's task (:mod:`src.tasks`) supplies the dataset, the loss, the evaluation and the
    metric that picks the best checkpoint.
    """
    task = task_of(cfg)
    run = setup_runtime(cfg)
    out_dir = cfg.save_dir if run.is_main else os.path.join(cfg.save_dir, f"rank_{run.rank_id}")
    os.makedirs(out_dir, exist_ok=True)
    logger = get_logger(log_file=os.path.join(out_dir, "train.log"))
    if run.is_main:
        logger.info("configuration:\n" + describe(cfg))
        save_config(cfg, out_dir)
    logger.info(f"rank {run.rank_id} of {run.group_size}; model {cfg.model}, dataset {cfg.dataset}, mode {cfg.mode}")

    dataset = task.create_dataset(cfg, "train", run.rank_id, run.group_size)
    if cfg.max_steps_per_epoch:
        dataset = dataset.take(cfg.max_steps_per_epoch)
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

    monitor = TrainMonitor(logger, steps, cfg.batch_size, optimizer, run.group_size, show_progress=run.is_main)
    callbacks = [monitor]
    if run.is_main:
        if cfg.precise_bn_batches > 0:
            bn_cfg = cfg.copy()
            bn_cfg.num_workers = 1  # its own single-process loader: no workers to start every epoch
            bn_data = task.create_dataset(bn_cfg, "train", run.rank_id, run.group_size)
            callbacks.append(PreciseBNUpdater(net, bn_data, cfg.precise_bn_batches, logger))
        prefix = task.checkpoint_prefix(cfg)
        ckpt_dir = os.path.join(out_dir, "checkpoints")
        callbacks.append(CheckpointKeeper(train_cell, ckpt_dir, prefix, steps, cfg.checkpoint_frequency,
                                          cfg.checkpoints_num_keep, logger))
        evaluate = None if cfg.no_eval else task.evaluator(cfg, net, os.path.join(out_dir, "eval"))
        callbacks.append(EpochEvaluator(evaluate, task.best_metric, net, monitor, ckpt_dir, prefix, logger))
    start = time.time()
    Model(train_cell).train(cfg.num_epochs, dataset, callbacks=callbacks, dataset_sink_mode=cfg.sink_mode,
                            initial_epoch=start_epoch)
    # Data-parallel ranks must end with identical trained weights (BatchNorm moving statistics are
    # per rank): every rank logs the same checksum.
    checksum = sum(float(np.abs(p.asnumpy().astype(np.float64)).sum()) for p in net.trainable_params())
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    logger.info(f"training finished in {time.time() - start:.1f} s; peak memory {peak_gib:.2f} GiB; "
                f"trained-weight checksum {checksum:.6f}")
    return {"history": monitor.history, "out_dir": out_dir}
