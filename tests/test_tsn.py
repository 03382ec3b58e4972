"""TSN / PP-TSN: parameter counts, shapes, input checks, weight converters, partial BN, training."""
import glob
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import mindspore as ms
from mindspore import Tensor, nn

from src.config import load_config
from src.models import build_model_from_config, create_model
from src.models.registry import model_kwargs_from_config
from src.models.tsn import TSN, inflate_conv1_for_flow
from src.models.weights import convert_torch_state_dict, is_run_state, learnt_parameters
from src.models.weights import load_checkpoint_strict
from src.tools.convert import pdparams2ckpt

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs", "tsn")
STAGES = [(64, 3), (128, 4), (256, 6), (512, 3)]  # (planes, blocks) of ResNet-50


@pytest.fixture(autouse=True)
def pynative_mode():
    # Single forward passes of a ResNet-50 are quicker eagerly than compiled.
    ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
    ms.set_seed(0)


def trainable_count(net) -> int:
    return int(sum(param.size for param in net.trainable_params()))


def predict(net, x: np.ndarray) -> np.ndarray:
    net.set_train(False)
    return net(Tensor(x)).asnumpy()


def load_into(net, params):
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    assert not [name for name in not_loaded if not is_run_state(name)]


# --- reference weights and forward passes written from the published layouts ----------------

def _conv(rng, out_c, in_c, k):
    return (rng.standard_normal((out_c, in_c, k, k)) * np.sqrt(2.0 / (in_c * k * k))).astype(np.float32)


def _bn(rng, channels):
    return {"weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
            "bias": rng.uniform(-0.2, 0.2, channels).astype(np.float32),
            "mean": rng.uniform(-0.2, 0.2, channels).astype(np.float32),
            "var": rng.uniform(0.5, 2.0, channels).astype(np.float32)}


