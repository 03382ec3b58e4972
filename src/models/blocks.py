"""Building blocks shared by the 2D (TSN) and 3D (3D-ResNet) ResNets."""
from mindspore import nn

__all__ = ["Bottleneck"]


class Bottleneck(nn.Cell):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand (x4), residual connection.

    ``conv(in_planes, out_planes, kernel_size, stride)`` and ``norm(channels)`` build the layers, so
    one block serves 2D and 3D networks with the same parameter names (conv1..3, bn1..3, downsample).
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride, downsample, conv, norm):
        super().__init__()
        self.conv1 = conv(in_planes, planes, 1, 1)
        self.bn1 = norm(planes)
        self.conv2 = conv(planes, planes, 3, stride)
        self.bn2 = norm(planes)
        self.conv3 = conv(planes, planes * self.expansion, 1, 1)
        self.bn3 = norm(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def construct(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)
