"""Precise BN: population statistics of the current weights replace the lagging moving averages."""
import mindspore as ms
import mindspore.nn as nn
import numpy as np

from src.engine.precise_bn import adapting_batch_norms, recompute_bn_statistics
from src.engine.trainer import train
from src.models.tsn import freeze_bn_except_first


class ConvBN(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1, has_bias=False, weight_init="ones")
        self.bn = nn.BatchNorm2d(3, momentum=0.9)
        self.bn3d = nn.BatchNorm3d(3, momentum=0.5)

    def construct(self, x):
        y = self.bn(self.conv(x))
        return self.bn3d(y.expand_dims(2))


def test_statistics_are_the_population_ones_of_the_batches():
    rng = np.random.default_rng(0)
    batches = [(ms.Tensor((rng.standard_normal((4, 2, 5, 5)) * (k + 1) + k).astype(np.float32)),)
               for k in range(3)]
    net = ConvBN()
    net.set_train(False)
    assert len(adapting_batch_norms(net)) == 2
    assert recompute_bn_statistics(net, iter(batches), num_batches=2) == 2
    assert not net.training
    # conv with unit weights: each output channel is the sum of the two input channels
    features = np.concatenate([b[0].asnumpy().sum(axis=1) for b in batches[:2]])
    expected_mean = features.mean()
    batch_vars = [b[0].asnumpy().sum(axis=1).var(ddof=0) for b in batches[:2]]
    batch_means = [b[0].asnumpy().sum(axis=1).mean() for b in batches[:2]]
    assert np.allclose(net.bn.moving_mean.asnumpy(), expected_mean, rtol=1e-4)
    # MindSpore's moving variance takes the unbiased batch variance (n = 100 per channel)
    unbiased = np.mean(batch_vars) * 100 / 99 + np.var(batch_means)
    assert np.allclose(net.bn.moving_variance.asnumpy(), unbiased, rtol=1e-3)
    # the BatchNorm after it sees normalised features: mean ~0, variance ~1
    assert np.allclose(net.bn3d.bn2d.moving_mean.asnumpy(), 0.0, atol=1e-3)


def test_nothing_to_do_leaves_statistics_alone():
    net = ConvBN()
    before = net.bn.moving_mean.asnumpy().copy()
    assert recompute_bn_statistics(net, iter([]), num_batches=4) == 0
    assert np.array_equal(net.bn.moving_mean.asnumpy(), before)
    assert recompute_bn_statistics(net, iter([]), num_batches=0) == 0


def test_frozen_batch_norms_are_skipped():
    net = nn.SequentialCell([nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)])
    assert freeze_bn_except_first(net) == 1
    assert adapting_batch_norms(net) == [net[1]]


def test_training_with_precise_bn_logs_it(tiny_cfg):
    tiny_cfg.update(num_epochs=1, precise_bn_batches=2)
    train(tiny_cfg)
    with open(f"{tiny_cfg.save_dir}/train.log", encoding="utf-8") as handle:
        assert "precise BN: statistics of 1 BatchNorms from 2 batches" in handle.read()


def test_eval_interval_evaluates_every_nth_and_the_last_epoch(tiny_cfg):
    tiny_cfg.update(num_epochs=3, eval_interval=2, precise_bn_batches=1)
    history = train(tiny_cfg)["history"]
    assert [h["epoch"] for h in history if h.get("metric") is not None] == [2, 3]
    with open(f"{tiny_cfg.save_dir}/train.log", encoding="utf-8") as handle:
        assert handle.read().count("precise BN: statistics") == 2  # only before the evaluations