def torchvision_resnet50_state_dict(num_classes=1000, seed=0):
    """Random tensors under torchvision's ResNet-50 keys (incl. num_batches_tracked)."""
    rng = np.random.default_rng(seed)
    state = {}

    def add_bn(prefix, channels):
        values = _bn(rng, channels)
        state.update({f"{prefix}.weight": values["weight"], f"{prefix}.bias": values["bias"],
                      f"{prefix}.running_mean": values["mean"], f"{prefix}.running_var": values["var"],
                      f"{prefix}.num_batches_tracked": np.array(5, dtype=np.int64)})

    state["conv1.weight"] = _conv(rng, 64, 3, 7)
    add_bn("bn1", 64)
    in_planes = 64
    for stage, (planes, blocks) in enumerate(STAGES, start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            state[f"{prefix}.conv1.weight"] = _conv(rng, planes, in_planes, 1)
            add_bn(f"{prefix}.bn1", planes)
            state[f"{prefix}.conv2.weight"] = _conv(rng, planes, planes, 3)
            add_bn(f"{prefix}.bn2", planes)
            state[f"{prefix}.conv3.weight"] = _conv(rng, planes * 4, planes, 1) * 0.5
            add_bn(f"{prefix}.bn3", planes * 4)
            if block == 0:
                state[f"{prefix}.downsample.0.weight"] = _conv(rng, planes * 4, in_planes, 1)
                add_bn(f"{prefix}.downsample.1", planes * 4)
            in_planes = planes * 4
    state["fc.weight"] = (rng.standard_normal((num_classes, 2048)) * 0.01).astype(np.float32)
    state["fc.bias"] = rng.uniform(-0.1, 0.1, num_classes).astype(np.float32)
    return {key: torch.from_numpy(np.asarray(value)) for key, value in state.items()}


def torchvision_tsn_logits(state, x):
    """TSN on a torchvision ResNet-50 state dict: (B, S, C, H, W) -> (B, classes)."""
    def bn(t, prefix):
        return F.batch_norm(t, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                            state[f"{prefix}.weight"], state[f"{prefix}.bias"], False, 0.0, 1e-5)

    batch, segments = x.shape[:2]
    t = torch.from_numpy(x).flatten(0, 1)
    t = F.max_pool2d(F.relu(bn(F.conv2d(t, state["conv1.weight"], stride=2, padding=3), "bn1")), 3, 2, 1)
    for stage, (_, blocks) in enumerate(STAGES, start=1):
        for block in range(blocks):
            prefix, stride = f"layer{stage}.{block}", 2 if stage > 1 and block == 0 else 1
            out = F.relu(bn(F.conv2d(t, state[f"{prefix}.conv1.weight"]), f"{prefix}.bn1"))
            out = F.relu(bn(F.conv2d(out, state[f"{prefix}.conv2.weight"], stride=stride, padding=1), f"{prefix}.bn2"))
            out = bn(F.conv2d(out, state[f"{prefix}.conv3.weight"]), f"{prefix}.bn3")
            if block == 0:
                t = bn(F.conv2d(t, state[f"{prefix}.downsample.0.weight"], stride=stride), f"{prefix}.downsample.1")
            t = F.relu(out + t)
    features = t.mean(dim=(2, 3)).reshape(batch, segments, -1).mean(dim=1)
    return F.linear(features, state["fc.weight"], state["fc.bias"]).numpy()


def paddle_pptsn_state(num_classes, seed=0):
    """Random arrays under PaddleVideo ppTSN names (ResNetTweaksTSN backbone + ppTSNHead)."""
    rng = np.random.default_rng(seed)
    state = {"StructuredToParameterName@@": {"backbone.conv1_1._conv.weight": "conv1_1_weights"}}

    def conv_bn(name, out_c, in_c, k, scale=1.0):
        state[f"backbone.{name}._conv.weight"] = _conv(rng, out_c, in_c, k) * scale
        values = _bn(rng, out_c)
        for paddle_suffix, key in (("weight", "weight"), ("bias", "bias"), ("_mean", "mean"), ("_variance", "var")):
            state[f"backbone.{name}._batch_norm.{paddle_suffix}"] = values[key]

    conv_bn("conv1_1", 32, 3, 3)
    conv_bn("conv1_2", 32, 32, 3)
    conv_bn("conv1_3", 64, 32, 3)
    in_planes = 64
    for stage, (planes, blocks) in enumerate(STAGES):
        for block in range(blocks):
            name = f"bb_{stage}_{block}"
            conv_bn(f"{name}.conv0", planes, in_planes, 1)
            conv_bn(f"{name}.conv1", planes, planes, 3)
            conv_bn(f"{name}.conv2", planes * 4, planes, 1, scale=0.5)
            if block == 0:
                conv_bn(f"{name}.short", planes * 4, in_planes, 1)
            in_planes = planes * 4
    state["head.fc.weight"] = (rng.standard_normal((2048, num_classes)) * 0.01).astype(np.float32)  # (in, out)
    state["head.fc.bias"] = rng.uniform(-0.1, 0.1, num_classes).astype(np.float32)
    return state


def paddle_pptsn_logits(state, x):
    """PaddleVideo ppTSN forward (ConvBNLayer semantics, tweaks-mode shortcut pooling)."""
    def conv_bn(t, name, stride=1, relu=True, pool=False):
        if pool:  # AvgPool2D(2, 2, ceil_mode=True), partial windows divided by their valid size
            t = F.avg_pool2d(t, 2, 2, ceil_mode=True)
        weight = torch.from_numpy(state[f"backbone.{name}._conv.weight"])
        t = F.conv2d(t, weight, stride=stride, padding=(weight.shape[-1] - 1) // 2)
        bn = {suffix: torch.from_numpy(state[f"backbone.{name}._batch_norm.{suffix}"])
              for suffix in ("weight", "bias", "_mean", "_variance")}
        t = F.batch_norm(t, bn["_mean"], bn["_variance"], bn["weight"], bn["bias"], False, 0.0, 1e-5)
        return F.relu(t) if relu else t

    batch, segments = x.shape[:2]
    t = torch.from_numpy(x).flatten(0, 1)
    t = conv_bn(conv_bn(conv_bn(t, "conv1_1", 2), "conv1_2"), "conv1_3")
    t = F.max_pool2d(t, 3, 2, 1)
    for stage, (_, blocks) in enumerate(STAGES):
        for block in range(blocks):
            name = f"bb_{stage}_{block}"
            out = conv_bn(t, f"{name}.conv0")
            out = conv_bn(out, f"{name}.conv1", stride=2 if block == 0 and stage != 0 else 1)
            out = conv_bn(out, f"{name}.conv2", relu=False)
            short = conv_bn(t, f"{name}.short", relu=False, pool=stage != 0) if block == 0 else t
            t = F.relu(out + short)
    features = t.mean(dim=(2, 3)).reshape(batch, segments, -1).mean(dim=1).numpy()
    return features @ state["head.fc.weight"] + state["head.fc.bias"]


# --- tests ----------------------------------------------------------------------------------

def test_parameter_counts():
    assert trainable_count(create_model("tsn", num_classes=101)) == 23_714_981
    # vd stem: 3x3 convs 3->32, 32->32, 32->64 + BNs (28,768 values) instead of 7x7 3->64 + BN (9,536).
    assert trainable_count(create_model("pptsn", num_classes=101)) == 23_714_981 - 9_536 + 28_768


@pytest.mark.parametrize("model, channels", [("tsn", 3), ("tsn", 10), ("pptsn", 3)])
def test_output_shapes(model, channels):
    net = create_model(model, num_classes=11, in_channels=channels, num_segments=3)
    out = predict(net, np.random.rand(2, 3, channels, 64, 64).astype(np.float32))
    assert out.shape == (2, 11) and np.isfinite(out).all()


def test_segment_count_is_read_from_the_input():
    net = create_model("tsn", num_classes=5, num_segments=3, dropout_keep_prob=1.0)
    frames = np.random.rand(1, 25, 3, 32, 32).astype(np.float32)
    logits_25 = predict(net, frames)
    assert logits_25.shape == (1, 5)
    # Average consensus: 25 segments == the mean of the features of each segment, fc applied once.
    per_segment = np.stack([predict(net, frames[:, i:i + 1]) for i in range(25)])
    np.testing.assert_allclose(logits_25, per_segment.mean(axis=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_flow_tsn_rejects_rgb_input(mode):
    ms.set_context(mode=mode)
    net = create_model("tsn", num_classes=5, in_channels=10)
    net.set_train(False)
    with pytest.raises(ValueError, match="10 input channels per segment but got 3"):
        net(Tensor(np.zeros((1, 3, 3, 32, 32), np.float32)))
    with pytest.raises(ValueError, match="segments, channels"):
        net(Tensor(np.zeros((3, 10, 32, 32), np.float32)))


def test_inflate_conv1_for_flow():
    rgb = np.random.rand(64, 3, 7, 7).astype(np.float32)
    flow = inflate_conv1_for_flow(rgb, 10)
    assert flow.shape == (64, 10, 7, 7)
    for channel in range(10):
        np.testing.assert_allclose(flow[:, channel], (rgb[:, 0] + rgb[:, 1] + rgb[:, 2]) / 3, rtol=1e-6)


def test_torchvision_resnet50_converts_to_tsn_exactly():
    state = torchvision_resnet50_state_dict(num_classes=6)
    frames = np.random.default_rng(1).random((2, 2, 3, 64, 64), dtype=np.float32)
    net = create_model("tsn", num_classes=6)
    load_into(net, convert_torch_state_dict(net, net.adapt_torch_state_dict(state, load_fc=True)))
    np.testing.assert_allclose(predict(net, frames), torchvision_tsn_logits(state, frames), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("depth", [18, 34])
def test_torchvision_basic_block_resnets_convert_to_tsn_exactly(depth):
    from benchmarks.torch_models import TorchTSN

    torch.manual_seed(depth)
    reference = TorchTSN(num_classes=6, depth=depth)
    with torch.no_grad():  # running statistics away from 0 / 1, so that a misplaced one shows
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    reference.eval()
    frames = np.random.default_rng(1).random((2, 2, 3, 64, 64), dtype=np.float32)
    net = create_model("tsn", num_classes=6, depth=depth)
    assert net.num_features == 512
    load_into(net, convert_torch_state_dict(net, net.adapt_torch_state_dict(reference.state_dict(), load_fc=True)))
    with torch.no_grad():
        expected = reference(torch.from_numpy(frames)).numpy()
    np.testing.assert_allclose(predict(net, frames), expected, rtol=1e-3, atol=1e-4)


def test_unknown_tsn_depth_is_named():
    with pytest.raises(ValueError, match="depth must be one of .*18, 34, 50"):
        create_model("tsn", num_classes=6, depth=26)


def test_torchvision_to_flow_tsn_inflates_stem_and_keeps_new_classifier():
    state = torchvision_resnet50_state_dict(num_classes=1000)
    net = create_model("tsn", num_classes=7, in_channels=10)
    initial_fc = net.fc.weight.asnumpy().copy()
    params = convert_torch_state_dict(net, net.adapt_torch_state_dict(state, load_fc=False))
    np.testing.assert_allclose(params["backbone.conv1.weight"].asnumpy(),
                               inflate_conv1_for_flow(state["conv1.weight"].numpy(), 10))
    np.testing.assert_array_equal(params["fc.weight"].asnumpy(), initial_fc)
    np.testing.assert_array_equal(params["backbone.layer3.2.bn2.moving_variance"].asnumpy(),
                                  state["layer3.2.bn2.running_var"].numpy())
    with pytest.raises(ValueError, match=r"fc\.weight: file \(1000, 2048\), network \(7, 2048\)"):
        convert_torch_state_dict(net, net.adapt_torch_state_dict(state, load_fc=True))


def test_torchvision_conversion_reports_bad_keys():
    state = torchvision_resnet50_state_dict(num_classes=5)
    state["layer2.0.downsample.0.weights"] = state.pop("layer2.0.downsample.0.weight")
    state["extra.bias"] = torch.zeros(3)
    net = create_model("tsn", num_classes=5)
    with pytest.raises(ValueError) as error:
        convert_torch_state_dict(net, net.adapt_torch_state_dict(state, load_fc=True), source="resnet50.pth")
    message = str(error.value)
    assert "resnet50.pth" in message
    assert "missing (1)" in message and "layer2.0.downsample.0.weight" in message
    assert "unexpected (2)" in message and "extra.bias" in message and "downsample.0.weights" in message


def test_pdparams_cli_converts_pptsn_exactly(tmp_path, capsys):
    state = paddle_pptsn_state(num_classes=6)
    pdparams, ckpt = tmp_path / "pptsn.pdparams", tmp_path / "pptsn.ckpt"
    with open(pdparams, "wb") as handle:
        pickle.dump(state, handle, protocol=2)
    assert pdparams2ckpt.main(["--input", str(pdparams), "--output", str(ckpt), "--num_classes", "6"]) == 0
    tensors = len(learnt_parameters(create_model("pptsn", num_classes=6)))
    assert f"converted {tensors} tensors" in capsys.readouterr().out
    net = create_model("pptsn", num_classes=6)
    load_checkpoint_strict(net, str(ckpt))
    # 72 px makes the stride-2 shortcut pools meet odd sizes (9 -> 5 -> 3): ceil-mode windows.
    frames = np.random.default_rng(2).random((1, 2, 3, 72, 72), dtype=np.float32)
    np.testing.assert_allclose(predict(net, frames), paddle_pptsn_logits(state, frames), rtol=1e-3, atol=1e-4)


def test_pdparams_flow_backbone_without_classifier():
    state = paddle_pptsn_state(num_classes=1000)
    state = {key.replace("backbone.", ""): value for key, value in state.items() if key.startswith("backbone.")}
    net = create_model("pptsn", num_classes=5, in_channels=10)
    params = pdparams2ckpt.convert_pdparams(net, state, load_fc=False)
    np.testing.assert_allclose(params["backbone.conv1.0.weight"].asnumpy(),
                               inflate_conv1_for_flow(state["conv1_1._conv.weight"], 10))
    np.testing.assert_array_equal(params["backbone.layer4.0.downsample.2.moving_mean"].asnumpy(),
                                  state["bb_3_0.short._batch_norm._mean"])
    np.testing.assert_array_equal(params["backbone.bn1.gamma"].asnumpy(), state["conv1_3._batch_norm.weight"])
    with pytest.raises(ValueError, match="missing"):
        pdparams2ckpt.convert_pdparams(net, state, load_fc=True)  # no classifier in a backbone file


def test_pdparams_bad_keys_and_files_are_reported(tmp_path, capsys):
    state = paddle_pptsn_state(num_classes=4)
    del state["backbone.bb_2_5.conv1._batch_norm._variance"]
    state["backbone.bb_2_5.conv1._conv.bias"] = np.zeros(256, np.float32)
    pdparams = tmp_path / "broken.pdparams"
    with open(pdparams, "wb") as handle:
        pickle.dump(state, handle, protocol=4)
    with pytest.raises(ValueError) as error:
        pdparams2ckpt.convert(str(pdparams), str(tmp_path / "out.ckpt"), num_classes=4)
    message = str(error.value)
    assert "broken.pdparams" in message and "layer3.5.bn2.running_var" in message
    assert "unexpected (1)" in message and "backbone.bb_2_5.conv1._conv.bias" in message
    assert not (tmp_path / "out.ckpt").exists()
    assert pdparams2ckpt.main(["--input", str(pdparams), "--output", str(tmp_path / "out.ckpt"),
                               "--num_classes", "4"]) == 2
    assert "error: " in capsys.readouterr().err and not (tmp_path / "out.ckpt").exists()

    hostile = tmp_path / "hostile.pdparams"
    with open(hostile, "wb") as handle:
        pickle.dump({"w": os.getcwd}, handle)
    with pytest.raises(ValueError, match="only arrays"):
        pdparams2ckpt.load_pdparams(str(hostile))
    with pytest.raises(FileNotFoundError):
        pdparams2ckpt.load_pdparams(str(tmp_path / "missing.pdparams"))
    with pytest.raises(SystemExit) as exit_info:
        pdparams2ckpt.main(["--help"])
    assert exit_info.value.code == 0


def test_partial_bn_freezes_all_but_the_first_bn():
    net = create_model("tsn", num_classes=3, partial_bn=True, dropout_keep_prob=1.0)
    bns = [cell for _, cell in net.backbone.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]
    assert len(bns) == 53
    trainable = {param.name for param in net.trainable_params()}
    assert "backbone.bn1.gamma" in trainable and "backbone.layer1.0.bn1.gamma" not in trainable
    assert trainable_count(net) == trainable_count(create_model("tsn", num_classes=3)) - \
        sum(2 * bn.num_features for bn in bns[1:])
    before = {bn.moving_mean.name: bn.moving_mean.asnumpy().copy() for bn in bns[:2]}
    _train(net, np.random.rand(2, 2, 3, 32, 32).astype(np.float32), steps=1)
    first, second = (bn.moving_mean for bn in bns[:2])
    assert not np.allclose(first.asnumpy(), before[first.name])
    np.testing.assert_array_equal(second.asnumpy(), before[second.name])


def _train(net, frames, steps, labels=(0, 2)):
    # Small lr: 2048 pooled features of magnitude ~1 make the classifier's effective step large.
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    step = nn.TrainOneStepCell(loss_net, nn.SGD(net.trainable_params(), learning_rate=3e-4))
    step.set_train(True)
    x, y = Tensor(frames), Tensor(np.array(labels, dtype=np.int32))
    return [float(step(x, y).asnumpy()) for _ in range(steps)]


def test_training_steps_lower_the_loss():
    net = create_model("tsn", num_classes=4, dropout_keep_prob=1.0, num_segments=2)
    losses = _train(net, np.random.default_rng(3).random((2, 2, 3, 64, 64), dtype=np.float32), steps=6)
    assert losses[-1] < losses[0] * 0.7, losses


def test_configs_build_the_right_networks():
    paths = {os.path.basename(path): path for path in glob.glob(os.path.join(CONFIG_DIR, "[!_]*.yaml"))}
    assert set(paths) == {"ucf101_rgb.yaml", "ucf101_flow.yaml", "kinetics400_pptsn.yaml",
                          "demo_rgb.yaml", "demo_rgbdiff.yaml", "demo_flow.yaml"}
    expected_channels = {"ucf101_rgb.yaml": 3, "ucf101_flow.yaml": 10, "kinetics400_pptsn.yaml": 3,
                         "demo_rgb.yaml": 3, "demo_rgbdiff.yaml": 12, "demo_flow.yaml": 10}
    for name, path in paths.items():
        kwargs = model_kwargs_from_config(load_config(path))
        assert kwargs["in_channels"] == expected_channels[name], name
    pptsn = load_config(paths["kinetics400_pptsn.yaml"])
    assert (pptsn.model, pptsn.num_segments, pptsn.test_crop, pptsn.spatial_size) == ("pptsn", 3, "ten", 224)
    assert pptsn.dropout_keep_prob == pytest.approx(0.6)
    demo_flow = build_model_from_config(load_config(paths["demo_flow.yaml"]))
    assert isinstance(demo_flow, TSN) and demo_flow.backbone.conv1.weight.shape == (64, 10, 7, 7)
    assert not demo_flow.partial_bn
    assert demo_flow.num_features == 512  # the demo's ResNet-18


def test_pt2ckpt_cli_converts_torchvision_weights_for_flow_tsn(tmp_path):
    import mindspore as ms
    import torch

    from src.tools.convert import pt2ckpt

    state = torchvision_resnet50_state_dict(num_classes=1000)
    torch.save(state, tmp_path / "resnet50.pth")
    assert pt2ckpt.main(["--model", "tsn", "--in_channels", "10", "--num_classes", "7", "--load_fc", "false",
                         "--input", str(tmp_path / "resnet50.pth"), "--output", str(tmp_path / "flow10.ckpt")]) == 0
    saved = ms.load_checkpoint(str(tmp_path / "flow10.ckpt"))
    np.testing.assert_allclose(saved["backbone.conv1.weight"].asnumpy(),
                               inflate_conv1_for_flow(state["conv1.weight"].numpy(), 10))
    assert saved["fc.weight"].shape == (7, 2048)


def test_pt2ckpt_cli_converts_torchvision_resnet18_with_its_depth(tmp_path):
    import mindspore as ms
    import torch

    from benchmarks.torch_models import TorchTSN
    from src.tools.convert import pt2ckpt

    state = TorchTSN(num_classes=1000, depth=18).state_dict()
    torch.save(state, tmp_path / "resnet18.pth")
    assert pt2ckpt.main(["--model", "tsn", "--kwargs", "depth=18", "--in_channels", "12", "--num_classes", "6",
                         "--load_fc", "false", "--input", str(tmp_path / "resnet18.pth"),
                         "--output", str(tmp_path / "rgbdiff12.ckpt")]) == 0
    saved = ms.load_checkpoint(str(tmp_path / "rgbdiff12.ckpt"))
    np.testing.assert_allclose(saved["backbone.layer4.1.conv2.weight"].asnumpy(), state["layer4.1.conv2.weight"].numpy())
    assert saved["backbone.conv1.weight"].shape == (64, 12, 7, 7) and saved["fc.weight"].shape == (6, 512)
    # the ResNet-50 file does not fit a ResNet-18 network: the strict report names what differs
    torch.save(torchvision_resnet50_state_dict(num_classes=1000), tmp_path / "resnet50.pth")
    assert pt2ckpt.main(["--model", "tsn", "--kwargs", "depth=18", "--num_classes", "1000",
                         "--input", str(tmp_path / "resnet50.pth"), "--output", str(tmp_path / "bad.ckpt")]) != 0
    assert not (tmp_path / "bad.ckpt").exists()


# --- mmaction2 TSN checkpoints ---------------------------------------------------------------

def mmaction2_checkpoint(torchvision_state):
    """The same tensors under mmaction2's TSN keys (ConvModule ``.conv`` / ``.bn``, ``cls_head.fc_cls``),
    wrapped as mmaction2 saves them: ``{"meta": ..., "state_dict": ...}``."""
    renamed = {}
    for key, value in torchvision_state.items():
        parts = key.split(".")
        if parts[0] == "fc":
            new_key = "cls_head.fc_cls." + parts[1]
        elif parts[0] in ("conv1", "bn1"):
            new_key = "backbone.conv1." + ("conv." if parts[0] == "conv1" else "bn.") + parts[1]
        elif parts[2] == "downsample":
            new_key = f"backbone.{'.'.join(parts[:3])}.{'conv' if parts[3] == '0' else 'bn'}.{parts[4]}"
        else:
            layer, kind = parts[2][:-1], parts[2][-1]  # conv2 / bn2 -> ConvModule conv2
            new_key = f"backbone.{parts[0]}.{parts[1]}.conv{kind}.{'conv' if layer == 'conv' else 'bn'}.{parts[3]}"
        renamed[new_key] = value
    return {"meta": {"mmaction2_version": "0.24.1", "epoch": 100, "config": "model = dict(type='Recognizer2D')"},
            "state_dict": renamed}


def test_mmaction2_checkpoint_keys_are_the_public_ones():
    keys = set(mmaction2_checkpoint(torchvision_resnet50_state_dict(num_classes=4))["state_dict"])
    for key in ("backbone.conv1.conv.weight", "backbone.conv1.bn.running_var", "backbone.layer1.0.conv1.conv.weight",
                "backbone.layer1.0.conv3.bn.weight", "backbone.layer4.0.downsample.conv.weight",
                "backbone.layer4.0.downsample.bn.num_batches_tracked", "cls_head.fc_cls.weight",
                "cls_head.fc_cls.bias"):
        assert key in keys
    assert not any(".bn1." in key or "downsample.0" in key or key.startswith("fc.") for key in keys)


def test_mmaction2_rgb_tsn_converts_exactly():
    state = torchvision_resnet50_state_dict(num_classes=6, seed=3)
    frames = np.random.default_rng(2).random((1, 2, 3, 64, 64), dtype=np.float32)
    net = create_model("tsn", num_classes=6)
    params = convert_torch_state_dict(net, net.adapt_torch_state_dict(mmaction2_checkpoint(state), load_fc=True))
    load_into(net, params)
    np.testing.assert_allclose(predict(net, frames), torchvision_tsn_logits(state, frames), rtol=1e-3, atol=1e-4)


def test_mmaction2_flow_tsn_keeps_its_10_channel_stem():
    state = torchvision_resnet50_state_dict(num_classes=5, seed=4)
    state["conv1.weight"] = torch.from_numpy(_conv(np.random.default_rng(5), 64, 10, 7))
    frames = np.random.default_rng(6).random((1, 2, 10, 64, 64), dtype=np.float32)
    net = create_model("tsn", num_classes=5, in_channels=10)
    load_into(net, convert_torch_state_dict(net, net.adapt_torch_state_dict(mmaction2_checkpoint(state), load_fc=True)))
    np.testing.assert_array_equal(net.backbone.conv1.weight.asnumpy(), state["conv1.weight"].numpy())
    np.testing.assert_allclose(predict(net, frames), torchvision_tsn_logits(state, frames), rtol=1e-3, atol=1e-4)


def test_mmaction2_conversion_reports_bad_keys_and_class_counts():
    checkpoint = mmaction2_checkpoint(torchvision_resnet50_state_dict(num_classes=400))
    tensors = checkpoint["state_dict"]
    tensors["backbone.layer2.1.conv2.gn.weight"] = tensors.pop("backbone.layer2.1.conv2.bn.weight")
    net = create_model("tsn", num_classes=400)
    with pytest.raises(ValueError) as error:
        convert_torch_state_dict(net, net.adapt_torch_state_dict(checkpoint, load_fc=True), source="tsn_k400.pth")
    message = str(error.value)
    assert "tsn_k400.pth" in message and "missing (1)" in message and "layer2.1.bn2.weight" in message
    assert "unexpected (1)" in message and "layer2.1.conv2.gn.weight" in message
    with pytest.raises(ValueError, match=r"checkpoint has 400 classes, network has 101"):
        small = create_model("tsn", num_classes=101)
        convert_torch_state_dict(small, small.adapt_torch_state_dict(mmaction2_checkpoint(
            torchvision_resnet50_state_dict(num_classes=400)), load_fc=True))


def test_pt2ckpt_cli_converts_an_mmaction2_checkpoint(tmp_path, capsys):
    from src.tools.convert import pt2ckpt

    state = torchvision_resnet50_state_dict(num_classes=4, seed=7)
    torch.save(mmaction2_checkpoint(state), tmp_path / "tsn_r50_mmaction2.pth")
    assert pt2ckpt.main(["--model", "tsn", "--num_classes", "4", "--input", str(tmp_path / "tsn_r50_mmaction2.pth"),
                         "--output", str(tmp_path / "tsn.ckpt")]) == 0
    assert "converted 267 tensors" in capsys.readouterr().out  # ResNet-50 + fc, BN counters dropped
    saved = ms.load_checkpoint(str(tmp_path / "tsn.ckpt"))
    np.testing.assert_array_equal(saved["fc.weight"].asnumpy(), state["fc.weight"].numpy())
    np.testing.assert_array_equal(saved["backbone.layer1.0.downsample.1.moving_mean"].asnumpy(),
                                  state["layer1.0.downsample.1.running_mean"].numpy())
