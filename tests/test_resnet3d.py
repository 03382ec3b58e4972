"""3D-ResNet: parameter counts, shapes, PyTorch weight conversion, configs and a training step."""
import glob
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import mindspore as ms
from mindspore import Tensor, nn

from src.config import load_config
from src.models import build_model_from_config, create_model
from src.models.registry import model_kwargs_from_config
from src.models.resnet3d import ResNet3d
from src.models.weights import convert_torch_state_dict, ms_to_torch_name

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs", "resnet3d")


@pytest.fixture(autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms.set_seed(0)


def trainable_count(net) -> int:
    return int(sum(param.size for param in net.trainable_params()))


# --- an independent PyTorch reference of the 3D-ResNets-PyTorch layout --------------------------

class TorchBasicBlock(torch.nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride, downsample):
        super().__init__()
        self.conv1 = torch.nn.Conv3d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm3d(planes)
        self.conv2 = torch.nn.Conv3d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchBottleneck(torch.nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride, downsample):
        super().__init__()
        self.conv1 = torch.nn.Conv3d(in_planes, planes, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm3d(planes)
        self.conv2 = torch.nn.Conv3d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm3d(planes)
        self.conv3 = torch.nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm3d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchZeroPad(torch.nn.Module):
    def __init__(self, out_planes, stride):
        super().__init__()
        self.out_planes, self.stride = out_planes, stride

    def forward(self, x):
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        pad = torch.zeros(out.shape[0], self.out_planes - out.shape[1], *out.shape[2:])
        return torch.cat([out, pad], dim=1)


class TorchResNet3d(torch.nn.Module):
    LAYOUT = {10: (TorchBasicBlock, [1, 1, 1, 1]), 18: (TorchBasicBlock, [2, 2, 2, 2]),
              50: (TorchBottleneck, [3, 4, 6, 3])}

    def __init__(self, depth, num_classes, in_channels=3, shortcut="B"):
        super().__init__()
        block, counts = self.LAYOUT[depth]
        self.conv1 = torch.nn.Conv3d(in_channels, 64, (7, 7, 7), (1, 2, 2), (3, 3, 3), bias=False)
        self.bn1 = torch.nn.BatchNorm3d(64)
        self.in_planes = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if index == 0 else 2
            out_planes = planes * block.expansion
            downsample = None
            if stride != 1 or self.in_planes != out_planes:
                downsample = (TorchZeroPad(out_planes, stride) if shortcut == "A" else torch.nn.Sequential(
                    torch.nn.Conv3d(self.in_planes, out_planes, 1, stride, bias=False),
                    torch.nn.BatchNorm3d(out_planes)))
            blocks = [block(self.in_planes, planes, stride, downsample)]
            blocks += [block(out_planes, planes, 1, None) for _ in range(1, count)]
            self.in_planes = out_planes
            setattr(self, f"layer{index + 1}", torch.nn.Sequential(*blocks))
        self.fc = torch.nn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3, 4)))


def randomised_torch_net(depth, num_classes, in_channels=3, shortcut="B", seed=0):
    """A torch reference with non-trivial BN statistics (so a swapped mean/var would show)."""
    torch.manual_seed(seed)
    net = TorchResNet3d(depth, num_classes, in_channels, shortcut)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(7)
    return net.eval()


def load_into(net, params):
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    assert not not_loaded


# --- tests ----------------------------------------------------------------------------------

def test_r3d50_parameter_count_matches_reference():
    assert trainable_count(create_model("resnet3d", num_classes=101, model_depth=50)) == 46_405_925


def test_shortcut_a_has_no_projection_parameters():
    net_a = ResNet3d(num_classes=101, model_depth=18, shortcut_type="A")
    net_b = ResNet3d(num_classes=101, model_depth=18, shortcut_type="B")
    assert not any("downsample" in param.name for param in net_a.get_parameters())
    # B adds conv (in x out) + BN (2 x out) for stages 2-4: 64->128, 128->256, 256->512.
    projections = sum(cin * cout + 2 * cout for cin, cout in ((64, 128), (128, 256), (256, 512)))
    assert trainable_count(net_b) - trainable_count(net_a) == projections


@pytest.mark.parametrize("depth, size", [(10, 64), (18, 112), (34, 64), (50, 64)])
def test_output_shapes(depth, size):
    net = ResNet3d(num_classes=7, model_depth=depth)
    net.set_train(False)
    out = net(Tensor(np.random.rand(1, 3, 16, size, size).astype(np.float32)))
    assert out.shape == (1, 7)
    assert np.isfinite(out.asnumpy()).all()


