"""3D ResNets for clip classification (Hara et al., "Can spatiotemporal 3D CNNs retrace the history
of 2D CNNs and ImageNet?").

The layout follows the public 3D-ResNets-PyTorch ``generate_model(depth)`` networks so their
checkpoints convert 1:1: parameter names are those of the PyTorch state dict once MindSpore's
naming is translated (``bn1.bn2d.gamma`` -> ``bn1.weight``; see ``src.models.weights``), e.g.
``conv1.weight``, ``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``,
``layer1.0.downsample.1.running_mean``, ``fc.weight``.

Input: float32 (B, C, T, H, W); output: logits (B, num_classes).

* stem: conv 7x7x7 (temporal size/stride configurable), stride (1, 2, 2), BN, ReLU, then a 3x3x3
  max-pool with stride 2 unless ``no_max_pool``;
* four stages of BasicBlocks (depths 10/18/34) or Bottlenecks (50/101/152/200, expansion 4); the
  stride-2 stages down-sample time as well as space;
* shortcut "A" is parameter-free (strided sub-sampling, zero channels appended), "B" is a 1x1x1
  conv + BN wherever the shape changes;
* global average pool, dropout (skipped when ``dropout_keep_prob`` is 1), ``fc``.
"""
from mindspore import nn, ops
from mindspore.common.initializer import HeNormal

from src.options import choice, count, integer, number, option, parse_bool, positive

from .blocks import BasicBlock, Bottleneck, SeededDropout, ZeroPaddedMaxPool
from .registry import register_model

__all__ = ["ResNet3d", "BasicBlock3d", "Bottleneck3d", "STAGE_BLOCKS", "resnet3d"]


class ZeroPaddedConv3d(nn.Conv3d):
    """A ``Conv3d`` with ``padding`` (time, height, width) zeros on both sides of each axis, put there
    by concatenation before an unpadded convolution: the same outputs as ``pad_mode="pad"``, and an
    ONNX export that keeps them. MindSpore 2.7 exports a Conv3d's explicit pads in its own order
    (front, back, top, bottom, left, right) where ONNX reads all the begins then all the ends, so
    only pads equal on the three axes survive, and ``ops.pad`` has no ONNX converter. The weight
    stays the cell's own (``conv1.weight``), so checkpoints and BatchNorm folding are unchanged."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size, stride, padding, **kwargs):
        super().__init__(in_planes, out_planes, kernel_size, stride=stride, pad_mode="valid", **kwargs)
        self.zero_padding = tuple(padding)

    def construct(self, x):
        for axis, pad in zip((2, 3, 4), self.zero_padding):
            if pad:
                zeros = ops.zeros(x.shape[:axis] + (pad,) + x.shape[axis + 1:], x.dtype)
                x = ops.concat((zeros, x, zeros), axis)
        return super().construct(x)


def conv3d(in_planes: int, out_planes: int, kernel_size, stride=1, padding=0) -> nn.Conv3d:
    """Bias-free 3D convolution with explicit padding and Kaiming (fan-out) initialisation."""
    if isinstance(padding, int):
        padding = (padding,) * 3
    init = HeNormal(mode="fan_out", nonlinearity="relu")
    if len(set(padding)) > 1:  # unequal pads (a stem of conv1_t_size other than 7): see ZeroPaddedConv3d
        return ZeroPaddedConv3d(in_planes, out_planes, kernel_size, stride, padding, has_bias=False, weight_init=init)
    # MindSpore takes (front, back, top, bottom, left, right).
    pads = tuple(p for p in padding for _ in range(2))
    return nn.Conv3d(in_planes, out_planes, kernel_size, stride=stride, pad_mode="pad", padding=pads,
                     has_bias=False, weight_init=init)


def _same_conv3d(in_planes: int, out_planes: int, kernel_size: int, stride=1) -> nn.Conv3d:
    return conv3d(in_planes, out_planes, kernel_size, stride, kernel_size // 2)


class BasicBlock3d(BasicBlock):
    """The 3D basic block (see :class:`src.models.blocks.BasicBlock`)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Cell = None):
        super().__init__(in_planes, planes, stride, downsample, _same_conv3d, nn.BatchNorm3d)


class Bottleneck3d(Bottleneck):
    """The 3D bottleneck (see :class:`src.models.blocks.Bottleneck`)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Cell = None):
        super().__init__(in_planes, planes, stride, downsample, _same_conv3d, nn.BatchNorm3d)


class ZeroPadShortcut(nn.Cell):
    """Shortcut type A: sub-sample by ``stride`` in T, H and W and append zero channels."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.stride = stride
        self.pad_channels = ops.Pad(((0, 0), (0, out_planes - in_planes), (0, 0), (0, 0), (0, 0)))

    def construct(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride, ::self.stride]
        return self.pad_channels(x)


