"""Gradient clipping in the training step (src/engine/train_cells.py) and its wiring."""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
import pytest

from src.engine import builders
from src.engine.builders import build_optimizer, build_train_cell
from src.engine.train_cells import ClippedLossScaleTrainStep, ClippedTrainStep
from src.engine.trainer import train
from src.models.builder import build_network


def _step_update(step_class, mode, **kwargs):
    """Change of all parameters (weight and bias, flattened) by one SGD step with lr 1 - minus the
    (clipped) gradient - of a small dense network on a fixed batch."""
    ms.set_seed(3)
    net = nn.Dense(6, 3)
    before = np.concatenate([p.asnumpy().ravel() for p in net.trainable_params()])
    with_loss = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    step = step_class(with_loss, nn.SGD(net.trainable_params(), learning_rate=1.0), **kwargs)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32) * 5)
    y = ms.Tensor(np.array([0, 1, 2, 0], np.int32))
    previous = ms.get_context("mode")
    ms.set_context(mode=mode)
    try:
        step(x, y)
    finally:
        ms.set_context(mode=previous)
    return np.concatenate([p.asnumpy().ravel() for p in net.trainable_params()]) - before


@pytest.mark.parametrize("mode", [ms.GRAPH_MODE, ms.PYNATIVE_MODE], ids=["graph", "pynative"])
def test_clipped_step_scales_the_gradients_to_the_norm(mode):
    plain = _step_update(nn.TrainOneStepCell, mode)
    norm = np.linalg.norm(plain)
    assert norm > 0.5
    np.testing.assert_allclose(_step_update(ClippedTrainStep, mode, max_norm=0.5), plain * 0.5 / norm,
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(_step_update(ClippedTrainStep, mode, max_norm=norm * 2), plain, rtol=1e-5, atol=1e-7)


class _NoOverflowCheck(ClippedLossScaleTrainStep):
    """The loss-scaled step with its overflow check (an Ascend/GPU kernel) replaced by "no overflow",
    so its unscaling and clipping run on CPU."""

    def get_overflow_status(self, status, compute_output):
        return ops.zeros((), ms.bool_)

    def process_loss_scale(self, overflow):
        return overflow


@pytest.mark.parametrize("mode", [ms.GRAPH_MODE, ms.PYNATIVE_MODE], ids=["graph", "pynative"])
def test_loss_scaled_step_clips_the_unscaled_gradients(mode):
    plain = _step_update(nn.TrainOneStepCell, mode)
    norm = np.linalg.norm(plain)
    scale = ms.Tensor(1024.0, ms.float32)
    np.testing.assert_allclose(_step_update(_NoOverflowCheck, mode, scale_sense=scale, max_norm=0.5),
                               plain * 0.5 / norm, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(_step_update(_NoOverflowCheck, mode, scale_sense=scale, max_norm=norm * 2), plain,
                               rtol=1e-4, atol=1e-7)


def test_clip_grad_norm_picks_the_clipping_step_for_each_precision(tiny_cfg, monkeypatch):
    net = build_network(tiny_cfg)
    with_loss = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    assert not isinstance(build_train_cell(tiny_cfg, with_loss, build_optimizer(tiny_cfg, net, 2)), ClippedTrainStep)
    tiny_cfg.update(clip_grad_norm=40.0)
    step = build_train_cell(tiny_cfg, with_loss, build_optimizer(tiny_cfg, net, 2))
    assert isinstance(step, ClippedTrainStep) and step.max_norm == 40.0
    # Mixed precision (Ascend / GPU) gives a loss-scaled step; MindSpore builds one only off CPU, so
    # its builder is stood in for here, and the clipping step is built without running it (its
    # overflow check has no CPU kernel).
    update_cell = ms.amp.DynamicLossScaleManager().get_update_cell()
    monkeypatch.setattr(builders, "effective_amp_level", lambda cfg: "O2")
    monkeypatch.setattr(ms.amp, "build_train_network", lambda network, optimizer, level, loss_scale_manager:
                        nn.TrainOneStepWithLossScaleCell(network, optimizer, update_cell))
    step = build_train_cell(tiny_cfg, with_loss, build_optimizer(tiny_cfg, net, 2))
    assert isinstance(step, ClippedLossScaleTrainStep) and step.max_norm == 40.0
    assert step.loss_scaling_manager is update_cell


def test_training_with_clipped_gradients_learns(tiny_cfg):
    tiny_cfg.update(num_epochs=3, no_eval=True, clip_grad_norm=1.0)
    history = train(tiny_cfg)["history"]
    assert history[-1]["loss"] < history[0]["loss"]
