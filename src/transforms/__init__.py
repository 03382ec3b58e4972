"""Video transforms over a per-sample ``results`` dict (mmaction2 style).

Temporal samplers choose ``frame_inds``; the data layer loads those frames into ``imgs``
(N, H, W, C); spatial transforms crop, flip and normalise them; :class:`FormatShape` produces the
network layout. Pipelines are assembled by the data layer with :class:`Compose`. Batch-level
label transforms (label smoothing, mixup) are in :mod:`.blending`.
"""
from .base import Compose, Transform
from .blending import SoftTargets
from .formatting import FormatShape, FrameDifference
from .spatial import (CenterCrop, MultiScaleCrop, Normalize, RandomCrop, RandomHorizontalFlip, Resize,
                      TenCrop, ThreeCrop, flip_horizontal)
from .temporal import (SegmentSampler, TemporalCenterCrop, TemporalRandomCrop, UniformClipSampler,
                       loop_pad)

__all__ = ["Transform", "Compose", "loop_pad", "TemporalRandomCrop", "TemporalCenterCrop",
           "UniformClipSampler", "SegmentSampler", "Resize", "RandomCrop", "CenterCrop",
           "MultiScaleCrop", "RandomHorizontalFlip", "ThreeCrop", "TenCrop", "Normalize",
           "flip_horizontal", "FrameDifference", "FormatShape", "SoftTargets"]