def test_widen_factor_and_no_max_pool():
    net = ResNet3d(num_classes=5, model_depth=10, widen_factor=0.5, no_max_pool=True, in_channels=2)
    assert net.fc.weight.shape == (5, 256)
    assert net.conv1.weight.shape == (32, 2, 7, 7, 7)
    net.set_train(False)
    assert net(Tensor(np.random.rand(2, 2, 8, 32, 32).astype(np.float32))).shape == (2, 5)


def test_key_set_of_r3d50_equals_pytorch_layout():
    torch_net = TorchResNet3d(50, 101)
    torch_shapes = {key: tuple(value.shape) for key, value in torch_net.state_dict().items()
                    if not key.endswith("num_batches_tracked")}
    net = ResNet3d(num_classes=101, model_depth=50)
    ms_shapes = {ms_to_torch_name(param.name, net.TORCH_KEY_RENAMES): tuple(param.shape)
                 for param in net.get_parameters()}
    assert ms_shapes == torch_shapes
    assert "layer1.0.downsample.1.running_mean" in ms_shapes


@pytest.mark.parametrize("shortcut", ["B", "A"])
def test_converted_r3d10_matches_pytorch(shortcut):
    torch_net = randomised_torch_net(10, 6, shortcut=shortcut)
    x = np.random.RandomState(1).rand(2, 3, 8, 48, 48).astype(np.float32)
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(x)).numpy()
    net = ResNet3d(num_classes=6, model_depth=10, shortcut_type=shortcut)
    load_into(net, convert_torch_state_dict(net, torch_net.state_dict()))
    net.set_train(False)
    np.testing.assert_allclose(net(Tensor(x)).asnumpy(), expected, rtol=1e-3, atol=1e-4)


def test_conversion_reports_bad_keys():
    state = {key: value for key, value in randomised_torch_net(10, 6).state_dict().items()}
    state["layer1.0.conv1.weights"] = state.pop("layer1.0.conv1.weight")
    state["fc.weight"] = torch.zeros(9, 512)
    net = ResNet3d(num_classes=6, model_depth=10)
    with pytest.raises(ValueError) as error:
        convert_torch_state_dict(net, state, source="r3d10.pth")
    message = str(error.value)
    assert "r3d10.pth" in message
    assert "layer1.0.conv1.weight" in message and "layer1.0.conv1.weights" in message
    assert "fc.weight" in message and "9" in message


class _LossNet(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

    def construct(self, x, y):
        return self.loss(self.net(x), y)


@pytest.mark.parametrize("depth", [10, 18])
def test_training_steps_lower_the_loss(depth):
    net = ResNet3d(num_classes=4, model_depth=depth)
    loss_net = _LossNet(net)
    step = nn.TrainOneStepCell(loss_net, nn.SGD(net.trainable_params(), learning_rate=0.01, momentum=0.9))
    step.set_train(True)
    rng = np.random.RandomState(0)
    x = Tensor(rng.rand(2, 3, 8, 32, 32).astype(np.float32))
    y = Tensor(np.array([1, 3], dtype=np.int32))
    losses = [float(step(x, y).asnumpy()) for _ in range(6)]
    assert losses[-1] < losses[0] * 0.7, losses


def test_configs_build_the_right_networks():
    paths = sorted(glob.glob(os.path.join(CONFIG_DIR, "[!_]*.yaml")))
    assert {os.path.basename(path) for path in paths} == {"ucf101.yaml", "hmdb51.yaml", "demo_rgb.yaml",
                                                          "demo_flow.yaml"}
    for path in paths:
        cfg = load_config(path)
        kwargs = model_kwargs_from_config(cfg)
        assert cfg.model == "resnet3d" and kwargs["in_channels"] == (2 if path.endswith("flow.yaml") else 3)
        assert kwargs["model_depth"] == (18 if "demo" in path else 50)
        assert cfg.train_sample_duration == 16 and cfg.spatial_size == 112 and cfg.normalize == "meanstd"
    ucf101 = load_config(os.path.join(CONFIG_DIR, "ucf101.yaml"))
    assert (ucf101.optimizer, ucf101.lr, ucf101.momentum, ucf101.weight_decay, ucf101.batch_size) == \
        ("sgd", 0.01, 0.9, 1e-4, 128)
    assert ucf101.finetune_num_classes == 101 and ucf101.resize_short == 128
    demo = build_model_from_config(load_config(os.path.join(CONFIG_DIR, "demo_flow.yaml")))
    assert isinstance(demo, ResNet3d) and len(demo.layer1) == 2
    assert demo.conv1.weight.shape[1] == 2 and demo.fc.weight.shape[0] == 6
