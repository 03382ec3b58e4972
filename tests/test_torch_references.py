"""The PyTorch twins the speed benchmark times have the public models' parameter counts, and the
zoo's networks have the same."""
import pytest

from benchmarks.torch_models import TorchI3D, TorchResNet3d, TorchTSN, trainable_count
from src.models import create_model


def ms_trainable_count(net) -> int:
    return int(sum(param.size for param in net.trainable_params()))


@pytest.mark.parametrize("torch_model,ms_name,ms_kwargs,expected", [
    (lambda: TorchI3D(101, 3), "i3d", {"num_classes": 101, "in_channels": 3}, 12_390_789),
    (lambda: TorchI3D(101, 2), "i3d", {"num_classes": 101, "in_channels": 2}, 12_368_837),
    (lambda: TorchResNet3d(50, 101), "resnet3d", {"num_classes": 101, "model_depth": 50}, 46_405_925),
    (lambda: TorchResNet3d(18, 101), "resnet3d", {"num_classes": 101, "model_depth": 18}, None),
    (lambda: TorchTSN(101), "tsn", {"num_classes": 101}, 23_714_981),
    (lambda: TorchTSN(101, depth=18), "tsn", {"num_classes": 101, "depth": 18}, None),
    (lambda: TorchTSN(101, depth=34), "tsn", {"num_classes": 101, "depth": 34}, None),
])
def test_twins_match_the_zoo_and_the_public_counts(torch_model, ms_name, ms_kwargs, expected):
    count = trainable_count(torch_model())
    assert count == ms_trainable_count(create_model(ms_name, **ms_kwargs))
    if expected is not None:
        assert count == expected


def test_tsn_backbones_are_torchvision_resnets():
    # torchvision's resnet18/34/50() (1000 ImageNet classes) have 11,689,512 / 21,797,672 / 25,557,032 parameters
    assert trainable_count(TorchTSN(1000, depth=18)) == 11_689_512
    assert trainable_count(TorchTSN(1000, depth=34)) == 21_797_672
    assert trainable_count(TorchTSN(1000)) == 25_557_032
