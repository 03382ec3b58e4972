"""3D-ResNet: parameter counts, shapes, PyTorch weight conversion, configs and a training step."""
import glob
import os

import numpy as np
import pytest
import torch
import mindspore as ms
from mindspore import Tensor, nn

from benchmarks.torch_models import TorchResNet3d
from src.config import get_config, load_config
from src.models import build_model_from_config, create_model
from src.models.registry import model_kwargs_from_config
from src.models.resnet3d import ResNet3d
from src.models.weights import convert_torch_state_dict, is_run_state, learnt_parameters, ms_to_torch_name

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs", "resnet3d")


@pytest.fixture(autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms.set_seed(0)


def trainable_count(net) -> int:
    return int(sum(param.size for param in net.trainable_params()))


def randomised_torch_net(depth, num_classes, in_channels=3, shortcut="B", seed=0, **stem):
    """A torch reference with non-trivial BN statistics (so a swapped mean/var would show)."""
    torch.manual_seed(seed)
    net = TorchResNet3d(depth, num_classes, in_channels, shortcut, **stem)
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
    assert not [name for name in not_loaded if not is_run_state(name)]


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
                 for param in learnt_parameters(net)}
    assert ms_shapes == torch_shapes
    assert "layer1.0.downsample.1.running_mean" in ms_shapes


# the third case: 3D-ResNets-PyTorch's --conv1_t_size / --conv1_t_stride (a shorter, strided temporal stem)
@pytest.mark.parametrize("shortcut, stem", [("B", {}), ("A", {}), ("B", {"conv1_t_size": 3, "conv1_t_stride": 2})])
def test_converted_r3d10_matches_pytorch(shortcut, stem):
    torch_net = randomised_torch_net(10, 6, shortcut=shortcut, **stem)
    x = np.random.RandomState(1).rand(2, 3, 8, 48, 48).astype(np.float32)
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(x)).numpy()
    net = ResNet3d(num_classes=6, model_depth=10, shortcut_type=shortcut, **stem)
    assert net.conv1.weight.shape == (64, 3, stem.get("conv1_t_size", 7), 7, 7)
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
        # the demo configs take the I3D demo's small clips (56 px crops) so that a CPU trains them in minutes
        assert cfg.train_sample_duration == 16 and cfg.normalize == "meanstd"
        assert cfg.spatial_size == (56 if "demo" in path else 112)
    ucf101 = load_config(os.path.join(CONFIG_DIR, "ucf101.yaml"))
    assert (ucf101.optimizer, ucf101.lr, ucf101.momentum, ucf101.weight_decay, ucf101.batch_size) == \
        ("sgd", 0.01, 0.9, 1e-4, 128)
    assert ucf101.finetune_num_classes == 101 and ucf101.resize_short == 128
    demo = build_model_from_config(load_config(os.path.join(CONFIG_DIR, "demo_flow.yaml")))
    assert isinstance(demo, ResNet3d) and len(demo.layer1) == 2
    # the demo's stem spans 3 frames (the flow config inherits it); the full recipes keep the paper's 7
    assert demo.conv1.weight.shape == (64, 2, 3, 7, 7) and demo.fc.weight.shape[0] == 6
    assert model_kwargs_from_config(ucf101)["conv1_t_size"] == 7
    override = get_config(["--config_path", os.path.join(CONFIG_DIR, "ucf101.yaml"), "--conv1_t_size", "5",
                           "--conv1_t_stride", "2"])
    override_kwargs = model_kwargs_from_config(override)
    assert (override_kwargs["conv1_t_size"], override_kwargs["conv1_t_stride"]) == (5, 2)
