"""The FLOPs / parameter counter (python -m src.tools.analysis.flops), checked against independent
counts: PyTorch's own counter on the PyTorch twins of the networks, the published ResNet-50 figure,
and hand arithmetic."""
import json

import mindspore as ms
import numpy as np
import pytest
import torch
from mindspore import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import torch_models
from src.models import create_model
from src.tools.analysis import flops


def matmul_like_flops(result):
    """FLOPs of convolutions, dense layers and matmuls (2 per MAC): what PyTorch's counter counts."""
    return 2 * sum(result["by_kind"].get(kind, {"macs": 0})["macs"] for kind in ("convolution", "dense", "matmul"))


def torch_flops(model, shape):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()
        model(torch.zeros(shape))
    return counter.get_total_flops()


@pytest.mark.parametrize("name, kwargs, torch_class, torch_kwargs, shape", [
    ("i3d", {}, "TorchI3D", {}, (1, 3, 16, 112, 112)),
    ("resnet3d", {"model_depth": 18}, "TorchResNet3d", {"depth": 18}, (1, 3, 8, 64, 64)),
    ("tsn", {}, "TorchTSN", {}, (2, 3, 3, 96, 96)),
])
def test_counts_equal_pytorchs_counter_on_the_twin_network(name, kwargs, torch_class, torch_kwargs, shape):
    result = flops.count_model(create_model(name, num_classes=101, **kwargs), shape)
    expected = torch_flops(getattr(torch_models, torch_class)(num_classes=101, **torch_kwargs), shape)
    assert matmul_like_flops(result) == expected


def test_resnet50_matches_the_published_figure():
    # torchvision publishes ResNet-50 at 224 px as 4.09 G(MAC)s; TSN with one segment is that network.
    result = flops.count_model(create_model("tsn", num_classes=1000), (1, 1, 3, 224, 224))
    assert result["macs"] / 1e9 == pytest.approx(4.09, abs=0.015)
    assert result["trainable_params"] == 25_557_032  # torchvision's ResNet-50 parameter count


class _Tiny(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 4, 3, pad_mode="valid", has_bias=False)
        self.bn = nn.BatchNorm3d(4)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool3d(2, 2)
        self.fc = nn.Dense(4, 5)

    def construct(self, x):
        x = self.pool(self.relu(self.bn(self.conv(x))))
        return self.fc(x.mean(axis=(2, 3, 4)))


def test_counts_by_hand_on_a_small_network():
    result = flops.count_model(_Tiny(), (1, 2, 6, 6, 6))
    conv_out = 4 * 4 * 4 * 4  # 4 channels of 4x4x4
    by_kind = result["by_kind"]
    assert by_kind["convolution"]["macs"] == conv_out * 2 * 27
    assert by_kind["batch norm"]["macs"] == conv_out
    assert by_kind["activation"]["ops"] == conv_out
    assert by_kind["pooling"]["ops"] == (4 * 2 * 2 * 2) * 8
    assert by_kind["dense"]["macs"] == 4 * 5
    assert result["flops"] == 2 * (conv_out * 54 + conv_out + 20) + conv_out + 256
    assert result["trainable_params"] == 2 * 4 * 27 + 2 * 4 + 4 * 5 + 5
    assert list(result["by_block"]) == ["conv", "bn", "relu", "pool", "fc"]


def test_command_line_prints_table_and_json(tmp_path, capsys):
    output = tmp_path / "i3d.json"
    assert flops.main(["--model", "i3d", "--input", "1,3,8,64,64", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "GMACs" in printed and "Mixed_5c" in printed and "12,390,789 trainable" in printed
    saved = json.loads(output.read_text())
    assert json.loads(printed.strip().splitlines()[-1]) == saved
    assert saved["model"] == "i3d" and saved["input"] == [1, 3, 8, 64, 64] and saved["macs"] > 0


def test_command_line_uses_the_config_and_reports_bad_input(capsys):
    assert flops.main(["--config_path", "configs/tsn/ucf101_rgb.yaml", "--kwargs",
                       "test_num_segments=2,spatial_size=64"]) == 0
    assert "input (1, 2, 3, 64, 64)" in capsys.readouterr().out
    assert flops.main(["--model", "i3d", "--input", "1,3,x"]) == 2
    assert "--input must be comma-separated integers" in capsys.readouterr().err
    assert flops.main(["--model", "nosuch"]) == 2
    assert "unknown model 'nosuch'" in capsys.readouterr().err


def test_counting_leaves_the_network_and_context_as_they_were():
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_model("resnet3d", num_classes=3, model_depth=10)
    before = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    flops.count_model(net, (1, 3, 4, 32, 32))
    assert ms.get_context("mode") == ms.GRAPH_MODE
    assert all(np.array_equal(before[p.name], p.asnumpy()) for p in net.get_parameters())
    assert ms.ops.matmul.__name__ == "matmul"  # the counting wrappers are gone
