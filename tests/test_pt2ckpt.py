"""PyTorch -> MindSpore conversion and strict loading (src.models.weights, src.tools.convert.pt2ckpt).

A PyTorch I3D with the public port's structure, names and SAME padding (benchmarks/torch_models.py) gets random
weights and BatchNorm statistics; its converted checkpoint must reproduce its outputs in MindSpore.
"""
import os

import numpy as np
import pytest
import torch
from torch import nn as tnn

import mindspore as ms
from mindspore import nn

from benchmarks.torch_models import TorchI3D
from src.models import create_model
from src.models.i3d import Unit3D
from src.models.weights import (convert_torch_state_dict, learnt_parameters, load_checkpoint_strict, ms_to_torch_name,
                                save_checkpoint_atomic)
from src.tools.convert.pt2ckpt import convert, main as pt2ckpt_main, parse_kwargs

ms.set_context(mode=ms.GRAPH_MODE)
torch.set_num_threads(2)


def make_reference(num_classes, in_channels, calibration_clip, seed=0):
    """Random weights; BN statistics from one batch (momentum 1) then perturbed, so every layer
    sees well-scaled, non-trivial running statistics."""
    torch.manual_seed(seed)
    model = TorchI3D(num_classes, in_channels)
    bns = [m for m in model.modules() if isinstance(m, tnn.BatchNorm3d)]
    for bn in bns:
        bn.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(calibration_clip)
        for bn in bns:
            bn.momentum = 0.01
            bn.running_mean.add_(0.1 * torch.randn_like(bn.running_mean))
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.7, 1.3))
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
        model.logits.conv3d.bias.uniform_(-1, 1)
    return model.eval()


# ---- end-to-end conversion -----------------------------------------------------------------
@pytest.mark.parametrize("in_channels,shape", [(3, (1, 3, 9, 67, 67)), (2, (1, 2, 16, 224, 224))])
def test_converted_i3d_reproduces_pytorch(tmp_path, in_channels, shape):
    rng = np.random.default_rng(in_channels)
    clip = rng.uniform(-1, 1, shape).astype(np.float32)
    reference = make_reference(11, in_channels, torch.from_numpy(clip))
    with torch.no_grad():
        expected = reference(torch.from_numpy(clip)).numpy()
    wrapped = {"state_dict": {f"module.{key}": value for key, value in reference.state_dict().items()}}
    torch_file = tmp_path / "reference.pt"
    torch.save(wrapped, torch_file)

    ckpt = tmp_path / "reference.ckpt"
    summary = convert("i3d", str(torch_file), str(ckpt), num_classes=11, in_channels=in_channels)
    assert summary["tensors"] == 287
    assert summary["trainable"] == sum(p.numel() for p in reference.parameters())

    net = create_model("i3d", num_classes=11, in_channels=in_channels)
    load_checkpoint_strict(net, str(ckpt))
    net.set_train(False)
    got = net(ms.Tensor(clip)).asnumpy()
    assert got.shape == expected.shape == (1, 11)
    assert np.std(expected) > 0.1
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_command_line_prints_a_summary(tmp_path, capsys):
    reference = TorchI3D(5, 2)
    torch.save(reference.state_dict(), tmp_path / "flow.pt")
    assert pt2ckpt_main(["--model", "i3d", "--in_channels", "2", "--num_classes", "5",
                         "--input", str(tmp_path / "flow.pt"), "--output", str(tmp_path / "flow.ckpt")]) == 0
    assert "converted 287 tensors" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "flow.ckpt")
    assert parse_kwargs("model_depth=50, no_max_pool=true,shortcut_type=B") == {
        "model_depth": 50, "no_max_pool": True, "shortcut_type": "B"}
    assert pt2ckpt_main(["--model", "i3d", "--kwargs", "model_depth", "--input", str(tmp_path / "flow.pt"),
                         "--output", str(tmp_path / "other.ckpt")]) == 2
    assert "error: --kwargs items are key=value, got 'model_depth'" in capsys.readouterr().err


