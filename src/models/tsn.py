"""Temporal Segment Networks: TSN (ResNet-50) and PP-TSN (ResNet50-vd).

Input (B, S, C, H, W): S segments (or S segments x test crops; the count is read from the input
shape, so any S works), C = 3 * new_length for RGB, 2 * new_length for flow (channels x1, y1, x2,
y2, ...). Every segment goes through the 2D backbone, features are globally average-pooled,
averaged over the segments ("average consensus"), passed through dropout and ``fc``:
logits (B, num_classes). Averaging before ``fc`` equals averaging per-segment scores (the
classifier is linear) and is how PaddleVideo's ppTSNHead computes it.

Parameter names: ``backbone.<ResNet2d names>`` and ``fc.weight`` / ``fc.bias``, so a torchvision
ResNet-50 state dict maps onto "tsn" with one rename (``backbone.`` dropped; see
``TORCH_KEY_RENAMES``). mmaction2 TSN checkpoints (``{"meta": ..., "state_dict": ...}`` with
``backbone.conv1.conv.weight``, ``backbone.layer1.0.conv1.bn.*``, ``backbone.layer1.0.downsample.conv.*``,
``cls_head.fc_cls.*``: mmcv ConvModules around each conv + BN) are renamed to that layout first
(:func:`mmaction2_to_torchvision`), RGB and flow alike (a flow TSN's stem already takes 10 channels).
PaddleVideo PP-TSN weights are converted by ``src.tools.convert.pdparams2ckpt``.

Partial BN (``partial_bn=True``, TSN paper section 3.2): every BatchNorm but the first one of the
backbone normalises with its moving statistics in training too, never updates them, and its
gamma/beta are not trainable (``requires_grad=False``, so ``trainable_params()`` leaves them out).
The first BN keeps adapting, which matters for flow input whose statistics differ from ImageNet.
"""

import re

import numpy as np
from mindspore import nn
from mindspore.common.initializer import Normal

from src.options import count, integer, option, parse_bool

from .blocks import SeededDropout
from .registry import in_channels_for, register_model
from .resnet2d import ResNet2d
from .weights import ms_to_torch_name, unwrap_torch_state_dict

__all__ = ["TSN", "tsn", "pptsn", "inflate_conv1_for_flow", "freeze_bn_except_first", "mmaction2_to_torchvision"]

# mmaction2's ResNet wraps each conv + BN in a ConvModule (``.conv`` / ``.bn``) and its TSNHead
# names the classifier ``fc_cls``; these rules give torchvision's names (mmaction2 maps them the
# same way when it loads torchvision weights).
MMACTION2_KEY_RENAMES = [
    (r"^backbone\.", ""),
    (r"^(layer\d+\.\d+\.downsample)\.conv\.", r"\1.0."),
    (r"^(layer\d+\.\d+\.downsample)\.bn\.", r"\1.1."),
    (r"^((?:layer\d+\.\d+\.)?)conv(\d)\.conv\.", r"\1conv\2."),
    (r"^((?:layer\d+\.\d+\.)?)conv(\d)\.bn\.", r"\1bn\2."),
    (r"^cls_head\.fc_cls\.", "fc."),
]
MMACTION2_STEM_KEY = "backbone.conv1.conv.weight"


def mmaction2_to_torchvision(tensors: dict) -> dict:
    """An mmaction2 TSN state dict under torchvision ResNet names (other state dicts unchanged).

    Keys no rule knows are kept as they are, so the strict conversion reports them.
    """
    if MMACTION2_STEM_KEY not in tensors:
        return dict(tensors)
    renamed = {}
    for key, value in tensors.items():
        for pattern, replacement in MMACTION2_KEY_RENAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def inflate_conv1_for_flow(rgb_weight, in_channels: int) -> np.ndarray:
    """First-conv weights for ``in_channels`` inputs from RGB ones (out, 3, kh, kw).

    Cross-modality initialisation of the TSN paper: the RGB filters averaged over their input
    channels, replicated ``in_channels`` times.
    """
    rgb_weight = np.asarray(rgb_weight, dtype=np.float32)
    if rgb_weight.ndim != 4:
        raise ValueError(f"expected a conv weight (out, in, kh, kw), got shape {rgb_weight.shape}")
    mean_filter = rgb_weight.mean(axis=1, keepdims=True)
    return np.repeat(mean_filter, in_channels, axis=1)


def freeze_bn_except_first(cell: nn.Cell) -> int:
    """Partial BN: freeze every BatchNorm under ``cell`` but the first; returns how many were frozen."""
    frozen = 0
    seen_first = False
    for _, sub_cell in cell.cells_and_names():
        if not isinstance(sub_cell, nn.BatchNorm2d):
            continue
        if not seen_first:
            seen_first = True
            continue
        sub_cell.use_batch_statistics = False
        sub_cell.gamma.requires_grad = False
        sub_cell.beta.requires_grad = False
        frozen += 1
    return frozen


