"""Precise BatchNorm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021; the
``PreciseBN`` of pyslowfast and mmaction2).

BatchNorm's moving statistics are an exponential average over the batches of the last few hundred
steps, each computed with the weights of its own step. While the weights still move fast (training
from scratch, small batches, a high learning rate) these averages lag behind the network, and
evaluation with them can be far worse than the network is: in the worst case every input gets
nearly the same logits. :func:`recompute_bn_statistics` replaces them, for the current weights, by
the population statistics of ``num_batches`` training batches.

A BatchNorm's batch mean/variance are read from its own update: the moving statistics are zeroed
before each forward pass, after which they hold ``w * batch statistic`` (``w`` = the share of the
batch in MindSpore's update, ``cell.momentum`` of ``_BatchNorm``). Frozen BatchNorms (partial BN,
``use_batch_statistics=False``) are left alone.
"""
from typing import Iterable, List

import numpy as np
from mindspore import Tensor, nn
from mindspore.nn.layer.normalization import _BatchNorm

__all__ = ["adapting_batch_norms", "recompute_bn_statistics"]


def adapting_batch_norms(net: nn.Cell) -> List[_BatchNorm]:
    """The BatchNorm cells of ``net`` whose moving statistics training updates."""
    return [cell for _, cell in net.cells_and_names()
            if isinstance(cell, _BatchNorm) and cell.use_batch_statistics is not False and cell.momentum > 0]


def _set_statistics(cell: _BatchNorm, mean: np.ndarray, variance: np.ndarray) -> None:
    cell.moving_mean.set_data(Tensor(mean.astype(np.float32)))
    cell.moving_variance.set_data(Tensor(variance.astype(np.float32)))


def recompute_bn_statistics(net: nn.Cell, batches: Iterable, num_batches: int) -> int:
    """Set the moving statistics of ``net``'s BatchNorms to the population statistics of up to
    ``num_batches`` of ``batches`` (each a tuple whose first item is the network input).

    The population variance is the mean batch variance plus the variance of the batch means.
    Returns the number of batches used; with none, the statistics are left unchanged.
    """
    norms = adapting_batch_norms(net)
    if not norms or num_batches <= 0:
        return 0
    saved = [(cell.moving_mean.asnumpy(), cell.moving_variance.asnumpy()) for cell in norms]
    sums = [[0.0, 0.0, 0.0] for _ in norms]  # batch means, squared batch means, batch variances
    was_training = net.training
    net.set_train(True)
    used = 0
    for batch in batches:
        if used == num_batches:
            break
        for cell, (mean, variance) in zip(norms, saved):
            _set_statistics(cell, np.zeros_like(mean), np.zeros_like(variance))
        net(batch[0])
        for cell, total in zip(norms, sums):
            mean = cell.moving_mean.asnumpy().astype(np.float64) / cell.momentum
            total[0] = total[0] + mean
            total[1] = total[1] + mean ** 2
            total[2] = total[2] + cell.moving_variance.asnumpy().astype(np.float64) / cell.momentum
        used += 1
    net.set_train(was_training)
    for cell, (mean_sum, square_sum, variance_sum), (old_mean, old_variance) in zip(norms, sums, saved):
        if used == 0:
            _set_statistics(cell, old_mean, old_variance)
            continue
        mean = mean_sum / used
        _set_statistics(cell, mean, variance_sum / used + np.maximum(square_sum / used - mean ** 2, 0.0))
    return used
