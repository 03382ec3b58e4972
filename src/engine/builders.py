"""Optimizers and training cells built from the shared configuration (networks: :mod:`src.models.builder`),
and the check that the data folders a run reads exist."""
import os
from typing import List, Tuple

import mindspore as ms
import mindspore.nn as nn

from src.engine.lr import build_lr_schedule
from src.engine.train_cells import ClippedLossScaleTrainStep, ClippedTrainStep
from src.utils.command import UserError
from src.utils.runtime import effective_amp_level

__all__ = ["freeze_by_prefixes", "build_optimizer", "build_train_cell", "check_data_roots"]


def check_data_roots(cfg, joint: bool = False) -> None:
    """``video_path`` (and for ``joint`` ``video_path_joint_flow``), when set, must be folders: a
    missing one is one error naming it, before the annotation's videos are looked up one by one.
    (Models that read no frames, BMN, leave both empty; their feature folder is checked where read.)"""
    roots = [("video_path", cfg.video_path)] + ([("video_path_joint_flow", cfg.video_path_joint_flow)] if joint else [])
    for key, path in roots:
        if path and not os.path.isdir(path):
            state = "is not a folder" if os.path.exists(path) else "does not exist"
            raise UserError(f"{key} {path} {state}: set --{key} to the folder holding the frame folders (or "
                            f"videos) that the annotation's paths are relative to")


def freeze_by_prefixes(net, prefixes: List[str]) -> Tuple[int, int]:
    """Train only parameters whose names start with one of ``prefixes`` (all when empty).

    Returns (trainable tensors, frozen tensors).
    """
    params = net.trainable_params()
    if not prefixes:
        return len(params), 0
    frozen = 0
    for param in params:
        if not any(param.name.startswith(prefix) for prefix in prefixes):
            param.requires_grad = False
            frozen += 1
    if frozen == len(params):
        raise ValueError(f"finetune_prefixes {prefixes} match no parameter; names look like "
                         f"{params[0].name!r} ... {params[-1].name!r}")
    return len(params) - frozen, frozen


def build_optimizer(cfg, net, steps_per_epoch: int):
    """Adam or SGD-momentum (Nesterov's with ``nesterov``) over the trainable parameters, with the
    configured lr schedule (one value per step of the whole run; the optimizer's step counter indexes it).

    Weight decay applies to conv/dense weights only, not to BatchNorm parameters or biases.
    """
    params = net.trainable_params()
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    schedule = build_lr_schedule(cfg.lr, steps_per_epoch, cfg.num_epochs, cfg.lr_scheduler, cfg.lr_de_rate,
                                 cfg.lr_de_epochs, cfg.warmup_epochs, cfg.warmup_start_factor)
    learning_rate = ms.Tensor(schedule, ms.float32)
    if cfg.optimizer == "adam":
        return nn.Adam(groups, learning_rate=learning_rate)
    return nn.Momentum(groups, learning_rate=learning_rate, momentum=cfg.momentum, use_nesterov=cfg.nesterov)


def build_train_cell(cfg, net_with_loss, optimizer):
    """One training step (forward, backward, update) with AMP and loss scaling where supported, and
    the gradients clipped to a global norm of ``clip_grad_norm`` when it is set."""
    level = effective_amp_level(cfg)
    kwargs = {}
    if level != "O0":
        kwargs["loss_scale_manager"] = ms.amp.DynamicLossScaleManager()
    step = ms.amp.build_train_network(net_with_loss, optimizer, level=level, **kwargs)
    if not cfg.clip_grad_norm:
        return step
    # the network as AMP cast it, the same optimizer and loss scaler, in a step that clips
    if isinstance(step, nn.TrainOneStepWithLossScaleCell):
        return ClippedLossScaleTrainStep(step.network, optimizer, step.loss_scaling_manager, cfg.clip_grad_norm)
    return ClippedTrainStep(step.network, optimizer, cfg.clip_grad_norm)
