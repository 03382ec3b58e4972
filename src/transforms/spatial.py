"""Spatial transforms over a clip's frames ``imgs`` of shape (N, H, W, C).

All frames of a sample get the same geometry: random transforms draw once per sample from
``results["rng"]``. Each transform keeps ``img_shape`` = (H, W) current. Multi-crop transforms
stack their crops crop-major along N (crop 0's frames, then crop 1's, ...) and multiply
``num_crops``. ``modality`` is 'rgb' (C = 3) or 'flow' (C = 2, channel 0 = x, channel 1 = y);
uint8 flow stores (v - 127.5) * 20 / 127.5, so mirroring it maps x to 255 - x, while float flow
is taken to be centred already (after :class:`Normalize`) and mirroring maps x to -x.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .base import Transform, get_frames, get_rng, to_pair

__all__ = ["Resize", "RandomCrop", "CenterCrop", "MultiScaleCrop", "RandomHorizontalFlip",
           "ThreeCrop", "TenCrop", "Normalize", "flip_horizontal"]

Size = Union[int, Tuple[int, int]]

NORMALIZATIONS = ("minus_one_to_one", "meanstd")
# Default statistics for Normalize(kind="meanstd") in x / 255 units. ImageNet for RGB; 0.5 / 0.5
# for flow, which centres uint8 flow at 127.5 exactly like the [-1, 1] scaling.
_DEFAULT_MEAN_STD = {"rgb": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                     "flow": ((0.5,), (0.5,))}


def _resize_frames(imgs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of every frame to (height, width), keeping dtype and channel count."""
    num_frames, _, _, channels = imgs.shape
    out = np.empty((num_frames, height, width, channels), dtype=imgs.dtype)
    for index in range(num_frames):
        frame = np.ascontiguousarray(imgs[index])
        # cv2 drops a trailing channel axis of size 1, hence the reshape.
        out[index] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR).reshape(
            height, width, channels)
    return out


def _check_crop_fits(owner: str, crop_hw: Tuple[int, int], frame_hw: Tuple[int, int]) -> None:
    if crop_hw[0] > frame_hw[0] or crop_hw[1] > frame_hw[1]:
        raise ValueError(f"{owner}: crop {crop_hw[0]}x{crop_hw[1]} (HxW) is larger than the frame "
                         f"{frame_hw[0]}x{frame_hw[1]}; resize the frames so their short side is at "
                         f"least {max(crop_hw)} before cropping")


def _crop(imgs: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    return imgs[:, top:top + height, left:left + width]


def _set_frames(results: dict, imgs: np.ndarray) -> dict:
    results["imgs"] = imgs
    results["img_shape"] = (int(imgs.shape[1]), int(imgs.shape[2]))
    return results


def flip_horizontal(imgs: np.ndarray, modality: str = "rgb") -> np.ndarray:
    """Mirror (N, H, W, C) frames left-right; for flow also negate the x channel.

    uint8 flow (127.5 = no motion) maps x to 255 - x; float flow is assumed centred, x -> -x.
    """
    flipped = np.ascontiguousarray(imgs[:, :, ::-1])
    if modality == "flow":
        if flipped.dtype == np.uint8:
            flipped[..., 0] = 255 - flipped[..., 0]
        else:
            np.negative(flipped[..., 0], out=flipped[..., 0])
    return flipped


def _multi_crop(results: dict, imgs: np.ndarray, crops: Sequence[np.ndarray]) -> dict:
    """Stack crops crop-major and multiply ``num_crops`` by their count."""
    results["num_crops"] = int(results.get("num_crops", 1)) * len(crops)
    return _set_frames(results, np.concatenate(crops, axis=0))


class Resize(Transform):
    """Resize every frame: ``Resize(short_side)`` keeps the aspect ratio, ``Resize(size=(h, w))``
    gives exactly h x w. ``short_side <= 0`` leaves the frames unchanged.

    Reads ``imgs`` (N, H, W, C) uint8/float32. Writes ``imgs`` (N, H', W', C) same dtype,
    ``img_shape``.
    """

    def __init__(self, short_side: Optional[int] = None, size: Optional[Size] = None):
        if (short_side is None) == (size is None):
            raise ValueError("Resize: give exactly one of short_side (keep aspect ratio) or "
                             f"size=(height, width); got short_side={short_side!r}, size={size!r}")
        self.short_side = None if short_side is None else int(short_side)
        self.size = None if size is None else to_pair(size, "Resize")

    def _target(self, height: int, width: int) -> Tuple[int, int]:
        if self.size is not None:
            return self.size
        if self.short_side <= 0:
            return height, width
        scale = self.short_side / min(height, width)
        if height <= width:
            return self.short_side, int(width * scale + 0.5)
        return int(height * scale + 0.5), self.short_side

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "Resize")
        height, width = imgs.shape[1:3]
        new_height, new_width = self._target(height, width)
        if (new_height, new_width) != (height, width):
            imgs = _resize_frames(imgs, new_height, new_width)
        return _set_frames(results, imgs)


