"""BatchNorm folding for inference: ``conv -> BN`` becomes one convolution with a bias.

In eval mode a BatchNorm is the per-channel affine map ``y = gamma * (x - mean) / sqrt(var + eps) +
beta``; applied right after a convolution it folds into that convolution's weights and bias::

    scale = gamma / sqrt(var + eps)
    W' = W * scale (per output channel)        b' = (b - mean) * scale + beta

which leaves exported MINDIR/ONNX/AIR graphs one operator fewer per BatchNorm, at float32 rounding
cost: runtimes that fuse a convolution's bias skip a pass over every activation map. (MindSpore's
CPU backend adds the bias in a kernel of its own, about as costly as the BatchNorm it replaces.)

Which convolution feeds which BatchNorm is read from the zoo's naming convention (every model of
``src.models`` follows it):

* siblings ``bnK`` and ``convK`` (``bn1``/``conv1`` in the ResNet blocks and stems; a ``convK``
  that is a ``SequentialCell``, like the "vd" deep stem, feeds ``bnK`` from its last convolution);
* siblings ``bn`` and ``conv3d`` (I3D's ``Unit3D``);
* inside a ``SequentialCell``, a BatchNorm right after a convolution (shortcuts, deep stems).

A BatchNorm without such a convolution is left as it is. Folding changes the network for good:
fold a network built for inference (``load_network``), never one that trains or whose checkpoint
is saved afterwards.
"""
from typing import Iterator, Optional, Tuple

import numpy as np
import mindspore as ms
from mindspore import nn

__all__ = ["fold_batchnorms"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _norm_params(norm: nn.Cell) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(gamma, beta, moving mean, moving variance, eps) of a BatchNorm of any rank."""
    inner = norm.bn2d if isinstance(norm, nn.BatchNorm3d) else norm
    return (inner.gamma.asnumpy(), inner.beta.asnumpy(), inner.moving_mean.asnumpy(),
            inner.moving_variance.asnumpy(), float(inner.eps))


def _fold(conv: nn.Cell, norm: nn.Cell, conv_name: str) -> None:
    """Fold ``norm`` (eval statistics) into ``conv``'s weight and bias."""
    gamma, beta, mean, variance, eps = _norm_params(norm)
    scale = gamma / np.sqrt(variance + eps)
    weight = conv.weight.asnumpy()
    conv.weight.set_data(ms.Tensor(weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1)), conv.weight.dtype))
    bias = conv.bias.asnumpy() if conv.has_bias else np.zeros_like(mean)
    folded_bias = ms.Tensor(((bias - mean) * scale + beta).astype(np.float32))
    if conv.has_bias:
        conv.bias.set_data(folded_bias)
    else:
        conv.bias = ms.Parameter(folded_bias, name=f"{conv_name}.bias")
        conv.has_bias = True


def _conv_norm_pairs(cell: nn.Cell, prefix: str) -> Iterator[Tuple[nn.Cell, str, nn.Cell, str]]:
    """``(conv, conv name, norm, norm key)`` of the direct children of ``cell`` that form a pair."""
    children = dict(cell.name_cells())
    if isinstance(cell, nn.SequentialCell):
        items = list(children.items())
        for (conv_key, conv), (norm_key, norm) in zip(items, items[1:]):
            if isinstance(conv, _CONVS) and isinstance(norm, _NORMS):
                yield conv, f"{prefix}{conv_key}", norm, norm_key
        return
    for norm_key, norm in children.items():
        if not isinstance(norm, _NORMS) or not norm_key.startswith("bn"):
            continue
        conv_key = "conv3d" if norm_key == "bn" else "conv" + norm_key[2:]
        conv: Optional[nn.Cell] = children.get(conv_key)
        if isinstance(conv, nn.SequentialCell) and len(conv) and isinstance(conv[-1], _CONVS):
            conv, conv_key = conv[-1], f"{conv_key}.{len(conv) - 1}"  # a deep stem: its last conv
        if isinstance(conv, _CONVS):
            yield conv, f"{prefix}{conv_key}", norm, norm_key


def fold_batchnorms(net: nn.Cell) -> int:
    """Fold every ``conv -> BatchNorm`` pair of ``net`` (see the module docstring) and replace the
    BatchNorm by an identity; puts ``net`` in eval mode and returns how many were folded."""
    net.set_train(False)
    pairs = []
    for name, cell in net.cells_and_names():
        prefix = f"{name}." if name else ""
        pairs.extend((cell,) + pair for pair in _conv_norm_pairs(cell, prefix))
    for parent, conv, conv_name, norm, norm_key in pairs:
        _fold(conv, norm, conv_name)
        if isinstance(parent, nn.SequentialCell):
            parent[int(norm_key)] = nn.Identity()
        else:
            setattr(parent, norm_key, nn.Identity())
    return len(pairs)
