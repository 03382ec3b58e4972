"""I3D: Inception-v1 inflated to 3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?").

The cell tree and parameter names follow the public PyTorch port (pytorch-i3d ``InceptionI3d``)
so that its checkpoints (``rgb_imagenet.pt``, ``flow_imagenet.pt``) convert one to one: convolution
weights keep their keys (``Mixed_3b.b1b.conv3d.weight``) and BatchNorm follows the generic rule of
:mod:`src.models.weights` (``Conv3d_1a_7x7.bn.bn2d.gamma`` <-> ``Conv3d_1a_7x7.bn.weight``).

Padding is TensorFlow's "SAME" as the port computes it from the input size:
``total = max(k - s, 0)`` when ``size % s == 0`` else ``max(k - size % s, 0)``, ``front = total // 2``
(:func:`same_pads`). It is always fused into the convolution / pooling operator (a separate pad
copies whole feature maps and is slow on CPU). Stride-1 convolutions pad the same for every input
size, so their pads are fixed at construction; the strided stem convolution and the pools use
MindSpore's ``pad_mode="same"``, which is this rule for every input size and is exported to ONNX
as ``SAME_UPPER``, the same rule again (explicit asymmetric pads are not: the ONNX exporter
copies them in MindSpore's order).

Input: float32 (B, C, T, H, W), C = 3 (rgb) or 2 (flow). Output: logits (B, num_classes), the
per-position logits averaged over time (and over space when the input is larger than 224 px).
"""
from mindspore import nn, ops

from src.options import fraction, number, option, optional

from .blocks import SeededDropout
from .registry import in_channels_for, register_model

__all__ = ["InceptionI3d", "Unit3D", "InceptionModule", "MaxPool3dSame", "same_pads", "i3d"]

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # PyTorch convention: share of the batch statistics in the running ones
LOGITS_IN_CHANNELS = 384 + 384 + 128 + 128
HEAD_POOL_KERNEL = (2, 7, 7)


def same_pads(spatial_shape, kernel, stride):
    """The port's SAME pads of a (T, H, W) input as (t_front, t_back, h_front, h_back, w_front, w_back)."""
    pads = ()
    for size, k, s in zip(spatial_shape, kernel, stride):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads = pads + (total // 2, total - total // 2)
    return pads


class Unit3D(nn.Cell):
    """Conv3d (SAME padding) -> optional BatchNorm3d -> optional ReLU; children ``conv3d`` and ``bn``."""

    def __init__(self, in_channels, out_channels, kernel_shape=(1, 1, 1), stride=(1, 1, 1),
                 use_batch_norm=True, use_bias=False, use_relu=True, bn_momentum=BN_MOMENTUM):
        super().__init__()
        self.kernel_shape = tuple(kernel_shape)
        self.stride = tuple(stride)
        if any(s != 1 for s in self.stride):
            conv_pad = {"pad_mode": "same"}  # pads computed per input size (see the module docstring)
        else:
            pads = same_pads((1, 1, 1), self.kernel_shape, self.stride)  # stride 1: any size pads alike
            conv_pad = {"pad_mode": "pad", "padding": pads} if any(pads) else {"pad_mode": "valid"}
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel_shape, stride=self.stride,
                                has_bias=use_bias, **conv_pad)
        self.use_batch_norm = use_batch_norm
        if use_batch_norm:
            self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=1.0 - bn_momentum)
        self.use_relu = use_relu
        self.relu = nn.ReLU()

    def construct(self, x):
        x = self.conv3d(x)
        if self.use_batch_norm:
            x = self.bn(x)
        if self.use_relu:
            x = self.relu(x)
        return x


class MaxPool3dSame(nn.Cell):
    """3D max-pool with the port's SAME padding (``pad_mode="same"``, see the module docstring).

    The port pads with zeros, MindSpore's pooling with -inf; every pool of the network reads a
    ReLU output (>= 0), where both give the same maximum.
    """

    def __init__(self, kernel_size, stride):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.pool = ops.MaxPool3D(self.kernel_size, self.stride, pad_mode="same")

    def construct(self, x):
        return self.pool(x)


class InceptionModule(nn.Cell):
    """Four branches concatenated on channels: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | max-pool -> 1x1.

    ``out_channels`` = (b0, b1a, b1b, b2a, b2b, b3b) as in the port's table.
    """

    def __init__(self, in_channels, out_channels, bn_momentum=BN_MOMENTUM):
        super().__init__()
        self.b0 = Unit3D(in_channels, out_channels[0], bn_momentum=bn_momentum)
        self.b1a = Unit3D(in_channels, out_channels[1], bn_momentum=bn_momentum)
        self.b1b = Unit3D(out_channels[1], out_channels[2], kernel_shape=(3, 3, 3), bn_momentum=bn_momentum)
        self.b2a = Unit3D(in_channels, out_channels[3], bn_momentum=bn_momentum)
        self.b2b = Unit3D(out_channels[3], out_channels[4], kernel_shape=(3, 3, 3), bn_momentum=bn_momentum)
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, out_channels[5], bn_momentum=bn_momentum)

    def construct(self, x):
        b0 = self.b0(x)
        b1 = self.b1b(self.b1a(x))
        b2 = self.b2b(self.b2a(x))
        b3 = self.b3b(self.b3a(x))
        return ops.concat((b0, b1, b2, b3), axis=1)


