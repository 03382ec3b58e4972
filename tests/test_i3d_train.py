"""I3D through the shared engine: a training step lowers the loss, fine-tune freezing, export."""
import os

import mindspore as ms
import numpy as np

from src.config import load_config
from src.engine.builders import build_optimizer, build_train_cell, freeze_by_prefixes
from src.infer.export import export_network
from src.models import create_model
from src.models.builder import build_network
from src.tasks import task_of


def _i3d_cfg(**overrides):
    values = dict(model="i3d", num_classes=3, lr=0.01, optimizer="sgd", num_epochs=1, dropout_keep_prob=1.0)
    values.update(overrides)
    return load_config("", values)


def _fixed_batch():
    rng = np.random.default_rng(0)
    return (ms.Tensor(rng.standard_normal((2, 3, 8, 112, 112)).astype(np.float32)),
            ms.Tensor(np.array([0, 2], np.int32)))


def test_training_steps_lower_the_loss_and_freezing_freezes():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(1)
    cfg = _i3d_cfg(finetune_prefixes=["logits", "Mixed_5c"])
    net = build_network(cfg)
    freeze_by_prefixes(net, cfg.finetune_prefixes)
    frozen_before = net.Conv3d_1a_7x7.conv3d.weight.asnumpy().copy()
    trained_before = net.logits.conv3d.weight.asnumpy().copy()
    cell = build_train_cell(cfg, task_of(cfg).loss_network(cfg, net), build_optimizer(cfg, net, steps_per_epoch=4))
    cell.set_train(True)
    imgs, labels = _fixed_batch()
    losses = [float(cell(imgs, labels).asnumpy()) for _ in range(4)]
    assert losses[-1] < losses[0]
    np.testing.assert_array_equal(net.Conv3d_1a_7x7.conv3d.weight.asnumpy(), frozen_before)
    assert not np.array_equal(net.logits.conv3d.weight.asnumpy(), trained_before)


def test_export_mindir_matches_the_network(tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_model("i3d", num_classes=3, in_channels=2)
    path, difference = export_network(net, (1, 2, 8, 112, 112), str(tmp_path / "i3d_flow"), "MINDIR", "CPU")
    assert os.path.isfile(path) and difference < 1e-4