# ---- one unit against a NumPy computation ---------------------------------------------------
def test_conv_bn_unit_matches_numpy():
    rng = np.random.default_rng(3)
    unit = Unit3D(2, 3, kernel_shape=(3, 3, 3), stride=(2, 2, 2))
    weight = rng.normal(size=(3, 2, 3, 3, 3)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.normal(size=3)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2.0, 3)
    ms.load_param_into_net(unit, {
        "conv3d.weight": ms.Parameter(ms.Tensor(weight)),
        "bn.bn2d.gamma": ms.Parameter(ms.Tensor(gamma.astype(np.float32))),
        "bn.bn2d.beta": ms.Parameter(ms.Tensor(beta.astype(np.float32))),
        "bn.bn2d.moving_mean": ms.Parameter(ms.Tensor(mean.astype(np.float32))),
        "bn.bn2d.moving_variance": ms.Parameter(ms.Tensor(var.astype(np.float32)))})
    unit.set_train(False)
    x = rng.normal(size=(1, 2, 5, 6, 7)).astype(np.float32)

    # SAME with stride 2, kernel 3: size 5 -> pad (1, 1), 6 -> (0, 1), 7 -> (1, 1).
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 1), (1, 1)))
    out_t, out_h, out_w = 3, 3, 4
    conv = np.zeros((1, 3, out_t, out_h, out_w))
    for t in range(out_t):
        for h in range(out_h):
            for w in range(out_w):
                window = padded[0, :, 2 * t:2 * t + 3, 2 * h:2 * h + 3, 2 * w:2 * w + 3]
                conv[0, :, t, h, w] = (weight * window[None]).sum(axis=(1, 2, 3, 4))
    bn = (conv - mean[:, None, None, None]) / np.sqrt(var[:, None, None, None] + 1e-3)
    expected = np.maximum(bn * gamma[:, None, None, None] + beta[:, None, None, None], 0)

    got = unit(ms.Tensor(x)).asnumpy()
    assert got.shape == (1, 3, 3, 3, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# ---- naming rules and error reports ---------------------------------------------------------
def test_generic_name_rules_and_network_renames():
    assert ms_to_torch_name("Mixed_3b.b0.bn.bn2d.gamma") == "Mixed_3b.b0.bn.weight"
    assert ms_to_torch_name("bn1.beta") == "bn1.bias"
    assert ms_to_torch_name("layer1.0.bn1.moving_mean") == "layer1.0.bn1.running_mean"
    assert ms_to_torch_name("x.bn.bn2d.moving_variance") == "x.bn.running_var"
    assert ms_to_torch_name("logits.conv3d.bias") == "logits.conv3d.bias"
    assert ms_to_torch_name("base.fc.weight", [(r"^base\.", ""), (r"^fc\.", "new_fc.")]) == "new_fc.weight"


class _Renamed(nn.Cell):
    TORCH_KEY_RENAMES = [(r"^head\.", "fc.")]

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, has_bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Dense(4, 2)


def test_convert_uses_the_network_renames():
    net = _Renamed()
    state = {"conv.weight": np.ones((4, 3, 3, 3)), "bn.weight": np.full(4, 2.0), "bn.bias": np.zeros(4),
             "bn.running_mean": np.zeros(4), "bn.running_var": np.ones(4), "bn.num_batches_tracked": 3,
             "fc.weight": np.zeros((2, 4)), "fc.bias": np.zeros(2)}
    params = convert_torch_state_dict(net, {"model": state})
    assert set(params) == {p.name for p in net.get_parameters()}
    np.testing.assert_array_equal(params["bn.gamma"].asnumpy(), np.full(4, 2.0, np.float32))


@pytest.fixture(scope="module")
def small_i3d():
    return create_model("i3d", num_classes=5, in_channels=3)


def torch_like_state(net):
    return {ms_to_torch_name(p.name): np.zeros(p.shape, np.float32) for p in learnt_parameters(net)}


def test_conversion_reports_every_problem(small_i3d):
    state = torch_like_state(small_i3d)
    del state["Mixed_4c.b1b.bn.running_var"]
    state["Mixed_4c.b9.conv3d.weight"] = np.zeros((1,))
    state["Conv3d_2b_1x1.conv3d.weight"] = np.zeros((64, 32, 1, 1, 1))
    with pytest.raises(ValueError) as error:
        convert_torch_state_dict(small_i3d, state, source="bad.pt")
    report = str(error.value)
    assert "bad.pt" in report
    assert "missing (1)" in report and "Mixed_4c.b1b.bn.running_var" in report
    assert "unexpected (1)" in report and "Mixed_4c.b9.conv3d.weight" in report
    assert "shape mismatch (1)" in report and "(64, 32, 1, 1, 1)" in report


def test_conversion_rejects_an_unrelated_torch_file(tmp_path):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        convert("i3d", str(tmp_path / "other.pt"), str(tmp_path / "other.ckpt"), num_classes=5)
    assert not os.path.exists(tmp_path / "other.ckpt")


def test_strict_loading_explains_class_and_stream_mismatches(tmp_path, small_i3d):
    ckpt = str(tmp_path / "five.ckpt")
    save_checkpoint_atomic(small_i3d, ckpt)
    with pytest.raises(ValueError) as error:
        load_checkpoint_strict(create_model("i3d", num_classes=7, in_channels=3), ckpt)
    report = str(error.value)
    assert "five.ckpt" in report
    assert "checkpoint has 5 classes, network has 7: set --finetune_num_classes 7" in report
    with pytest.raises(ValueError) as error:
        load_checkpoint_strict(create_model("i3d", num_classes=5, in_channels=2), ckpt)
    assert "checkpoint expects 3 input channels, network has 2: set --mode" in str(error.value)


def test_strict_loading_skips_training_state_and_allows_named_gaps(tmp_path):
    net = create_model("i3d", num_classes=5, in_channels=3)
    marker = np.full((5, 1024, 1, 1, 1), 0.25, np.float32)
    net.logits.conv3d.weight.set_data(ms.Tensor(marker))
    loss = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    train_cell = nn.TrainOneStepCell(loss, nn.SGD(net.trainable_params(), 0.1, momentum=0.9))
    ckpt = str(tmp_path / "train.ckpt")
    save_checkpoint_atomic(train_cell, ckpt, append_dict={"epoch_num": 3})
    assert os.listdir(tmp_path) == ["train.ckpt"]

    target = create_model("i3d", num_classes=5, in_channels=3)
    extras = load_checkpoint_strict(target, ckpt)
    assert {"accum.logits.conv3d.weight", "stat.logits.conv3d.weight", "learning_rate", "epoch_num"} <= set(extras)
    assert int(extras["epoch_num"].asnumpy()) == 3
    np.testing.assert_array_equal(target.logits.conv3d.weight.asnumpy(), marker)

    params = {p.name: p for p in net.get_parameters()}
    without_head = {name: value for name, value in params.items() if not name.startswith("logits.")}
    with pytest.raises(ValueError, match="missing"):
        load_checkpoint_strict(create_model("i3d", num_classes=5), without_head)
    load_checkpoint_strict(create_model("i3d", num_classes=5), without_head, allow_missing_prefixes=("logits.",))
    with pytest.raises(ValueError, match="unexpected"):
        load_checkpoint_strict(create_model("i3d", num_classes=5), {**params, "Mixed_9z.b0.conv3d.weight": marker})
