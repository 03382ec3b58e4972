"""PyTorch twins of the zoo's recognizers, written from the public architectures, for side-by-side
timing (``bench_recognizers.py``) and as independent references in the tests.

* :class:`TorchI3D`: the pytorch-i3d ``InceptionI3d`` layout (TF "SAME" padding as the port
  computes it, BatchNorm eps 1e-3);
* :class:`TorchResNet3d`: the 3D-ResNets-PyTorch layout (7x7x7 stem with temporal stride 1, stem
  max-pool, shortcut A or B), depths 10 / 18 / 34 / 50 / 101;
* :class:`TorchTSN`: torchvision's ResNet-18 / 34 / 50 run on every segment, features averaged over
  segments.

torch is a development dependency: this module is imported by benchmarks and tests only.
"""
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TorchI3D", "TorchResNet3d", "TorchTSN", "port_same_pad", "trainable_count"]


def trainable_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


# --- I3D ------------------------------------------------------------------------------------------

def port_same_pad(x, kernel, stride):
    """Zero padding as the port computes it: total = k - s if size % s == 0 else k - size % s."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class TorchUnit3D(nn.Module):
    def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), bn=True, bias=False, relu=True):
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None

    def forward(self, x):
        x = self.conv3d(port_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class TorchMaxPoolSame(nn.MaxPool3d):
    def forward(self, x):
        return super().forward(port_same_pad(x, self.kernel_size, self.stride))


class TorchInception(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.b0 = TorchUnit3D(cin, c[0])
        self.b1a = TorchUnit3D(cin, c[1])
        self.b1b = TorchUnit3D(c[1], c[2], (3, 3, 3))
        self.b2a = TorchUnit3D(cin, c[3])
        self.b2b = TorchUnit3D(c[3], c[4], (3, 3, 3))
        self.b3a = TorchMaxPoolSame((3, 3, 3), (1, 1, 1))
        self.b3b = TorchUnit3D(cin, c[5])

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class TorchI3D(nn.Module):
    def __init__(self, num_classes=400, in_channels=3):
        super().__init__()
        self.Conv3d_1a_7x7 = TorchUnit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = TorchMaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = TorchUnit3D(64, 64)
        self.Conv3d_2c_3x3 = TorchUnit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = TorchMaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = TorchInception(192, [64, 96, 128, 16, 32, 32])
        self.Mixed_3c = TorchInception(256, [128, 128, 192, 32, 96, 64])
        self.MaxPool3d_4a_3x3 = TorchMaxPoolSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = TorchInception(480, [192, 96, 208, 16, 48, 64])
        self.Mixed_4c = TorchInception(512, [160, 112, 224, 24, 64, 64])
        self.Mixed_4d = TorchInception(512, [128, 128, 256, 24, 64, 64])
        self.Mixed_4e = TorchInception(512, [112, 144, 288, 32, 64, 64])
        self.Mixed_4f = TorchInception(528, [256, 160, 320, 32, 128, 128])
        self.MaxPool3d_5a_2x2 = TorchMaxPoolSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = TorchInception(832, [256, 160, 320, 32, 128, 128])
        self.Mixed_5c = TorchInception(832, [384, 192, 384, 48, 128, 128])
        self.logits = TorchUnit3D(1024, num_classes, bn=False, bias=True, relu=False)

    def forward(self, x):
        for child in list(self.children())[:-1]:
            x = child(x)
        kernel = [min(k, size) for k, size in zip((2, 7, 7), x.shape[2:])]
        x = self.logits(F.avg_pool3d(x, kernel, stride=1))
        return x.squeeze(3).squeeze(3).mean(2)


# --- 3D-ResNet ------------------------------------------------------------------------------------

class TorchBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride, downsample, conv=nn.Conv3d, norm=nn.BatchNorm3d):
        super().__init__()
        self.conv1 = conv(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = conv(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride, downsample, conv=nn.Conv3d, norm=nn.BatchNorm3d):
        super().__init__()
        self.conv1 = conv(in_planes, planes, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = conv(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = norm(planes)
        self.conv3 = conv(planes, planes * 4, 1, bias=False)
        self.bn3 = norm(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchZeroPad(nn.Module):
    """Shortcut A: strided identity, zero channels appended."""

    def __init__(self, out_planes, stride):
        super().__init__()
        self.out_planes, self.stride = out_planes, stride

    def forward(self, x):
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        pad = torch.zeros(out.shape[0], self.out_planes - out.shape[1], *out.shape[2:])
        return torch.cat([out, pad], dim=1)


class TorchResNet3d(nn.Module):
    LAYOUT = {10: (TorchBasicBlock, [1, 1, 1, 1]), 18: (TorchBasicBlock, [2, 2, 2, 2]),
              34: (TorchBasicBlock, [3, 4, 6, 3]), 50: (TorchBottleneck, [3, 4, 6, 3]),
              101: (TorchBottleneck, [3, 4, 23, 3])}

    def __init__(self, depth=50, num_classes=400, in_channels=3, shortcut="B", conv1_t_size=7, conv1_t_stride=1):
        super().__init__()
        block, counts = self.LAYOUT[depth]
        self.conv1 = nn.Conv3d(in_channels, 64, (conv1_t_size, 7, 7), (conv1_t_stride, 2, 2),
                               (conv1_t_size // 2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.in_planes = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if index == 0 else 2
            out_planes = planes * block.expansion
            downsample = None
            if stride != 1 or self.in_planes != out_planes:
                downsample = (TorchZeroPad(out_planes, stride) if shortcut == "A" else nn.Sequential(
                    nn.Conv3d(self.in_planes, out_planes, 1, stride, bias=False), nn.BatchNorm3d(out_planes)))
            blocks = [block(self.in_planes, planes, stride, downsample)]
            blocks += [block(out_planes, planes, 1, None) for _ in range(1, count)]
            self.in_planes = out_planes
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3, 4)))


# --- TSN (torchvision ResNet per segment) ---------------------------------------------------------

class TorchTSN(nn.Module):
    LAYOUT = {18: (TorchBasicBlock, [2, 2, 2, 2]), 34: (TorchBasicBlock, [3, 4, 6, 3]),
              50: (TorchBottleneck, [3, 4, 6, 3])}

    def __init__(self, num_classes=400, in_channels=3, depth=50):
        super().__init__()
        block, counts = self.LAYOUT[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if index == 0 else 2
            out_planes = planes * block.expansion
            downsample = None
            if stride != 1 or in_planes != out_planes:
                downsample = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False),
                                           nn.BatchNorm2d(out_planes))
            blocks = [block(in_planes, planes, stride, downsample, nn.Conv2d, nn.BatchNorm2d)]
            blocks += [block(out_planes, planes, 1, None, nn.Conv2d, nn.BatchNorm2d) for _ in range(1, count)]
            in_planes = out_planes
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        batch, segments = x.shape[:2]
        x = x.flatten(0, 1)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)).reshape(batch, segments, -1).mean(dim=1))
