"""ONNX export of every registered model, run with onnxruntime against the checkpoint's outputs,
and the export-friendly operators that make it possible (equal to the operators they replace)."""
import os
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from src.config import load_config
from src.engine import exporter
from src.infer import export as exporting
from src.models.blocks import ZeroPaddedMaxPool
from src.models.builder import build_network, load_network
from src.models.i3d import InceptionI3d, Unit3D, same_pads
from src.models.registry import list_models, model_layout
from src.models.resnet2d import CeilAvgPool2x2
from src.models.weights import save_checkpoint_atomic

onnxruntime = pytest.importorskip("onnxruntime")

# Small inputs that still reach every shape-dependent branch: odd sizes for the padded pools
# (resnet3d, TSN at 80 px: a 5x5 map enters the last "vd" shortcut pool), a sliding temporal
# head pool for I3D (24 frames -> 3 feature steps against the port's kernel of 2).
SMALL = {
    "i3d": dict(test_sample_duration=24, spatial_size=64),
    "resnet3d": dict(model_depth=10, test_sample_duration=9, spatial_size=33),
    "tsn": dict(num_segments=2, spatial_size=80),
    "pptsn": dict(num_segments=2, spatial_size=80),
    "bmn": dict(tscale=20, feat_dim=32),
}
DEFAULT_SMALL = dict(test_sample_duration=4, spatial_size=16)


def randomised(net, seed=0):
    """Every parameter moved off its initial value (BN statistics too), so a wrongly exported
    normalisation or padding cannot hide behind zero means and unit variances."""
    rng = np.random.default_rng(seed)
    for param in net.get_parameters():
        value = param.asnumpy()
        noise = rng.standard_normal(value.shape).astype(np.float32)
        if "variance" in param.name:
            value = np.abs(value + 0.3 * noise) + 0.5
        else:
            value = value + 0.1 * noise * max(float(np.abs(value).std()), 0.1)
        param.set_data(ms.Tensor(value, param.dtype))
    return net


@pytest.mark.parametrize("model", list_models())
def test_onnx_export_runs_in_onnxruntime_like_the_checkpoint(model, tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = load_config("", dict(model=model, mode="rgb", num_classes=5, batch_size=2, dropout_keep_prob=0.5,
                               file_format="ONNX", file_name=str(tmp_path / model),
                               **SMALL.get(model, DEFAULT_SMALL)))
    checkpoint = str(tmp_path / f"{model}.ckpt")
    save_checkpoint_atomic(randomised(build_network(cfg)), checkpoint)
    cfg.checkpoint_path = checkpoint

    path, difference, shape = exporter.export_from_config(cfg)
    assert path == str(tmp_path / f"{model}.onnx") and os.path.isfile(path)
    assert difference is not None and difference < 1e-3

    # Independently of the exporter's own check: another input, the checkpoint reloaded.
    sample = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: sample})
    expected = load_network(cfg, checkpoint)(ms.Tensor(sample))
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for have, want in zip(got, expected):
        want = want.asnumpy()
        assert have.shape == want.shape
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    if model_layout(model) != "NCT":
        assert got[0].std() > 1e-3  # the randomised network does not answer the same for everything


def test_a_wrong_export_is_an_error(tmp_path, monkeypatch):
    ms.set_context(mode=ms.GRAPH_MODE)
    net = InceptionI3d(num_classes=3)
    monkeypatch.setattr(exporting, "run_onnx", lambda path, sample: [np.zeros((1, 3), np.float32) + 5.0])
    with pytest.raises(RuntimeError, match="other outputs"):
        exporting.export_network(net, (1, 3, 8, 64, 64), str(tmp_path / "i3d"), "ONNX", "CPU")


def test_without_onnxruntime_the_file_is_written_unchecked(tmp_path, monkeypatch):
    ms.set_context(mode=ms.GRAPH_MODE)
    net = InceptionI3d(num_classes=3)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    assert exporting.run_onnx(str(tmp_path / "none.onnx"), np.zeros((1,), np.float32)) is None
    path, difference = exporting.export_network(net, (1, 3, 8, 64, 64), str(tmp_path / "i3d"), "ONNX", "CPU")
    assert path == str(tmp_path / "i3d.onnx") and difference is None
    # Unchecked, but the whole network: onnxruntime (imported before the patch) runs it like the network.
    sample = np.random.default_rng(3).standard_normal((1, 3, 8, 64, 64)).astype(np.float32)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: sample})[0]
    np.testing.assert_allclose(got, net(ms.Tensor(sample)).asnumpy(), rtol=1e-4, atol=1e-4)


# The rewritten operators compute what the operators they replace compute (so training and
# MINDIR outputs are unchanged; the parity tests against PyTorch/Paddle check the whole networks).

@pytest.mark.parametrize("shape", [(1, 3, 8, 10, 11), (2, 2, 7, 9, 8)])
def test_zero_padded_max_pool_equals_the_padded_pool_on_relu_outputs(shape):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(np.maximum(np.random.default_rng(0).standard_normal(shape), 0).astype(np.float32))
    expected = nn.MaxPool3d(3, 2, pad_mode="pad", padding=1)(x).asnumpy()
    np.testing.assert_array_equal(ZeroPaddedMaxPool(3, 2, 1, dims=3)(x).asnumpy(), expected)
    flat = x[:, :, 0]
    expected_2d = nn.MaxPool2d(3, 2, pad_mode="pad", padding=1)(flat).asnumpy()
    np.testing.assert_array_equal(ZeroPaddedMaxPool(3, 2, 1, dims=2)(flat).asnumpy(), expected_2d)


@pytest.mark.parametrize("size", [(8, 8), (7, 7), (6, 5)])
def test_ceil_avg_pool_equals_the_ceil_mode_pool_without_padding(size):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(np.random.default_rng(1).standard_normal((2, 3) + size).astype(np.float32))
    expected = nn.AvgPool2d(2, 2, pad_mode="pad", padding=0, ceil_mode=True, count_include_pad=False)(x)
    np.testing.assert_allclose(CeilAvgPool2x2()(x).asnumpy(), expected.asnumpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("feature_shape", [(1, 4, 3, 2, 2), (2, 3, 8, 7, 7), (1, 2, 1, 3, 4)])
def test_i3d_head_pool_equals_the_clamped_avg_pool3d(feature_shape):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(np.random.default_rng(2).standard_normal(feature_shape).astype(np.float32))
    kernel = tuple(min(k, size) for k, size in zip((2, 7, 7), feature_shape[2:]))
    expected = ops.avg_pool3d(x, kernel, 1).asnumpy()
    np.testing.assert_allclose(InceptionI3d.head_pool(x).asnumpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [(16, 32, 32), (9, 15, 16)])
def test_i3d_strided_same_conv_pads_like_the_port(size):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    unit = Unit3D(2, 4, (7, 7, 7), stride=(2, 2, 2), use_batch_norm=False, use_relu=False)
    x = ms.Tensor(np.random.default_rng(3).standard_normal((1, 2) + size).astype(np.float32))
    explicit = ops.Conv3D(4, (7, 7, 7), pad_mode="pad", pad=same_pads(size, (7, 7, 7), (2, 2, 2)), stride=2)
    np.testing.assert_allclose(unit(x).asnumpy(), explicit(x, unit.conv3d.weight).asnumpy(), rtol=1e-5, atol=1e-5)
