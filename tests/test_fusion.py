"""BatchNorm folding (src.models.fusion): the folded network computes what the unfolded one does,
every BatchNorm of the zoo's recognizers is folded, and the inference loaders fold by default."""
import os

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.config import load_config
from src.engine.exporter import export_from_config
from src.models import build_model_from_config
from src.models.builder import load_network
from src.models.fusion import fold_batchnorms
from src.models.weights import save_checkpoint_atomic

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

CASES = {  # model overrides, input shape
    "i3d": ({"model": "i3d"}, (1, 3, 8, 32, 32)),
    "r3d18": ({"model": "resnet3d", "model_depth": 18}, (1, 3, 8, 32, 32)),
    "r3d50": ({"model": "resnet3d", "model_depth": 50}, (1, 3, 8, 32, 32)),
    "tsn_r50": ({"model": "tsn"}, (1, 2, 3, 32, 32)),
    "pptsn_r50vd": ({"model": "pptsn"}, (1, 2, 3, 32, 32)),  # deep stem and average-pool shortcuts
}


def _network_with_statistics(overrides: dict, seed: int = 0):
    """A network in eval mode whose BatchNorms hold non-trivial statistics and affine parameters."""
    ms.set_seed(seed)
    net = build_model_from_config(load_config("", dict(overrides, num_classes=5, dropout_keep_prob=1.0)))
    rng = np.random.default_rng(seed)
    for param in net.get_parameters():
        name = param.name.rsplit(".", 1)[-1]
        if name in ("moving_mean", "beta"):
            param.set_data(ms.Tensor(rng.normal(0.0, 0.2, param.shape).astype(np.float32)))
        elif name in ("moving_variance", "gamma"):
            param.set_data(ms.Tensor(rng.uniform(0.5, 1.5, param.shape).astype(np.float32)))
    net.set_train(False)
    return net


def _count_norms(net) -> int:
    """BatchNorms of ``net`` (a BatchNorm3d counts once, not with the BatchNorm2d inside it)."""
    return sum(isinstance(cell, NORMS) and not name.endswith("bn2d") for name, cell in net.cells_and_names())


@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_network_computes_the_same_logits(case):
    overrides, shape = CASES[case]
    reference = _network_with_statistics(overrides)
    folded = _network_with_statistics(overrides)  # the same weights: a graph compiles once per network
    norms = _count_norms(folded)
    assert fold_batchnorms(folded) == norms > 0
    assert _count_norms(folded) == 0
    x = ms.Tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    expected, got = reference(x).asnumpy(), folded(x).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def test_a_batch_norm_without_its_convolution_is_left_alone():
    net = nn.SequentialCell([nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.ReLU()])
    assert fold_batchnorms(net) == 0
    assert isinstance(net[0], nn.BatchNorm2d)


def test_inference_loading_folds_unless_told_not_to_and_export_keeps_the_outputs(tmp_path):
    overrides, shape = CASES["r3d18"]
    cfg = load_config("", dict(overrides, num_classes=5, dropout_keep_prob=1.0, spatial_size=32,
                               test_sample_duration=8, batch_size=1))
    checkpoint = str(tmp_path / "r3d18.ckpt")
    save_checkpoint_atomic(_network_with_statistics(overrides), checkpoint)
    assert _count_norms(load_network(cfg, checkpoint)) == 0
    cfg.fold_bn = False
    unfolded = load_network(cfg, checkpoint)
    assert _count_norms(unfolded) == 20
    cfg.update(fold_bn=True, checkpoint_path=checkpoint, file_name=str(tmp_path / "r3d18"))
    path, difference, export_shape = export_from_config(cfg)  # the MINDIR reloads to the folded outputs
    assert os.path.isfile(path) and difference < 1e-4
    sample = np.random.default_rng(cfg.seed).standard_normal(export_shape).astype(np.float32)
    exported = ms.nn.GraphCell(ms.load(path))(ms.Tensor(sample)).asnumpy()
    np.testing.assert_allclose(exported, unfolded(ms.Tensor(sample)).asnumpy(), rtol=1e-4, atol=1e-4)