# Blocks per stage for each depth: (block type, [n1, n2, n3, n4]).
STAGE_BLOCKS = {
    10: (BasicBlock3d, [1, 1, 1, 1]),
    18: (BasicBlock3d, [2, 2, 2, 2]),
    34: (BasicBlock3d, [3, 4, 6, 3]),
    50: (Bottleneck3d, [3, 4, 6, 3]),
    101: (Bottleneck3d, [3, 4, 23, 3]),
    152: (Bottleneck3d, [3, 8, 36, 3]),
    200: (Bottleneck3d, [3, 24, 36, 3]),
}


class ResNet3d(nn.Cell):
    """3D ResNet classifier; see the module docstring for the layout."""

    # Parameter names already equal the 3D-ResNets-PyTorch keys after the generic BN renaming.
    TORCH_KEY_RENAMES = []

    def __init__(self, num_classes: int = 400, model_depth: int = 50, in_channels: int = 3,
                 shortcut_type: str = "B", widen_factor: float = 1.0, no_max_pool: bool = False,
                 conv1_t_size: int = 7, conv1_t_stride: int = 1, dropout_keep_prob: float = 1.0):
        super().__init__()
        if model_depth not in STAGE_BLOCKS:
            raise ValueError(f"3D-ResNet depth must be one of {sorted(STAGE_BLOCKS)}, got {model_depth}")
        if shortcut_type not in ("A", "B"):
            raise ValueError(f"shortcut_type must be 'A' or 'B', got {shortcut_type!r}")
        if not 0.0 < dropout_keep_prob <= 1.0:
            raise ValueError(f"dropout_keep_prob must be in (0, 1], got {dropout_keep_prob}")
        block, blocks_per_stage = STAGE_BLOCKS[model_depth]
        widths = [int(width * widen_factor) for width in (64, 128, 256, 512)]
        self.in_channels = in_channels
        self.shortcut_type = shortcut_type

        self.conv1 = conv3d(in_channels, widths[0], (conv1_t_size, 7, 7), (conv1_t_stride, 2, 2),
                            (conv1_t_size // 2, 3, 3))
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU()
        # Reads ReLU outputs, so zero padding is exact (and exports to ONNX; see ZeroPaddedMaxPool).
        self.maxpool = None if no_max_pool else ZeroPaddedMaxPool(3, 2, 1, dims=3)
        self.in_planes = widths[0]
        self.layer1 = self._make_stage(block, widths[0], blocks_per_stage[0], 1)
        self.layer2 = self._make_stage(block, widths[1], blocks_per_stage[1], 2)
        self.layer3 = self._make_stage(block, widths[2], blocks_per_stage[2], 2)
        self.layer4 = self._make_stage(block, widths[3], blocks_per_stage[3], 2)
        self.dropout = SeededDropout(p=1.0 - dropout_keep_prob)
        self.num_features = widths[3] * block.expansion
        self.fc = nn.Dense(self.num_features, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` with a freshly initialised one of ``num_classes`` (fine-tuning)."""
        self.fc = nn.Dense(self.num_features, num_classes)

    def _make_stage(self, block, planes: int, num_blocks: int, stride: int) -> nn.SequentialCell:
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_planes != out_planes:
            if self.shortcut_type == "A":
                downsample = ZeroPadShortcut(self.in_planes, out_planes, stride)
            else:
                downsample = nn.SequentialCell([conv3d(self.in_planes, out_planes, 1, stride),
                                                nn.BatchNorm3d(out_planes)])
        blocks = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = out_planes
        blocks += [block(out_planes, planes) for _ in range(1, num_blocks)]
        return nn.SequentialCell(blocks)

    def forward_features(self, x):
        """Pooled clip features (B, num_features)."""
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(axis=(2, 3, 4))

    def construct(self, x):
        x = self.forward_features(x)
        x = self.dropout(x)
        return self.fc(x)


# The configuration keys of resnet3d. They are named as the builder's keywords, so the registry's
# default adapter passes them on (with in_channels and dropout_keep_prob). model_depth is shared with
# TSN (same type, range and default; src/models/tsn.py).
CONFIG_OPTIONS = [
    option("model_depth", 50, count(integer), "3D-ResNet depth: 10, 18, 34, 50, 101, 152 or 200"),
    option("shortcut_type", "B", choice("A", "B"), "3D-ResNet shortcut: A = parameter-free, B = 1x1x1 conv + BN"),
    option("widen_factor", 1.0, positive(number), "3D-ResNet width multiplier"),
    option("no_max_pool", False, parse_bool, "3D-ResNet: skip the stem max-pool"),
    option("conv1_t_size", 7, count(integer), "3D-ResNet: temporal kernel size of the stem convolution"),
    option("conv1_t_stride", 1, count(integer), "3D-ResNet: temporal stride of the stem convolution"),
]


@register_model("resnet3d", options=CONFIG_OPTIONS)
def resnet3d(num_classes: int = 400, **kwargs) -> ResNet3d:
    """3D-ResNet of ``model_depth`` (10/18/34/50/101/152/200); see :class:`ResNet3d` for options."""
    return ResNet3d(num_classes=num_classes, **kwargs)
