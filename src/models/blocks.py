"""Building blocks shared by the recognizers: the ResNet basic block and bottleneck (2D TSN,
3D-ResNet), a PyTorch-compatible padded max-pool and a dropout that repeats from run to run."""
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.seed import _get_graph_seed

__all__ = ["BasicBlock", "Bottleneck", "CountedUniform", "SeededDropout", "ZeroPaddedMaxPool", "RUN_STATE_SUFFIXES"]

# Parameters that hold how far a training has run, not learnt weights: checkpoints from elsewhere
# (converted weights, earlier versions) may lack them, and they then start from zero.
RUN_STATE_SUFFIXES = (".draws",)


class BasicBlock(nn.Cell):
    """Two 3x3 convolutions (the first carrying the stride) and a residual connection (ResNet-18/34).

    ``conv(in_planes, out_planes, kernel_size, stride)`` and ``norm(channels)`` build the layers, as
    for :class:`Bottleneck`; the parameter names are conv1..2, bn1..2, downsample.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride, downsample, conv, norm):
        super().__init__()
        self.conv1 = conv(in_planes, planes, 3, stride)
        self.bn1 = norm(planes)
        self.conv2 = conv(planes, planes, 3, 1)
        self.bn2 = norm(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def construct(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


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


class ZeroPaddedMaxPool(nn.Cell):
    """PyTorch's ``MaxPool{2,3}d(kernel, stride, padding)`` for NON-NEGATIVE inputs (ReLU outputs).

    Zeros are concatenated in front (``padding``) and behind (only as many as the last window
    reads) and a valid max-pool follows. On a non-negative input zero padding gives the same
    maximum as PyTorch's -inf padding. Why not MindSpore's padded pools: ``nn.MaxPool2d`` with
    ``pad_mode="pad"`` has no ONNX converter, and ``MaxPool3D``'s explicit pads are exported as
    ``SAME_UPPER``, which puts them behind instead of on both sides.
    """

    def __init__(self, kernel_size: int, stride: int, padding: int, dims: int):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"ZeroPaddedMaxPool pools 2 or 3 spatial dimensions, got {dims}")
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dims = dims
        self.pool = (ops.MaxPool(kernel_size, stride, pad_mode="VALID") if dims == 2
                     else ops.MaxPool3D(kernel_size, stride, pad_mode="valid"))

    def _pads(self, size: int):
        outputs = (size + 2 * self.padding - self.kernel_size) // self.stride + 1
        last_read = (outputs - 1) * self.stride - self.padding + self.kernel_size - 1
        return self.padding, max(last_read - (size - 1), 0)

    def construct(self, x):
        for axis in range(2, 2 + self.dims):
            front, back = self._pads(x.shape[axis])
            pieces = (x,)
            if front:
                shape = x.shape[:axis] + (front,) + x.shape[axis + 1:]
                pieces = (ops.zeros(shape, x.dtype),) + pieces
            if back:
                shape = x.shape[:axis] + (back,) + x.shape[axis + 1:]
                pieces = pieces + (ops.zeros(shape, x.dtype),)
            if len(pieces) > 1:
                x = ops.concat(pieces, axis)
        return self.pool(x)


class CountedUniform(nn.Cell):
    """Uniform draws in [0, 1) whose sequence continues exactly in a resumed training: draw ``n`` of a
    given shape is a hash of (seed, n, element position), and ``n`` is the parameter ``draws``, saved
    with the checkpoint. (``UniformReal``'s and ``nn.Dropout``'s kernels keep their generator state where
    no checkpoint reaches it.) ``construct(shape) -> float32 tensor``; each call is one draw."""

    def __init__(self, seed: int, seed2: int):
        super().__init__()
        self.seed = Tensor(_as_int32(seed * 0x9E3779B1 + seed2), ms.int32)
        self.draws = Parameter(Tensor(0, ms.int32), name="draws", requires_grad=False)
        self.right_shift = ops.RightShift()

    def _mix(self, h):
        """A 32-bit integer hash (two multiply-xorshift rounds) on int32 with wrapping products."""
        for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B)):
            h = ops.bitwise_xor(h, self._logical_shift(h, shift)) * Tensor(_as_int32(factor), ms.int32)
        return ops.bitwise_xor(h, self._logical_shift(h, 16))

    def _logical_shift(self, h, shift: int):
        return ops.bitwise_and(self.right_shift(h, Tensor(shift, ms.int32)), Tensor((1 << (32 - shift)) - 1, ms.int32))

    def construct(self, shape):
        draw = ops.assign_add(self.draws, Tensor(1, ms.int32))
        size = 1
        for dim in shape:
            size *= dim
        positions = ops.arange(0, size, dtype=ms.int32).reshape(shape)
        bits = self._mix(positions + self._mix(draw * Tensor(_as_int32(0x9E3779B9), ms.int32) + self.seed))
        return ops.bitwise_and(bits, Tensor(0x7FFFFF, ms.int32)).astype(ms.float32) * (1.0 / (1 << 23))


class SeededDropout(nn.Cell):
    """Inverted dropout: in training each element is zeroed with probability ``p`` and the others are
    scaled by ``1 / (1 - p)``; identity at inference. Input and output: any float tensor.

    Its masks repeat from run to run under one ``mindspore.set_seed`` and continue exactly in a
    resumed training (:class:`CountedUniform`). ``nn.Dropout`` on MindSpore 2.7's CPU does not even
    repeat: two processes with the same seed draw different masks from the seventh call on.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.keep_prob = 1.0 - p
        # seeds from mindspore.set_seed, numbered per random op (as nn.Dropout takes its own)
        self.uniform = CountedUniform(*_get_graph_seed(0, "uniform"))

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = (self.uniform(x.shape) < self.keep_prob).astype(x.dtype)
        return x * keep / self.keep_prob

    def extend_repr(self):
        return f"p={self.p}"


def _as_int32(value: int) -> int:
    """``value`` wrapped to a signed 32-bit integer."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
