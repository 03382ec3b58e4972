"""Batch-level label transforms of recognizer training: label smoothing and mixup.

Unlike the per-sample transforms, these see a whole batch (mixup blends clips of one batch), so
the data layer applies them after batching, to the ``imgs`` and ``label`` columns.
"""
from typing import Optional

import numpy as np

__all__ = ["SoftTargets"]


class SoftTargets:
    """Turn a batch's class indices into soft targets, optionally mixing the clips (mixup).

    Takes ``imgs`` (N, ...) float32 and ``label`` (N,) integer class indices; gives ``imgs`` (blended
    when ``mixup_alpha`` > 0) and ``label`` (N, ``num_classes``) float32 rows that sum to 1.

    * ``smoothing`` e: each target is ``(1 - e) * one_hot + e / num_classes``.
    * ``mixup_alpha`` a > 0: one weight w ~ Beta(a, a) per batch and a random pairing p of its
      clips; clip i becomes ``w * x_i + (1 - w) * x_p(i)`` and its target mixes the same way (as in
      PaddleVideo's and mmaction2's mixup). Cross-entropy is linear in the target, so this is their
      ``w * loss(y_i) + (1 - w) * loss(y_p(i))``.

    Draws come from a generator seeded with ``seed``, so a run repeats (the data layer applies it
    in one thread, batch after batch). Given the batch's item ``keys`` (N,) as a third input, the
    draws come from ``(seed, keys[0])`` instead: a batch's mixup then depends on its own items alone,
    so a resumed run mixes what the uninterrupted run mixed.
    """

    def __init__(self, num_classes: int, smoothing: float = 0.0, mixup_alpha: float = 0.0, seed: int = 0):
        if num_classes < 1:
            raise ValueError(f"SoftTargets: num_classes must be >= 1, got {num_classes}")
        if not 0.0 <= smoothing <= 1.0:
            raise ValueError(f"SoftTargets: smoothing must lie in [0, 1], got {smoothing}")
        if mixup_alpha < 0:
            raise ValueError(f"SoftTargets: mixup_alpha must be >= 0, got {mixup_alpha}")
        self.num_classes = num_classes
        self.smoothing = smoothing
        self.mixup_alpha = mixup_alpha
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __call__(self, imgs: np.ndarray, label: np.ndarray, keys: Optional[np.ndarray] = None):
        label = np.asarray(label).reshape(-1)
        rng = self._rng if keys is None else np.random.default_rng([self.seed, int(np.ravel(keys)[0])])
        if label.size and (label.min() < 0 or label.max() >= self.num_classes):
            raise ValueError(f"SoftTargets: labels must lie in [0, {self.num_classes}), got "
                             f"{label.min()}..{label.max()}; check num_classes against the annotation")
        targets = np.full((label.size, self.num_classes), self.smoothing / self.num_classes, np.float32)
        targets[np.arange(label.size), label] += 1.0 - self.smoothing
        if self.mixup_alpha > 0:
            weight = np.float32(rng.beta(self.mixup_alpha, self.mixup_alpha))
            pairing = rng.permutation(label.size)
            imgs = weight * imgs + (1 - weight) * imgs[pairing]
            targets = weight * targets + (1 - weight) * targets[pairing]
        return imgs.astype(np.float32, copy=False), targets

    def __repr__(self) -> str:
        return (f"SoftTargets(num_classes={self.num_classes}, smoothing={self.smoothing}, "
                f"mixup_alpha={self.mixup_alpha})")
