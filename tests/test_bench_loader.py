"""benchmarks/bench_loader.py: its smallest run writes every field, and its arithmetic (nothing is timed)."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks.bench_loader import BMN_FEATURES_PER_S, I3D_CLIPS_PER_S, ceiling, feeding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_smallest_run_writes_rows_probes_profiles_feeding_and_chart(tmp_path):
    output = tmp_path / "results" / "loader.json"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_loader.py"), "--quick",
                           "--recipes", "r3d,bmn", "--clips", "4", "--work_dir", str(tmp_path / "data"),
                           "--output", str(output)],
                          cwd=ROOT, env=dict(os.environ, GLOG_v="3"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(output.read_text(encoding="utf-8"))
    assert {"machine", "load_average_1min", "data", "settings", "probes", "rows", "profiles", "feeding"} <= set(payload)
    assert payload["data"]["frames_per_video"] == 40 and payload["data"]["width"] == 171
    two = min(2, os.cpu_count())
    rows = payload["rows"]
    assert [(row["recipe"], row["source"], row["workers"]) for row in rows] == [
        ("r3d", "frames", 1), ("r3d", "frames", two), ("r3d", "video", 1), ("r3d", "video", two),
        ("bmn", "csv", 1), ("bmn", "csv", two)]
    assert len(payload["probes"]) == len(rows) + 1
    assert {"jpeg_rgb", "video_grab", "video_read"} == set(payload["probes"][0])
    for row in rows:
        assert row["clips"] > 0 and row["clips_per_s"] > 0
        assert row["clips_per_s_per_worker"] == pytest.approx(row["clips_per_s"] / row["workers"])
        if row["recipe"] == "bmn":
            assert row["ratio"] is None and row["ceiling_clips_per_s"] is None
            continue
        per_clip = row["decoded_per_clip"]
        assert per_clip["retrieved"] == per_clip["images"] == 16  # 16 consecutive frames of 40
        assert 16 <= per_clip["grabbed"] <= 40
        assert row["ratio"] == pytest.approx(row["clips_per_s_per_worker"] / row["ceiling_clips_per_s"])
    for profile in payload["profiles"].values():
        assert profile["getitem_s"] > 0 and profile["functions"][0]["function"]
    assert [entry["recipe"] for entry in payload["feeding"]] == ["bmn", "bmn"]
    assert os.path.isfile(tmp_path / "results" / "loader.png")


def test_ceilings_count_images_and_the_frames_a_video_reader_decodes():
    rates = {"jpeg_rgb": 1000.0, "jpeg_flow": 2000.0, "video_grab": 1000.0, "video_read": 500.0}
    per_clip = {"retrieved": 10.0, "grabbed": 100.0}
    assert ceiling("frames", False, per_clip, rates) == (pytest.approx(100.0), 1000.0)
    assert ceiling("frames", True, per_clip, rates) == (pytest.approx(100.0), 2000.0)  # x and y images
    # 100 frames decoded at 1 ms, 10 of them also converted at 2 - 1 ms
    assert ceiling("video", False, per_clip, rates) == (pytest.approx(1 / 0.11), 500.0)


def test_cores_needed_round_up_the_published_demand_over_the_rate_per_worker():
    rows = [{"recipe": "i3d_rgb", "source": "frames", "workers": 2, "clips_per_s_per_worker": 3.0,
             "ceiling_clips_per_s": 30.0},
            {"recipe": "bmn", "source": "csv", "workers": 1, "clips_per_s_per_worker": 50.0,
             "ceiling_clips_per_s": None},
            {"recipe": "r3d", "source": "frames", "workers": 1, "clips_per_s_per_worker": 9.0,
             "ceiling_clips_per_s": 90.0}]
    fed = feeding(rows)
    assert [(entry["recipe"], entry["cores"]) for entry in fed] == [("i3d_rgb", 10), ("bmn", 11)]
    assert I3D_CLIPS_PER_S == pytest.approx(64 / 2.2) and BMN_FEATURES_PER_S == 526
    assert fed[0]["cores_at_ceiling"] == 1 and "cores_at_ceiling" not in fed[1]
