"""The per-operator profile summary read from the MindSpore profiler's CPU tables."""
import os

import pytest

from benchmarks.profile_ops import plot, summarise


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
    plot(summary, "test", str(tmp_path / "profile.png"))
    assert (tmp_path / "profile.png").stat().st_size > 0


def test_missing_profiler_tables_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="cpu_op_type_info_0.csv"):
        summarise(str(tmp_path), steps=1, top=1)
