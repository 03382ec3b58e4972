"""The transform pipelines of every recognizer, built from the shared configuration.

A pipeline is a temporal sampler (which frames) plus a spatial ``Compose`` (what to do with them).
Clip models (I3D, 3D-ResNet) take ``NCTHW`` clips; segment models (TSN, PP-TSN) take ``NSCHW``
segment stacks. Test-time views (clips x crops) are produced here and averaged in one place,
``src.tasks.recognition.evaluation``.
"""
from src.models.registry import model_layout
from src.transforms import (CenterCrop, Compose, FormatShape, FrameDifference, MultiScaleCrop, Normalize,
                            RandomCrop, RandomHorizontalFlip, Resize, SegmentSampler, TemporalRandomCrop,
                            TenCrop, ThreeCrop, UniformClipSampler)

__all__ = ["build_pipeline", "format_and_normalize", "frames_needed", "segments_for"]

_TEST_CROPS = {"center": CenterCrop, "three": ThreeCrop, "ten": TenCrop}


def _train_crop(cfg):
    if cfg.train_crop == "multiscale":
        return MultiScaleCrop(cfg.spatial_size)
    if cfg.train_crop == "center":
        return CenterCrop(cfg.spatial_size)
    return RandomCrop(cfg.spatial_size)


def normalization(cfg, modality: str) -> Normalize:
    """The configured pixel normalisation of ``modality`` frames."""
    if cfg.normalize == "minus_one_to_one":
        return Normalize("minus_one_to_one")
    mean, std = cfg.mean, cfg.std
    if modality == "flow" and len(mean) == 3:  # RGB statistics do not apply to flow: centre it
        mean, std = [0.5], [float(sum(std) / len(std))]
    return Normalize("meanstd", mean=mean, std=std)


def segments_for(cfg, split: str) -> int:
    """TSN segments per video: ``num_segments`` in training, ``test_num_segments`` (when set) in testing."""
    if split != "train" and cfg.test_num_segments:
        return cfg.test_num_segments
    return cfg.num_segments


def _frames_per_input(modality: str) -> int:
    """Frames sampled beyond the network's time steps: RGB difference takes n + 1 frames for n inputs."""
    return 1 if modality == "rgbdiff" else 0


def build_pipeline(cfg, split: str, modality: str):
    """``(temporal_sampler, spatial_pipeline)`` for ``split`` ('train' | 'val') and ``modality``
    ('rgb' | 'rgbdiff' | 'flow')."""
    train = split == "train"
    layout = model_layout(cfg.model)
    extra = _frames_per_input(modality)
    if layout == "NSCHW":
        temporal = SegmentSampler(segments_for(cfg, split), cfg.new_length + extra, test_mode=not train,
                                  frame_interval=cfg.frame_interval)
    elif train:
        temporal = TemporalRandomCrop(cfg.train_sample_duration + extra, cfg.frame_interval)
    else:
        temporal = UniformClipSampler(cfg.test_sample_duration + extra, cfg.num_val_samples, cfg.frame_interval)
    steps = [Resize(cfg.resize_short)]
    if train:
        steps.append(_train_crop(cfg))
        if cfg.flip:
            steps.append(RandomHorizontalFlip())
    else:
        crop_class = _TEST_CROPS[cfg.test_crop]
        steps.append(crop_class(cfg.spatial_size))
    return temporal, Compose(steps + format_and_normalize(cfg, modality, layout))


def format_and_normalize(cfg, modality: str, layout: str) -> list:
    """The last steps of every pipeline: uint8 frames are put in the network layout, then normalised
    (reordering bytes, not floats); RGB differences are taken of normalised frames, before formatting."""
    if modality == "rgbdiff":
        return [normalization(cfg, modality), FrameDifference(), FormatShape(layout)]
    return [FormatShape(layout), normalization(cfg, modality)]


def frames_needed(cfg, split: str) -> int:
    """Frames a video of stream ``cfg.mode`` needs to fill one clip without loop padding."""
    extra = _frames_per_input(cfg.mode)
    if model_layout(cfg.model) == "NSCHW":
        return segments_for(cfg, split) * ((cfg.new_length + extra - 1) * cfg.frame_interval + 1)
    duration = (cfg.train_sample_duration if split == "train" else cfg.test_sample_duration) + extra
    return (duration - 1) * cfg.frame_interval + 1
