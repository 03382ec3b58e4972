"""I3D network: parameter counts, output shapes, classifier replacement, PyTorch key mapping."""
import numpy as np
import pytest
import mindspore as ms

from src.models import create_model
from src.models.i3d import InceptionI3d, Unit3D, same_pads
from src.models.weights import learnt_parameters, ms_to_torch_name

ms.set_context(mode=ms.GRAPH_MODE)

# The port's unit table, written out independently of the model code: every conv unit has a
# conv3d weight and a BatchNorm3d; the classifier has a biased conv and no BatchNorm.
_STEM_UNITS = ["Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"]
_MIXED = ["Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c"]
_BRANCHES = ["b0", "b1a", "b1b", "b2a", "b2b", "b3b"]
_BN_KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def reference_torch_keys():
    units = _STEM_UNITS + [f"{mixed}.{branch}" for mixed in _MIXED for branch in _BRANCHES]
    keys = {"logits.conv3d.weight", "logits.conv3d.bias"}
    for unit in units:
        keys.add(f"{unit}.conv3d.weight")
        keys.update(f"{unit}.bn.{name}" for name in _BN_KEYS)
    return keys


def trainable_count(net):
    return sum(int(np.prod(p.shape)) for p in net.trainable_params())


@pytest.fixture(scope="module")
def rgb_net():
    net = create_model("i3d", num_classes=101, in_channels=3)
    net.set_train(False)
    return net


@pytest.fixture(scope="module")
def flow_net():
    net = create_model("i3d", num_classes=101, in_channels=2)
    net.set_train(False)
    return net


def test_parameter_counts_match_the_pytorch_port(rgb_net, flow_net):
    assert trainable_count(rgb_net) == 12_390_789
    assert trainable_count(flow_net) == 12_368_837
    # 400 classes add 299 x 1025 (weights + bias of the 1x1x1 classifier).
    assert trainable_count(InceptionI3d(num_classes=400)) == 12_390_789 + 299 * 1025


def test_every_parameter_maps_onto_the_pytorch_key_set(rgb_net):
    reference = reference_torch_keys()
    assert len(reference) == 344
    assert sum(key.endswith("num_batches_tracked") for key in reference) == 57
    mapped = [ms_to_torch_name(p.name) for p in learnt_parameters(rgb_net)]
    assert len(mapped) == len(set(mapped)) == 344 - 57
    assert set(mapped) == {key for key in reference if not key.endswith("num_batches_tracked")}
    names = {p.name for p in learnt_parameters(rgb_net)}
    assert "Mixed_3b.b1b.conv3d.weight" in names
    assert "Conv3d_1a_7x7.bn.bn2d.moving_mean" in names
    assert "logits.conv3d.bias" in names


def test_only_bn_statistics_are_frozen(rgb_net):
    frozen = {p.name for p in learnt_parameters(rgb_net) if not p.requires_grad}
    assert len(frozen) == 2 * 57
    assert all(name.endswith(("moving_mean", "moving_variance")) for name in frozen)


@pytest.mark.parametrize("frames,size", [(8, 112), (16, 112)])
def test_output_shapes_both_streams(rgb_net, flow_net, frames, size):
    rng = np.random.default_rng(0)
    for net, channels in ((rgb_net, 3), (flow_net, 2)):
        clip = ms.Tensor(rng.uniform(-1, 1, (1, channels, frames, size, size)).astype(np.float32))
        logits = net(clip).asnumpy()
        assert logits.shape == (1, 101)
        assert np.isfinite(logits).all()


def test_output_shape_at_full_resolution(rgb_net):
    clip = ms.Tensor(np.random.default_rng(1).uniform(-1, 1, (1, 3, 16, 224, 224)).astype(np.float32))
    logits = rgb_net(clip).asnumpy()
    assert logits.shape == (1, 101)
    assert np.isfinite(logits).all()


def test_same_padding_follows_the_port():
    # Per dimension (front, back): size % stride == 0 pads k - s in total, else k - size % s.
    assert same_pads((16, 224, 224), (7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 2, 3)
    assert same_pads((9, 67, 68), (3, 3, 3), (2, 2, 2)) == (1, 1, 1, 1, 0, 1)
    assert same_pads((8, 56, 57), (1, 3, 3), (1, 2, 2)) == (0, 0, 0, 1, 1, 1)
    assert same_pads((3, 5, 4), (2, 2, 2), (2, 2, 2)) == (0, 1, 0, 1, 0, 0)
    assert same_pads((7, 7, 7), (3, 3, 3), (1, 1, 1)) == (1, 1, 1, 1, 1, 1)


def test_reset_classifier_gives_a_fresh_classifier():
    net = InceptionI3d(num_classes=400, in_channels=3)
    old_weight = net.logits.conv3d.weight.asnumpy().copy()
    net.reset_classifier(7)
    names = [p.name for p in learnt_parameters(net)]
    assert names[-2:] == ["logits.conv3d.weight", "logits.conv3d.bias"]
    assert len(names) == len(set(names)) == 287
    assert net.logits.conv3d.weight.shape == (7, 1024, 1, 1, 1)
    assert old_weight.shape == (400, 1024, 1, 1, 1)
    net.set_train(False)
    clip = ms.Tensor(np.zeros((1, 3, 8, 112, 112), np.float32))
    assert net(clip).shape == (1, 7)


def test_batchnorm_follows_pytorch_momentum_and_eps():
    """Training updates running statistics by 1 % of the batch statistics (PyTorch momentum 0.01)."""
    unit = Unit3D(2, 3)
    unit.set_train(True)
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 3.0, (2, 2, 3, 4, 5)).astype(np.float32)
    y = unit(ms.Tensor(x)).asnumpy()
    weight = unit.conv3d.weight.asnumpy().reshape(3, 2)
    conv = np.einsum("oc,bcthw->bothw", weight, x)
    np.testing.assert_allclose(unit.bn.bn2d.moving_mean.asnumpy(), 0.01 * conv.mean(axis=(0, 2, 3, 4)),
                               rtol=1e-4, atol=1e-6)
    normalised = (conv - conv.mean(axis=(0, 2, 3, 4), keepdims=True)) / np.sqrt(
        conv.var(axis=(0, 2, 3, 4), keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, np.maximum(normalised, 0), rtol=1e-4, atol=1e-4)
