"""Turn the frame stack (N, H, W, C) into the network input layout of one sample."""
import numpy as np

from .base import Transform, get_frames

__all__ = ["FormatShape"]

_LAYOUTS = ("NCTHW", "NSCHW")


class FormatShape(Transform):
    """Reshape ``imgs`` into views for the recognizers.

    ``imgs`` holds N = num_crops * num_clips * clip_len frames, crop-major, then clip-major, then
    time. ``'NCTHW'`` (I3D, 3D-ResNet) gives (V, C, T, H, W) with V = num_crops * num_clips and
    T = clip_len. ``'NSCHW'`` (TSN) gives (V, S, C * clip_len, H, W) with V = num_crops,
    S = num_clips (segments) and each segment's frames stacked into channels in time order
    (flow: x1, y1, x2, y2, ...).

    Reads ``imgs`` (N, H, W, C), ``num_crops`` (default 1), ``num_clips``, ``clip_len``.
    Writes ``imgs`` float32 C-contiguous in the chosen layout, ``num_views`` = V.
    """

    def __init__(self, layout: str):
        if layout not in _LAYOUTS:
            raise ValueError(f"FormatShape: layout must be one of {_LAYOUTS}, got {layout!r}")
        self.layout = layout

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "FormatShape")
        num_crops = int(results.get("num_crops", 1))
        num_clips, clip_len = int(results["num_clips"]), int(results["clip_len"])
        num_frames, height, width, channels = imgs.shape
        if num_frames != num_crops * num_clips * clip_len:
            raise ValueError(f"FormatShape: imgs has {num_frames} frames but num_crops x num_clips x "
                             f"clip_len = {num_crops} x {num_clips} x {clip_len}; a transform changed "
                             "the frame count without updating these keys")
        frames = imgs.reshape(num_crops, num_clips, clip_len, height, width, channels)
        if self.layout == "NCTHW":
            views = frames.reshape(num_crops * num_clips, clip_len, height, width, channels)
            output = views.transpose(0, 4, 1, 2, 3)
        else:
            output = frames.transpose(0, 1, 2, 5, 3, 4).reshape(
                num_crops, num_clips, clip_len * channels, height, width)
        results["imgs"] = np.ascontiguousarray(output, dtype=np.float32)
        results["num_views"] = int(output.shape[0])
        return results