class RandomCrop(Transform):
    """One random size crop for the whole sample (one draw).

    Reads ``imgs`` (N, H, W, C), ``rng``. Writes ``imgs`` (N, h, w, C) same dtype, ``img_shape``,
    ``crop_box`` = (top, left, h, w).
    """

    def __init__(self, size: Size):
        self.size = to_pair(size, "RandomCrop")

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "RandomCrop")
        frame_hw = imgs.shape[1:3]
        _check_crop_fits("RandomCrop", self.size, frame_hw)
        rng = get_rng(results, "RandomCrop")
        top, left = rng.integers(0, [frame_hw[0] - self.size[0] + 1, frame_hw[1] - self.size[1] + 1])
        results["crop_box"] = (int(top), int(left)) + self.size
        return _set_frames(results, _crop(imgs, top, left, *self.size))


class CenterCrop(Transform):
    """The centred size crop.

    Reads ``imgs`` (N, H, W, C). Writes ``imgs`` (N, h, w, C) same dtype, ``img_shape``,
    ``crop_box`` = (top, left, h, w).
    """

    def __init__(self, size: Size):
        self.size = to_pair(size, "CenterCrop")

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "CenterCrop")
        frame_hw = imgs.shape[1:3]
        _check_crop_fits("CenterCrop", self.size, frame_hw)
        top = (frame_hw[0] - self.size[0]) // 2
        left = (frame_hw[1] - self.size[1]) // 2
        results["crop_box"] = (top, left) + self.size
        return _set_frames(results, _crop(imgs, top, left, *self.size))


# Offsets of TSN's 13 fixed crop positions, in quarters of the free space (rows, columns):
# corners, centre, edge midpoints, and the four points halfway between centre and corners.
_FIXED_CROP_QUARTERS = np.array([(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2),
                                 (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)], dtype=np.int64)


