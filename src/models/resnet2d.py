"""2D ResNets used as per-frame backbones (TSN, PP-TSN).

Two variants share one class:

* ``ResNet2d(depth=50)``: the torchvision ResNet-50 (v1.5: the stride sits on the 3x3 conv); its
  parameter names equal torchvision's keys after MindSpore's BN renaming (``bn1.gamma`` ->
  ``bn1.weight``): ``conv1.weight``, ``layer1.0.conv2.weight``, ``layer2.0.downsample.0.weight``,
  ``layer2.0.downsample.1.running_var``, ``fc.weight``. Depths 18 and 34 are torchvision's
  ResNet-18/34 (basic blocks of two 3x3 convs, 512 features), 101 and 152 its deeper bottleneck nets.
* ``ResNet2d(depth=50, deep_stem=True, avg_down=True)``: ResNet50-vd ("bag of tricks" tweaks, as in
  PaddleVideo's ``ResNetTweaksTSN``): the 7x7 stem is three 3x3 convs (32, 32, 64 channels, the first
  with stride 2) and a stride-2 shortcut first averages 2x2 windows (stride 2, ceil mode, padding
  not counted) and then applies a stride-1 1x1 conv + BN. Names follow the timm ``resnet50d``
  layout: ``conv1.0`` / ``conv1.1`` (conv, BN), ``conv1.3`` / ``conv1.4``, ``conv1.6``, ``bn1``;
  shortcuts ``downsample.1`` (conv) / ``downsample.2`` (BN), ``downsample.0`` being the
  parameter-free pool (an identity where the stride is 1).

Input (N, C, H, W); ``forward_features`` returns globally average-pooled (N, 2048) features (512
for depths 18 and 34) and ``construct`` adds ``fc`` when the network was built with
``num_classes > 0``.
"""
from mindspore import nn, ops
from mindspore.common.initializer import HeNormal

from .blocks import BasicBlock, Bottleneck, ZeroPaddedMaxPool

__all__ = ["ResNet2d", "BasicBlock2d", "Bottleneck2d", "STAGE_BLOCKS_2D"]


def conv2d(in_planes: int, out_planes: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """Bias-free convolution with "same"-style symmetric padding and Kaiming (fan-out) init."""
    return nn.Conv2d(in_planes, out_planes, kernel_size, stride=stride, pad_mode="pad",
                     padding=(kernel_size - 1) // 2, has_bias=False,
                     weight_init=HeNormal(mode="fan_out", nonlinearity="relu"))


class CeilAvgPool2x2(nn.Cell):
    """2x2 average pool, stride 2, ceil mode, padding not counted (the "vd" shortcut's pool).

    An odd height or width gets its last row / column repeated, so the last window averages the
    values it has, as ``ceil_mode=True, count_include_pad=False`` does; a valid pool follows.
    Written this way because MindSpore's ceil-mode pool (AvgPool3D) has no ONNX converter.
    """

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(2, 2)

    def construct(self, x):
        if x.shape[2] % 2:
            x = ops.concat((x, x[:, :, -1:]), 2)
        if x.shape[3] % 2:
            x = ops.concat((x, x[:, :, :, -1:]), 3)
        return self.pool(x)


class BasicBlock2d(BasicBlock):
    """The 2D basic block (see :class:`src.models.blocks.BasicBlock`)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Cell = None):
        super().__init__(in_planes, planes, stride, downsample, conv2d, nn.BatchNorm2d)


class Bottleneck2d(Bottleneck):
    """The 2D bottleneck (see :class:`src.models.blocks.Bottleneck`)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Cell = None):
        super().__init__(in_planes, planes, stride, downsample, conv2d, nn.BatchNorm2d)


# Blocks per stage for each depth: (block type, [n1, n2, n3, n4]), as torchvision's resnet18 ... 152.
STAGE_BLOCKS_2D = {
    18: (BasicBlock2d, [2, 2, 2, 2]),
    34: (BasicBlock2d, [3, 4, 6, 3]),
    50: (Bottleneck2d, [3, 4, 6, 3]),
    101: (Bottleneck2d, [3, 4, 23, 3]),
    152: (Bottleneck2d, [3, 8, 36, 3]),
}


class ResNet2d(nn.Cell):
    """ResNet-18/34 (basic blocks) or 50/101/152 (bottlenecks); ``deep_stem`` + ``avg_down`` give
    the "vd" variant."""

    def __init__(self, depth: int = 50, in_channels: int = 3, deep_stem: bool = False,
                 avg_down: bool = False, num_classes: int = 0):
        super().__init__()
        if depth not in STAGE_BLOCKS_2D:
            raise ValueError(f"2D ResNet depth must be one of {sorted(STAGE_BLOCKS_2D)}, got {depth}")
        self.in_channels = in_channels
        self.avg_down = avg_down
        if deep_stem:
            self.conv1 = nn.SequentialCell([
                conv2d(in_channels, 32, 3, 2), nn.BatchNorm2d(32), nn.ReLU(),
                conv2d(32, 32, 3), nn.BatchNorm2d(32), nn.ReLU(),
                conv2d(32, 64, 3)])
        else:
            self.conv1 = conv2d(in_channels, 64, 7, 2)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = ZeroPaddedMaxPool(3, 2, 1, dims=2)  # reads ReLU outputs
        self.in_planes = 64
        self.block, blocks = STAGE_BLOCKS_2D[depth]
        self.layer1 = self._make_stage(64, blocks[0], 1)
        self.layer2 = self._make_stage(128, blocks[1], 2)
        self.layer3 = self._make_stage(256, blocks[2], 2)
        self.layer4 = self._make_stage(512, blocks[3], 2)
        self.num_features = 512 * self.block.expansion
        self.fc = nn.Dense(self.num_features, num_classes) if num_classes > 0 else None

    def _shortcut(self, out_planes: int, stride: int) -> nn.SequentialCell:
        if not self.avg_down:
            return nn.SequentialCell([conv2d(self.in_planes, out_planes, 1, stride),
                                      nn.BatchNorm2d(out_planes)])
        pool = CeilAvgPool2x2() if stride > 1 else nn.Identity()
        return nn.SequentialCell([pool, conv2d(self.in_planes, out_planes, 1), nn.BatchNorm2d(out_planes)])

    def _make_stage(self, planes: int, num_blocks: int, stride: int) -> nn.SequentialCell:
        out_planes = planes * self.block.expansion
        downsample = None
        if stride != 1 or self.in_planes != out_planes:
            downsample = self._shortcut(out_planes, stride)
        blocks = [self.block(self.in_planes, planes, stride, downsample)]
        self.in_planes = out_planes
        blocks += [self.block(out_planes, planes) for _ in range(1, num_blocks)]
        return nn.SequentialCell(blocks)

    def forward_features(self, x):
        """Globally average-pooled features (N, num_features)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(axis=(2, 3))

    def construct(self, x):
        x = self.forward_features(x)
        if self.fc is not None:
            x = self.fc(x)
        return x

