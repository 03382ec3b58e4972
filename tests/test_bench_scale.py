"""benchmarks/bench_scale.py: its smallest run measures every condition and writes its table, fits and
plot; its fits are right on known numbers (nothing is timed here)."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks.bench_scale import bytes_per_entry, loglog_slope

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_smallest_run_writes_rows_fits_and_plot(tmp_path):
    output = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_scale.py"), "--sizes", "20,40",
                           "--splits", "validation", "--smoke_sizes", "", "--work_dir", str(tmp_path / "data"),
                           "--output", str(output)],
                          cwd=ROOT, env=dict(os.environ, GLOG_v="3"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(output.read_text(encoding="utf-8"))
    conditions = {(row["layout"], row["condition"], row["size"]) for row in payload["rows"]}
    assert conditions == {(layout, condition, size) for layout in ("frames", "video")
                          for condition in ("counted", "uncounted") for size in (20, 40)}
    for row in payload["rows"]:
        assert row["entries"] == row["size"] and 0 < row["index_s"] < row["first_batch_s"]
        assert row["main_peak_mib"] > 0 and row["worker_peak_mib"] > 0
        assert (row["cache_mb"] > 0) == (row["layout"] == "video" and row["condition"] == "counted")
    assert len(payload["fits"]) == 4 and payload["count_frames_s_per_video"] > 0
    assert os.path.isfile(tmp_path / "scale.png")


def test_fits_give_the_growth_exponent_and_the_bytes_per_entry():
    sizes = [1000, 10000, 100000]
    assert loglog_slope(sizes, [0.5 * n for n in sizes]) == pytest.approx(1.0)
    assert loglog_slope(sizes, [2.0 * n ** 0.5 for n in sizes]) == pytest.approx(0.5)
    mib = [400 + 700 * n / 2 ** 20 for n in sizes]  # 700 bytes per entry above a 400 MiB baseline
    assert bytes_per_entry(sizes, mib) == pytest.approx(700)