class TSN(nn.Cell):
    """Segment-averaging 2D recognizer; see the module docstring."""

    TORCH_KEY_RENAMES = [(r"^backbone\.", "")]

    def __init__(self, num_classes: int = 400, in_channels: int = 3, num_segments: int = 3,
                 depth: int = 50, vd: bool = False, dropout_keep_prob: float = 0.6,
                 partial_bn: bool = False):
        super().__init__()
        if not 0.0 < dropout_keep_prob <= 1.0:
            raise ValueError(f"dropout_keep_prob must be in (0, 1], got {dropout_keep_prob}")
        self.in_channels = in_channels
        # Segments used in training; inference derives the count from the input shape.
        self.num_segments = num_segments
        self.backbone = ResNet2d(depth, in_channels, deep_stem=vd, avg_down=vd)
        self.dropout = SeededDropout(p=1.0 - dropout_keep_prob)
        self.fc = self._new_classifier(num_classes)
        self.partial_bn = partial_bn
        if partial_bn:
            freeze_bn_except_first(self.backbone)

    def _new_classifier(self, num_classes: int) -> nn.Dense:
        return nn.Dense(self.backbone.num_features, num_classes, weight_init=Normal(0.01), bias_init="zeros")

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` with a freshly initialised one of ``num_classes`` (fine-tuning)."""
        self.fc = self._new_classifier(num_classes)

    @property
    def num_features(self) -> int:
        return self.backbone.num_features

    def forward_features(self, x):
        """Video features (B, num_features): the backbone's pooled features averaged over segments."""
        batch, segments, channels, height, width = x.shape
        features = self.backbone.forward_features(x.reshape(batch * segments, channels, height, width))
        return features.reshape(batch, segments, -1).mean(axis=1)

    def construct(self, x):
        if x.ndim != 5:
            raise ValueError("TSN expects input (batch, segments, channels, height, width), got "
                             + str(x.ndim) + " dimensions")
        channels = x.shape[2]
        if channels != self.in_channels:
            raise ValueError("TSN was built for " + str(self.in_channels) + " input channels per segment "
                             "but got " + str(channels) + " (RGB: 3 * new_length, flow: 2 * new_length; "
                             "check mode/new_length of the data against the model)")
        features = self.forward_features(x)
        features = self.dropout(features)
        return self.fc(features)

    def adapt_torch_state_dict(self, state_dict, load_fc: bool = False) -> dict:
        """A PyTorch-layout backbone state dict made to fit this network, before strict conversion.

        * an mmaction2 TSN checkpoint is renamed to torchvision's layout (:func:`mmaction2_to_torchvision`);
        * a 3-channel stem filter is inflated (:func:`inflate_conv1_for_flow`) when the network
          takes another channel count (flow, or several RGB frames per segment);
        * ``load_fc=False`` (the usual case: ImageNet's classes are not the target classes) keeps
          this network's initial classifier: its values replace any ``fc.*`` of the file;
          ``load_fc=True`` takes ``fc`` from the file, which must then have the same class count.
        Other keys are left alone, so unknown or missing ones still surface in the strict report.
        """
        renames = self.TORCH_KEY_RENAMES
        adapted = mmaction2_to_torchvision(unwrap_torch_state_dict(state_dict))
        stem = next(param for param in self.backbone.get_parameters() if len(param.shape) == 4)
        stem_key = ms_to_torch_name(stem.name, renames)
        stem_weight = adapted.get(stem_key)
        if stem_weight is not None and tuple(stem_weight.shape)[1] == 3 and self.in_channels != 3:
            adapted[stem_key] = inflate_conv1_for_flow(stem_weight, self.in_channels)
        if not load_fc:
            for param in self.fc.get_parameters():
                adapted[ms_to_torch_name(param.name, renames)] = param.asnumpy()
        return adapted


# The configuration keys of tsn and pptsn (num_segments is shared: the data pipeline reads it too).
# model_depth is also resnet3d's, declared alike (src/models/resnet3d.py).
CONFIG_OPTIONS = [
    option("model_depth", 50, count(integer), "ResNet backbone depth: 18, 34, 50, 101 or 152"),
    option("partial_bn", False, parse_bool, "TSN: freeze every BatchNorm but the first"),
]


def _config_kwargs(cfg) -> dict:
    return {"in_channels": in_channels_for(cfg), "num_segments": cfg.num_segments,
            "depth": cfg.model_depth, "dropout_keep_prob": cfg.dropout_keep_prob,
            "partial_bn": cfg.partial_bn}


@register_model("tsn", config_adapter=_config_kwargs, layout="NSCHW", options=CONFIG_OPTIONS)
def tsn(num_classes: int = 400, **kwargs) -> TSN:
    """TSN with a torchvision-layout ResNet backbone (dropout keep 0.6 by default, as mmaction2)."""
    return TSN(num_classes=num_classes, vd=False, **kwargs)


@register_model("pptsn", config_adapter=_config_kwargs, layout="NSCHW", options=CONFIG_OPTIONS)
def pptsn(num_classes: int = 400, **kwargs) -> TSN:
    """PP-TSN: TSN on ResNet50-vd with dropout 0.4 (keep 0.6)."""
    return TSN(num_classes=num_classes, vd=True, **kwargs)
