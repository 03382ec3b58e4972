"""The per-operator profiles of both sides: MindSpore's CPU profiler tables, PyTorch's profiler
events, and the groups they are compared in."""
import os

import pytest

from benchmarks.profile_ops import (OTHER, group_table, op_group, plot, summarise, summarise_torch,
                                    torch_self_times)


def _write(folder, name, text):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
        handle.write(text)


def test_summary_per_step_shares_and_slowest(tmp_path):
    framework = tmp_path / "vm_1_ascend_ms" / "FRAMEWORK"
    _write(framework, "cpu_op_type_info_0.csv",
           "op_type,type_occurrences,execution_frequency(per-step),total_compute_time,avg_time(ms),percent\n"
           "ReLU,6,2,30.0,5.0,0.1\nConv2D,4,2,270.0,67.5,0.9\n")
    _write(framework, "cpu_op_detail_info_0.csv",
           "op_side,op_type,op_name,full_op_name,op_occurrences,op_total_time(ms),op_avg_time(ms),"
           "total_proportion,subgraph,pid\n"
           "Host,Conv2D,Conv2D-op0,Default/conv1/Conv2D-op0,3,90.0,30.0,0.3,Default,1\n"
           "Host,Conv2D,Conv2D-op1,Default/conv2/Conv2D-op1,3,180.0,60.0,0.6,Default,1\n"
           "Host,ReLU,ReLU-op0,Default/ReLU-op0,3,30.0,10.0,0.1,Default,1\n")
    summary = summarise(str(tmp_path), steps=3, top=2)
    assert summary["kernel_ms_per_step"] == pytest.approx(100.0)
    assert [row["op_type"] for row in summary["by_type"]] == ["Conv2D", "ReLU"]
    assert summary["by_type"][0]["share"] == pytest.approx(0.9)
    assert summary["by_type"][1]["instances"] == 2
    assert [row["op"] for row in summary["slowest"]] == ["Default/conv2/Conv2D-op1", "Default/conv1/Conv2D-op0"]
    assert summary["slowest"][0]["ms_per_step"] == pytest.approx(60.0)


def test_missing_profiler_tables_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="cpu_op_type_info_0.csv"):
        summarise(str(tmp_path), steps=1, top=1)


@pytest.mark.parametrize("name, group", [
    ("Conv3D", "convolution forward"), ("aten::mkldnn_convolution", "convolution forward"),
    ("Conv2DBackpropFilter", "convolution backward"), ("aten::convolution_backward", "convolution backward"),
    ("BatchNormGrad", "BatchNorm"), ("aten::native_batch_norm", "BatchNorm"),
    ("ApplyMomentum", "optimizer update"), ("aten::add_ (optimizer)", "optimizer update"),
    ("MaxPool3DGrad", "pooling"), ("aten::max_pool2d_with_indices", "pooling"),
    ("BiasAdd", "bias, ReLU, residual add"), ("ReluGrad", "bias, ReLU, residual add"),
    ("aten::threshold_backward", "bias, ReLU, residual add"), ("aten::add_", "bias, ReLU, residual add"),
    ("AddN", "bias, ReLU, residual add"),
    ("aten::addmm", OTHER), ("aten::empty", OTHER), ("Reshape", OTHER),
])
def test_both_frameworks_operators_fall_in_the_same_groups(name, group):
    assert op_group(name) == group


def test_pytorch_profile_separates_the_optimizer_and_sums_per_operator(tmp_path):
    import torch
    from torch.profiler import ProfilerActivity, profile

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([0, 1])
    steps = 2
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    totals = torch_self_times(profiler.events())
    assert all(name.startswith("aten::") for name in totals)
    assert any(name.endswith(" (optimizer)") for name in totals)
    assert totals["aten::convolution_backward"][1] == steps
    with open(tmp_path / "torch_ops.csv", "w", encoding="utf-8") as handle:
        handle.write("op,self_ms,calls\n" + "".join(f"{name},{ms},{calls}\n" for name, (ms, calls) in totals.items()))
    summary = summarise_torch(str(tmp_path), steps, top=3)
    assert summary["kernel_ms_per_step"] == pytest.approx(sum(ms for ms, _ in totals.values()) / steps)
    assert {row["op_type"]: row["instances"] for row in summary["by_type"]}["aten::convolution_backward"] == 1
    assert len(summary["slowest"]) == 3


def test_group_table_sums_each_side_and_plots_both(tmp_path):
    summaries = {
        "mindspore": {"by_type": [{"op_type": "Conv2D", "ms_per_step": 5.0}, {"op_type": "BiasAdd", "ms_per_step": 1.0},
                                  {"op_type": "ReLU", "ms_per_step": 2.0}]},
        "pytorch": {"by_type": [{"op_type": "aten::mkldnn_convolution", "ms_per_step": 6.0},
                                {"op_type": "aten::relu_", "ms_per_step": 1.5}, {"op_type": "aten::empty", "ms_per_step": 0.5}]},
    }
    table = {row["group"]: row for row in group_table(summaries)}
    assert table["convolution forward"] == {"group": "convolution forward", "mindspore": 5.0, "pytorch": 6.0}
    assert table["bias, ReLU, residual add"]["mindspore"] == pytest.approx(3.0)
    assert table[OTHER]["pytorch"] == pytest.approx(0.5)
    plot(group_table(summaries), "test", str(tmp_path / "profile.png"))
    assert (tmp_path / "profile.png").stat().st_size > 0
