"""Common machinery of the video transforms: the :class:`Transform` base class, :class:`Compose`
and the small accessors every transform uses to read the ``results`` dict with clear errors.

A transform is a callable ``results -> results`` that reads and writes documented keys of one
sample's dict (mmaction2 style). Random transforms draw only from ``results["rng"]`` so that a
pipeline is deterministic under the seed the data layer puts there.
"""
from typing import Iterable, Tuple, Union

import numpy as np

__all__ = ["Transform", "Compose"]


class Transform:
    """Base class: subclasses implement ``__call__(results) -> results``.

    The readable ``repr`` lists the public attributes, which every transform names after its
    constructor arguments, e.g. ``Resize(short_side=256, size=None)``.
    """

    def __call__(self, results: dict) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items()
                           if not name.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply ``transforms`` in order; each must return the results dict it was given."""

    def __init__(self, transforms: Iterable):
        self.transforms = list(transforms)
        for transform in self.transforms:
            if not callable(transform):
                raise TypeError(f"Compose: {transform!r} is not callable; pass transform objects")

    def __call__(self, results: dict) -> dict:
        for transform in self.transforms:
            output = transform(results)
            if not isinstance(output, dict):
                raise TypeError(f"Compose: {transform!r} returned {type(output).__name__}, "
                                "expected the results dict")
            results = output
        return results

    def __repr__(self) -> str:
        if not self.transforms:
            return "Compose([])"
        body = "".join(f"\n    {transform!r}," for transform in self.transforms)
        return f"Compose([{body}\n])"


def get_rng(results: dict, owner: str) -> np.random.Generator:
    """The sample's random generator, or an error telling the data layer to provide one."""
    rng = results.get("rng")
    if not isinstance(rng, np.random.Generator):
        raise KeyError(f"{owner}: results['rng'] must be a numpy.random.Generator (got "
                       f"{type(rng).__name__}); create one per sample, e.g. np.random.default_rng(seed)")
    return rng


def get_frames(results: dict, owner: str) -> np.ndarray:
    """``results["imgs"]`` checked to be a 4-D (N, H, W, C) array."""
    imgs = results.get("imgs")
    if not isinstance(imgs, np.ndarray) or imgs.ndim != 4:
        shape = getattr(imgs, "shape", None)
        raise ValueError(f"{owner}: results['imgs'] must be an (N, H, W, C) array, got "
                         f"{type(imgs).__name__} with shape {shape}")
    return imgs


def get_total_frames(results: dict, owner: str) -> int:
    """``results["total_frames"]`` checked to be a positive integer."""
    total = results.get("total_frames")
    if total is None or int(total) < 1:
        raise ValueError(f"{owner}: results['total_frames'] must be >= 1, got {total!r}; "
                         "the video has no frames (check its n_frames file)")
    return int(total)


def to_pair(size: Union[int, Tuple[int, int]], owner: str) -> Tuple[int, int]:
    """An int ``s`` means the square ``(s, s)``; a pair is ``(height, width)``."""
    if np.isscalar(size):
        height = width = int(size)
    else:
        if len(size) != 2:
            raise ValueError(f"{owner}: size must be an int or (height, width), got {size!r}")
        height, width = (int(value) for value in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"{owner}: size must be positive, got {size!r}")
    return height, width