class InceptionI3d(nn.Cell):
    """Inception-v1 I3D with the port's unit names; see the module docstring for input/output."""

    def __init__(self, num_classes=400, in_channels=3, dropout_keep_prob=0.5, bn_momentum=BN_MOMENTUM):
        super().__init__()
        if not 0.0 < dropout_keep_prob <= 1.0:
            raise ValueError(f"dropout_keep_prob must be in (0, 1], got {dropout_keep_prob}")
        self.num_classes = num_classes
        self.num_features = LOGITS_IN_CHANNELS
        self.in_channels = in_channels
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), stride=(2, 2, 2), bn_momentum=bn_momentum)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, bn_momentum=bn_momentum)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), bn_momentum=bn_momentum)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, (64, 96, 128, 16, 32, 32), bn_momentum=bn_momentum)
        self.Mixed_3c = InceptionModule(256, (128, 128, 192, 32, 96, 64), bn_momentum=bn_momentum)
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(480, (192, 96, 208, 16, 48, 64), bn_momentum=bn_momentum)
        self.Mixed_4c = InceptionModule(512, (160, 112, 224, 24, 64, 64), bn_momentum=bn_momentum)
        self.Mixed_4d = InceptionModule(512, (128, 128, 256, 24, 64, 64), bn_momentum=bn_momentum)
        self.Mixed_4e = InceptionModule(512, (112, 144, 288, 32, 64, 64), bn_momentum=bn_momentum)
        self.Mixed_4f = InceptionModule(528, (256, 160, 320, 32, 128, 128), bn_momentum=bn_momentum)
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(832, (256, 160, 320, 32, 128, 128), bn_momentum=bn_momentum)
        self.Mixed_5c = InceptionModule(832, (384, 192, 384, 48, 128, 128), bn_momentum=bn_momentum)
        self.dropout = SeededDropout(p=1.0 - dropout_keep_prob)
        self.logits = self._new_logits(num_classes)

    @staticmethod
    def _new_logits(num_classes):
        return Unit3D(LOGITS_IN_CHANNELS, num_classes, use_batch_norm=False, use_bias=True, use_relu=False)

    def reset_classifier(self, num_classes):
        """Swap in a freshly initialised classifier with ``num_classes`` outputs (fine-tuning)."""
        self.num_classes = num_classes
        self.logits = self._new_logits(num_classes)

    def feature_map(self, x):
        """Mixed_5c output (B, 1024, T/8, H/32, W/32)."""
        x = self.Conv3d_1a_7x7(x)
        x = self.MaxPool3d_2a_3x3(x)
        x = self.Conv3d_2b_1x1(x)
        x = self.Conv3d_2c_3x3(x)
        x = self.MaxPool3d_3a_3x3(x)
        x = self.Mixed_3b(x)
        x = self.Mixed_3c(x)
        x = self.MaxPool3d_4a_3x3(x)
        x = self.Mixed_4b(x)
        x = self.Mixed_4c(x)
        x = self.Mixed_4d(x)
        x = self.Mixed_4e(x)
        x = self.Mixed_4f(x)
        x = self.MaxPool3d_5a_2x2(x)
        x = self.Mixed_5b(x)
        return self.Mixed_5c(x)

    def forward_features(self, x):
        """Clip features (B, num_features = 1024): Mixed_5c averaged over time and space."""
        return self.feature_map(x).mean(axis=(2, 3, 4))

    @staticmethod
    def head_pool(x):
        """The port's (2, 7, 7) stride-1 average pool, clamped to the map (it only fits 224 px
        inputs; smaller maps pool what they have).

        Written as a mean of shifted time slices and a 2D average pool because MindSpore's
        AvgPool3D has no ONNX converter; the result is the same average.
        """
        batch, channels, t, h, w = x.shape
        kernel_t, kernel_h, kernel_w = (min(HEAD_POOL_KERNEL[0], t), min(HEAD_POOL_KERNEL[1], h),
                                        min(HEAD_POOL_KERNEL[2], w))
        steps = t - kernel_t + 1
        summed = x[:, :, :steps]
        for shift in range(1, kernel_t):
            summed = summed + x[:, :, shift:shift + steps]
        pooled = ops.AvgPool((kernel_h, kernel_w), 1, pad_mode="VALID")(
            summed.reshape(batch, channels * steps, h, w) / kernel_t)
        return pooled.reshape(batch, channels, steps, h - kernel_h + 1, w - kernel_w + 1)

    def construct(self, x):
        x = self.head_pool(self.feature_map(x))
        x = self.logits(self.dropout(x))
        return ops.mean(x, axis=(2, 3, 4))


# The configuration keys of i3d.
CONFIG_OPTIONS = [
    option("bn_momentum", None, optional(fraction(number)),
           f"BatchNorm momentum, PyTorch convention (share of batch statistics); empty = I3D's {BN_MOMENTUM}"),
]


def _config_kwargs(cfg):
    return {"in_channels": in_channels_for(cfg), "dropout_keep_prob": cfg.dropout_keep_prob,
            "bn_momentum": BN_MOMENTUM if cfg.bn_momentum is None else cfg.bn_momentum}


@register_model("i3d", config_adapter=_config_kwargs, options=CONFIG_OPTIONS)
def i3d(num_classes=400, in_channels=3, dropout_keep_prob=0.5, bn_momentum=BN_MOMENTUM):
    """Build :class:`InceptionI3d` (``in_channels`` 3 = rgb, 2 = flow; ``bn_momentum`` in the
    PyTorch convention, 0.01 as the reference — training from scratch for a few hundred steps
    needs more, e.g. 0.1, for usable running statistics)."""
    return InceptionI3d(num_classes=num_classes, in_channels=in_channels, dropout_keep_prob=dropout_keep_prob,
                        bn_momentum=bn_momentum)
