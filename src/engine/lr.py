"""Learning-rate schedules as one value per step (MindSpore optimizers take such a list)."""
import math
from typing import Sequence

import numpy as np

__all__ = ["build_lr_schedule"]


def build_lr_schedule(base_lr: float, steps_per_epoch: int, num_epochs: int, scheduler: str = "step",
                      decay_rate: float = 0.1, decay_epochs: Sequence[int] = (), warmup_epochs: int = 0,
                      warmup_start_factor: float = 0.0) -> np.ndarray:
    """Per-step learning rates of a whole run (float32, length ``steps_per_epoch * num_epochs``).

    ``step``: ``base_lr * decay_rate ** k`` where k counts the ``decay_epochs`` already passed
    (epochs are 0-based, so ``decay_epochs=[7]`` changes the rate from the 8th epoch on).
    ``cosine``: half a cosine from ``base_lr`` to 0 over the epochs after warm-up.
    ``warmup_epochs``: a linear ramp to ``base_lr`` first, from ``base_lr * warmup_start_factor``
    (exclusive: step k of W gets ``base_lr * (f + (1 - f) * (k + 1) / W)``; with f = 0 the first
    step gets ``base_lr / W``).
    """
    if steps_per_epoch <= 0 or num_epochs <= 0:
        raise ValueError(f"need positive steps_per_epoch and num_epochs, got {steps_per_epoch}, {num_epochs}")
    total = steps_per_epoch * num_epochs
    step = np.arange(total)
    epoch = step / steps_per_epoch
    if scheduler == "step":
        passed = np.zeros(total)
        for boundary in sorted(decay_epochs):
            passed += epoch >= boundary
        lrs = base_lr * decay_rate ** passed
    elif scheduler == "cosine":
        warm = warmup_epochs * steps_per_epoch
        progress = np.clip((step - warm) / max(total - warm, 1), 0.0, 1.0)
        lrs = 0.5 * base_lr * (1.0 + np.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown lr scheduler {scheduler!r} (step | cosine)")
    warm_steps = warmup_epochs * steps_per_epoch
    if warm_steps:
        start = warmup_start_factor
        ramp = base_lr * (start + (1.0 - start) * (step[:warm_steps] + 1) / warm_steps)
        lrs[:warm_steps] = np.minimum(lrs[:warm_steps], ramp)
    return lrs.astype(np.float32)

