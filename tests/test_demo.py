"""The demo's recognizers: each trains an RGB and a flow stream from its demo configs."""
import os

import pytest

from src.config import load_config
from src.demo.runner import _history, _trained_all_epochs, format_table
from src.models.registry import in_channels_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("model", ["i3d", "resnet3d", "tsn"])
def test_demo_configs_of_both_streams(model):
    rgb = load_config(os.path.join(ROOT, "configs", model, "demo_rgb.yaml"))
    flow = load_config(os.path.join(ROOT, "configs", model, "demo_flow.yaml"))
    assert (rgb.model, rgb.mode, flow.model, flow.mode) == (model, "rgb", model, "flow")
    assert rgb.num_classes == flow.num_classes == 6 and not rgb.checkpoint_path
    assert not rgb.flip and not flow.flip  # a mirrored demo clip shows the opposite class
    assert flow.video_path.endswith("flow") and rgb.video_path.endswith("jpg")
    assert in_channels_for(rgb) == 3 and in_channels_for(flow) in (2, 10)
    assert rgb.save_dir != flow.save_dir


def test_summary_table():
    table = format_table("tsn", {"flow top-1": 97.2222, "fusion": "logits_sum"})
    assert table.splitlines() == ["| tsn | value |", "|---|---|", "| flow top-1 | 97.22 |", "| fusion | logits_sum |"]


def test_a_finished_training_is_not_run_again(tmp_path):
    history = tmp_path / "history.json"
    cfg = load_config("", {"num_epochs": 3})
    assert _history(str(history)) == [] and not _trained_all_epochs([], cfg)
    history.write_text('[{"epoch": 1}, {"epoch": 2}]')
    assert not _trained_all_epochs(_history(str(history)), cfg)
    history.write_text('[{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]')
    assert _trained_all_epochs(_history(str(history)), cfg)
