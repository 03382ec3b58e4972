"""Turn the frame stack (N, H, W, C) into the network input layout of one sample."""
import numpy as np

from .base import Transform, get_frames

__all__ = ["FrameDifference", "FormatShape"]

_LAYOUTS = ("NCTHW", "NSCHW")


class FrameDifference(Transform):
    """The TSN paper's RGB difference: each clip of ``clip_len`` frames becomes the ``clip_len - 1``
    differences of consecutive frames (frame t+1 minus frame t). What stays put (the background, the
    look of a still object) cancels and what moves remains, so a 2D network sees motion without
    optical flow. Samplers therefore draw one frame more than the differences the network takes.

    Reads ``imgs`` (N, H, W, C) float, N = num_crops * num_clips * clip_len (as :class:`FormatShape`),
    ``clip_len`` >= 2. Writes ``imgs`` (num_crops * num_clips * (clip_len - 1), H, W, C) float32 and
    ``clip_len`` - 1.
    """

    def __call__(self, results: dict) -> dict:
        imgs = get_frames(results, "FrameDifference")
        clip_len = int(results["clip_len"])
        if clip_len < 2:
            raise ValueError(f"FrameDifference: clips need at least 2 frames to differ, got clip_len {clip_len}")
        if imgs.shape[0] % clip_len:
            raise ValueError(f"FrameDifference: imgs has {imgs.shape[0]} frames, not a multiple of clip_len "
                             f"{clip_len}")
        clips = imgs.astype(np.float32, copy=False).reshape(-1, clip_len, *imgs.shape[1:])
        differences = clips[:, 1:] - clips[:, :-1]
        results["imgs"] = differences.reshape(-1, *imgs.shape[1:])
        results["clip_len"] = clip_len - 1
        return results


class FormatShape(Transform):
    """Reshape ``imgs`` into views for the recognizers.

    ``imgs`` holds N = num_crops * num_clips * clip_len frames, crop-major, then clip-major, then
    time. ``'NCTHW'`` (I3D, 3D-ResNet) gives (V, C, T, H, W) with V = num_crops * num_clips and
    T = clip_len. ``'NSCHW'`` (TSN) gives (V, S, C * clip_len, H, W) with V = num_crops,
    S = num_clips (segments) and each segment's frames stacked into channels in time order
    (flow: x1, y1, x2, y2, ...).

    Reads ``imgs`` (N, H, W, C), ``num_crops`` (default 1), ``num_clips``, ``clip_len``.
    Writes ``imgs`` C-contiguous in the chosen layout (uint8 stays uint8, for :class:`Normalize` after
    it; any other type becomes float32), ``num_views`` = V and ``layout``.
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
        results["imgs"] = np.ascontiguousarray(output, dtype=None if imgs.dtype == np.uint8 else np.float32)
        results["num_views"] = int(output.shape[0])
        results["layout"] = self.layout
        return results