class MultiScaleCrop(Transform):
    """TSN's multi-scale crop, then a resize to ``size`` (one draw per sample).

    The crop height and width are ``int(short_side * scale)`` for two scales whose indices in
    ``scales`` differ by at most ``max_distort``; its position is one of 13 fixed points
    (``fix_crop``) or uniform.

    Reads ``imgs`` (N, H, W, C), ``rng``. Writes ``imgs`` (N, h, w, C) same dtype, ``img_shape``,
    ``crop_box`` = (top, left, crop_h, crop_w) in the input frame.
    """

    def __init__(self, size: Size, scales: Sequence[float] = (1, .875, .75, .66),
                 max_distort: int = 1, fix_crop: bool = True):
        self.size = to_pair(size, "MultiScaleCrop")
        self.scales = tuple(float(scale) for scale in scales)
        if not self.scales or not all(0 < scale <= 1 for scale in self.scales):
            raise ValueError(f"MultiScaleCrop: scales must be in (0, 1], got {scales!r}")
        self.max_distort = int(max_distort)
        self.fix_crop = bool(fix_crop)
        indices = np.arange(len(self.scales))
        rows, cols = np.nonzero(np.abs(indices[:, None] - indices[None, :]) <= self.max_distort)
        self._scale_pairs = np.stack([rows, cols], axis=1)  # (height scale, width scale) indices

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "MultiScaleCrop")
        rng = get_rng(results, "MultiScaleCrop")
        height, width = imgs.shape[1:3]
        base = min(height, width)
        crop_sizes = [max(int(base * scale), 1) for scale in self.scales]
        height_index, width_index = self._scale_pairs[rng.integers(len(self._scale_pairs))]
        crop_h, crop_w = crop_sizes[height_index], crop_sizes[width_index]
        if self.fix_crop:
            step = np.array([(height - crop_h) // 4, (width - crop_w) // 4])
            top, left = _FIXED_CROP_QUARTERS[rng.integers(len(_FIXED_CROP_QUARTERS))] * step
        else:
            top, left = rng.integers(0, [height - crop_h + 1, width - crop_w + 1])
        results["crop_box"] = (int(top), int(left), crop_h, crop_w)
        cropped = _crop(imgs, top, left, crop_h, crop_w)
        return _set_frames(results, _resize_frames(cropped, *self.size))


class RandomHorizontalFlip(Transform):
    """Mirror the whole sample with probability ``p`` (one draw); flow x is negated.

    Reads ``imgs`` (N, H, W, C), ``modality``, ``rng``. Writes ``imgs`` (same shape and dtype),
    ``flip`` (bool).
    """

    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "RandomHorizontalFlip")
        flip = bool(get_rng(results, "RandomHorizontalFlip").random() < self.p)
        results["flip"] = flip
        if flip:
            results["imgs"] = flip_horizontal(imgs, results.get("modality", "rgb"))
        return results


class ThreeCrop(Transform):
    """Three size crops at the start, centre and end of the frame's long axis, centred on the
    short axis (the axis with more room for the crop counts as long).

    Reads ``imgs`` (N, H, W, C), ``num_crops``. Writes ``imgs`` (3N, h, w, C) crop-major,
    ``img_shape``, ``num_crops`` (x3).
    """

    def __init__(self, size: Size):
        self.size = to_pair(size, "ThreeCrop")

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "ThreeCrop")
        height, width = imgs.shape[1:3]
        _check_crop_fits("ThreeCrop", self.size, (height, width))
        free_h, free_w = height - self.size[0], width - self.size[1]
        if free_w >= free_h:
            corners = [(free_h // 2, left) for left in (0, free_w // 2, free_w)]
        else:
            corners = [(top, free_w // 2) for top in (0, free_h // 2, free_h)]
        return _multi_crop(results, imgs, [_crop(imgs, top, left, *self.size) for top, left in corners])


class TenCrop(Transform):
    """Ten size crops: top-left, top-right, bottom-left, bottom-right, centre, then the same five
    mirrored (flow x negated as in :func:`flip_horizontal`).

    Reads ``imgs`` (N, H, W, C), ``modality``, ``num_crops``. Writes ``imgs`` (10N, h, w, C)
    crop-major, ``img_shape``, ``num_crops`` (x10).
    """

    def __init__(self, size: Size):
        self.size = to_pair(size, "TenCrop")

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "TenCrop")
        height, width = imgs.shape[1:3]
        _check_crop_fits("TenCrop", self.size, (height, width))
        free_h, free_w = height - self.size[0], width - self.size[1]
        corners = [(0, 0), (0, free_w), (free_h, 0), (free_h, free_w), (free_h // 2, free_w // 2)]
        crops = [_crop(imgs, top, left, *self.size) for top, left in corners]
        modality = results.get("modality", "rgb")
        crops += [flip_horizontal(crop, modality) for crop in crops]
        return _multi_crop(results, imgs, crops)


class Normalize(Transform):
    """Scale pixel values to float32.

    ``kind="minus_one_to_one"`` (I3D's): x / 127.5 - 1, in [-1, 1] (uint8 flow's 127.5 maps to 0;
    ``mean``/``std`` are ignored). ``kind="meanstd"``: (x / 255 - mean) / std per channel; ``mean``/``std`` have one
    value or one per channel (default ImageNet statistics for RGB, 0.5 / 0.5 for flow).

    Reads ``imgs`` with values in 0..255, ``modality``: frames (N, H, W, C), or the views
    :class:`~src.transforms.formatting.FormatShape` made (it sets ``layout``): 'NCTHW' (V, C, T, H, W),
    or 'NSCHW' (V, S, C * clip_len, H, W) with each frame's C channels in turn. Writes ``imgs`` float32
    of the same shape. (Formatting uint8 frames first moves a quarter of the bytes a float reorder would.)
    """

    def __init__(self, kind: str = "minus_one_to_one", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None):
        if kind not in NORMALIZATIONS:
            raise ValueError(f"Normalize: kind must be one of {list(NORMALIZATIONS)}, got {kind!r}")
        self.kind = kind
        self.mean = None if mean is None else tuple(float(value) for value in np.ravel(mean))
        self.std = None if std is None else tuple(float(value) for value in np.ravel(std))
        if self.std is not None and any(value == 0 for value in self.std):
            raise ValueError(f"Normalize: std must be non-zero, got {std!r}")

    def _statistics(self, modality: str, channels: int) -> Tuple[np.ndarray, np.ndarray]:
        default_mean, default_std = _DEFAULT_MEAN_STD.get(modality, _DEFAULT_MEAN_STD["rgb"])
        values = {"mean": default_mean if self.mean is None else self.mean,
                  "std": default_std if self.std is None else self.std}
        for name, value in values.items():
            if len(value) not in (1, channels):
                raise ValueError(f"Normalize: {name} has {len(value)} values but the {modality} "
                                 f"frames have {channels} channels; give 1 or {channels} values")
        return (np.asarray(values["mean"], dtype=np.float32),
                np.asarray(values["std"], dtype=np.float32))

    def __call__(self, results: dict) -> dict:
        layout = results.get("layout")
        imgs = (results["imgs"] if layout else get_frames(results, "Normalize")).astype(np.float32)
        if self.kind == "minus_one_to_one":
            imgs /= np.float32(127.5)
            imgs -= np.float32(1)
        else:
            if layout == "NCTHW":
                channels, repeats, axis = imgs.shape[1], 1, 1
            elif layout == "NSCHW":
                repeats = int(results["clip_len"])
                channels, axis = imgs.shape[2] // repeats, 2
            else:
                channels, repeats, axis = imgs.shape[-1], 1, imgs.ndim - 1
            mean, std = self._statistics(results.get("modality", "rgb"), channels)
            shape = [1] * imgs.ndim
            shape[axis] = -1
            imgs /= np.float32(255)
            imgs -= np.resize(mean, channels * repeats if mean.size > 1 else 1).reshape(shape)
            imgs /= np.resize(std, channels * repeats if std.size > 1 else 1).reshape(shape)
        results["imgs"] = imgs
        return results
