"""Raw videos -> snippet features -> BMN -> proposals (src.applications.proposals), inference-only
proposals of unlabelled videos, and the metric command on both ground-truth layouts."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from src.applications import proposals as long_videos
from src.config import load_config
from src.demo.make_bmn_demo import MIN_GAP, plan_events
from src.infer import backends
from src.models import build_model_from_config
from src.models.weights import save_checkpoint_atomic
from src.proposals.bmn_proposals import write_proposals
from src.tasks.localization.evaluation import score_proposals
from src.tools.cli import ToolError
from src.tools.data import extract_features
from src.tools.data.extract_features import bsn_rescale, check_feature_length, read_feature_csv, read_video_info, \
    stream_specs
from src.tools.eval_proposals import main as metric_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSCALE = 8


def write_video(path, frames, seed):
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    x = 5.0
    for index in range(frames):
        frame = np.full((48, 64, 3), 90, np.uint8)
        x = (x + (3 if 10 <= index < 30 else 0)) % 50
        cv2.rectangle(frame, (int(x), 15), (int(x) + 12, 30), tuple(int(c) for c in rng.integers(150, 255, 3)), -1)
        writer.write(frame)
    writer.release()


def write_small_models(folder) -> None:
    """``r3d.yaml`` / ``r3d.ckpt`` (an R3D-10 recognizer at 32 px) and ``bmn.yaml`` / ``bmn.ckpt`` (a BMN of
    ``TSCALE`` steps on its 512 features), random weights, in ``folder``."""
    recognizer = folder / "r3d.yaml"
    recognizer.write_text(f"_base_: {ROOT}/configs/resnet3d/demo_rgb.yaml\nmodel_depth: 10\nresize_short: 36\n"
                          f"spatial_size: 32\ncontext: py\n")
    save_checkpoint_atomic(build_model_from_config(load_config(str(recognizer))), str(folder / "r3d.ckpt"))
    bmn_yaml = folder / "bmn.yaml"
    bmn_yaml.write_text(f"_base_: {ROOT}/configs/bmn/activitynet_start_end.yaml\ntscale: {TSCALE}\nfeat_dim: 512\n"
                        f"num_sample: 4\ncontext: py\n")
    save_checkpoint_atomic(build_model_from_config(load_config(str(bmn_yaml))), str(folder / "bmn.ckpt"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    videos = folder / "videos"
    videos.mkdir()
    write_video(videos / "clip_a.avi", 48, 0)
    write_video(videos / "clip_b.avi", 64, 1)
    write_video(videos / "tiny.avi", 6, 2)  # shorter than one snippet
    write_small_models(folder)
    return folder


def run(setup, out, *extra):
    return long_videos.main(["--src_path", str(setup / "videos"), "--out_dir", str(out),
                             "--rgb_config", str(setup / "r3d.yaml"), "--rgb_checkpoint", str(setup / "r3d.ckpt"),
                             "--bmn_config", str(setup / "bmn.yaml"), "--bmn_checkpoint", str(setup / "bmn.ckpt"),
                             "--snippet_frames", "8", "--interval", "8"] + list(extra))


@pytest.fixture(scope="module")
def on_mindspore(setup, tmp_path_factory):
    """Output folder of the pipeline run by MindSpore: what the other backend must give."""
    out = tmp_path_factory.mktemp("on_mindspore")
    assert run(setup, out, "--backend", "mindspore") == 1  # tiny.avi skipped
    return out


@pytest.mark.parametrize("backend", ["mindspore", "onnxruntime"])
def test_raw_videos_to_proposals_without_ground_truth(setup, on_mindspore, backend, tmp_path, capsys, zoo_log):
    assert run(setup, tmp_path / "out", "--backend", backend) == 1  # tiny.avi skipped
    # BMN's line, and the recognizer's unless this process built it already (a stream is built once)
    assert {m.split(" (")[0] for m in zoo_log if m.startswith("inference: ")} == {f"inference: {backend}"}
    captured = capsys.readouterr()
    assert "tiny: " in captured.err and "fewer than one snippet of 8" in captured.err
    assert "inference only (no ground truth)" in captured.out
    results = json.loads((tmp_path / "out" / "proposals.json").read_text())["results"]
    assert sorted(results) == ["clip_a", "clip_b"]
    info = read_video_info(str(tmp_path / "out" / "features" / "video_info_new.csv"))
    assert info["v_clip_b"]["numFrame"] == "64" and info["v_clip_b"]["featureFrame"] == "64"
    for video, frames in (("clip_a", 48), ("clip_b", 64)):
        assert results[video] and all(0 <= p["segment"][0] < p["segment"][1] <= frames / 25.0 + 1e-6
                                      for p in results[video])
        assert read_feature_csv(str(tmp_path / "out" / "features" / f"v_{video}.csv")).shape == (TSCALE, 512)
        assert (tmp_path / "out" / "timelines" / f"{video}.png").read_bytes()[:4] == b"\x89PNG"
    assert "AUC" not in json.loads((tmp_path / "out" / "metrics.json").read_text())
    # the recognizer's features and BMN's proposals are MindSpore's
    for video in ("clip_a", "clip_b"):
        np.testing.assert_allclose(read_feature_csv(str(tmp_path / "out" / "features" / f"v_{video}.csv")),
                                   read_feature_csv(str(on_mindspore / "features" / f"v_{video}.csv")),
                                   rtol=0, atol=1e-5)
    expected = json.loads((on_mindspore / "proposals.json").read_text())["results"]
    for video, proposals in results.items():
        assert [p["segment"] for p in proposals] == [p["segment"] for p in expected[video]]
        np.testing.assert_allclose([p["score"] for p in proposals], [p["score"] for p in expected[video]],
                                   rtol=1e-5)


def test_feature_command_on_onnxruntime_gives_the_features_of_mindspore(setup, on_mindspore, tmp_path, monkeypatch):
    threads = []  # MindSpore takes a thread count once per process: recorded, not set
    monkeypatch.setattr(backends, "set_cpu_threads", threads.append)
    assert extract_features.main(["--src_path", str(setup / "videos" / "clip_a.avi"), "--dst_path", str(tmp_path),
                                  "--rgb_config", str(setup / "r3d.yaml"), "--rgb_checkpoint", str(setup / "r3d.ckpt"),
                                  "--snippet_frames", "8", "--interval", "8", "--tscale", str(TSCALE),
                                  "--backend", "onnxruntime", "--num_threads", "1"]) == 0
    assert threads == [1]
    np.testing.assert_allclose(read_feature_csv(str(tmp_path / "v_clip_a.csv")),
                               read_feature_csv(str(on_mindspore / "features" / "v_clip_a.csv")), rtol=0, atol=1e-5)


def test_raw_videos_to_proposals_with_bsn_ground_truth(setup, tmp_path, capsys):
    gt = {"v_clip_a": {"duration_second": 1.92, "subset": "validation",
                       "annotations": [{"segment": [0.4, 1.2], "label": "move"}]},
          "v_clip_b": {"duration_second": 2.56, "subset": "validation",
                       "annotations": [{"segment": [0.4, 1.2], "label": "move"}]}}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    assert run(setup, tmp_path / "out", "--ground_truth", str(tmp_path / "gt.json")) == 1  # tiny.avi skipped
    out = capsys.readouterr().out
    assert "2 video id(s) of" in out and "AR@100" in out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert 0.0 <= metrics["AUC"] <= 100.0 and metrics["videos"] == 2


def test_rescale_keeps_a_constant_and_averages_neighbours():
    features = np.arange(8, dtype=np.float32)[:, None].repeat(2, axis=1)
    halved = bsn_rescale(features, 4)
    # inside: the mean of the two snippets of the step; the ends hold the first / last snippet
    np.testing.assert_allclose(halved[1:3, 0], [2.5, 4.5], atol=1e-5)
    np.testing.assert_allclose(halved[[0, 3], 0], [5 / 9, 7 - 5 / 9], atol=1e-5)
    np.testing.assert_allclose(bsn_rescale(np.ones((5, 3)), 7), np.ones((7, 3)))


def test_unlabelled_videos_get_proposals_and_no_metric(tmp_path):
    cfg = load_config("", {"model": "bmn", "tscale": 6, "num_workers": 1, "bm_layout": "start_end"})
    rng = np.random.default_rng(0)
    outputs = [(f"vid{i}", 12.0, rng.random(6), rng.random(6), rng.random((2, 6, 6))) for i in range(2)]
    summary = score_proposals(outputs, {"vid0": [], "vid1": []}, cfg, str(tmp_path), "unlabelled")
    assert summary["inference_only"] and summary["num_videos"] == 2 and "AUC" not in summary
    results = json.loads((tmp_path / "bmn_proposals.json").read_text())["results"]
    assert sorted(results) == ["vid0", "vid1"] and all(results.values())


def test_metric_command_reads_the_bsn_layout_with_prefixed_ids(tmp_path, capsys):
    annotations = {"v_a": {"duration_second": 10.0, "duration_frame": 250, "feature_frame": 240,
                           "annotations": [{"segment": [1.0, 4.0], "label": "x"}]},
                   "v_b": {"duration_second": 10.0, "duration_frame": 250, "feature_frame": 240,
                           "annotations": [{"segment": [2.0, 6.0], "label": "x"}]},
                   "v_c": {"duration_second": 10.0, "duration_frame": 250, "feature_frame": 240,
                           "annotations": [{"segment": [0.0, 9.0], "label": "x"}]}}
    (tmp_path / "anet.json").write_text(json.dumps(annotations))
    (tmp_path / "info.csv").write_text("video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
                                       "v_a,250,10,25,25,validation,240\nv_b,250,10,25,25,validation,240\n"
                                       "v_c,250,10,25,25,training,240\n")
    proposals = write_proposals({"a": [{"segment": [1.0, 4.0], "score": 1.0}],
                                 "b": [{"segment": [2.0, 4.0], "score": 1.0}]}, str(tmp_path / "p.json"))
    args = ["--ground_truth", str(tmp_path / "anet.json"), "--proposals", proposals, "--max_avg_nr_proposals", "1"]
    assert metric_main(args) == 2
    assert "anet.json is in the BSN/BMN layout without a 'subset'" in capsys.readouterr().err
    assert metric_main(args + ["--video_info", str(tmp_path / "info.csv")]) == 0
    out = capsys.readouterr().out
    # a: exact (recall 1 at every threshold); b: tIoU 0.5 (recalled at 0.5 only: 0.1)
    assert "AR@100 55.00" in out and "2 video id(s) of" in out and "anet.json carry the v_ prefix" in out


def test_feature_length_that_disagrees_with_video_info_is_an_error_naming_both():
    row = {"video": "v_x", "featureFrame": "160"}
    check_feature_length("v_x.csv", np.zeros((10, 4)), row, 0, 16)
    with pytest.raises(ToolError, match=r"v_x.csv has 9 rows but its video_info row \(v_x: featureFrame 160"):
        check_feature_length("v_x.csv", np.zeros((9, 4)), row, 0, 16)
    with pytest.raises(ToolError, match="v_x.csv has 10 rows .* says 32"):
        check_feature_length("v_x.csv", np.zeros((10, 4)), row, 32, 16)


def test_streams_need_a_config_and_a_checkpoint(tmp_path):
    with pytest.raises(ToolError, match="give a recognizer"):
        stream_specs("", "")
    with pytest.raises(ToolError, match="give both --flow_config and --flow_checkpoint"):
        stream_specs("", "", "flow.yaml", "")
    with pytest.raises(ToolError, match="missing.ckpt does not exist"):
        stream_specs(os.path.join(ROOT, "configs", "bmn", "demo_recognizer.yaml"), str(tmp_path / "missing.ckpt"))


@pytest.mark.parametrize("module", ["src.tools.data.extract_features", "src.applications.proposals"])
def test_cli_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module} ")


def test_demo_configs_fit_together():
    recognizer = load_config(os.path.join(ROOT, "configs", "bmn", "demo_recognizer.yaml"))
    bmn = load_config(os.path.join(ROOT, "configs", "bmn", "demo.yaml"))
    start_end = load_config(os.path.join(ROOT, "configs", "bmn", "demo_start_end.yaml"))
    assert (recognizer.model, recognizer.mode, recognizer.num_classes) == ("resnet3d", "flow", 6)
    assert build_model_from_config(recognizer).num_features == bmn.feat_dim
    assert (bmn.bm_layout, start_end.bm_layout) == ("duration_start", "start_end")
    assert bmn.no_eval and bmn.duration_rule == "feature_frame" and start_end.save_dir != bmn.save_dir


@pytest.mark.parametrize("seed", range(5))
def test_demo_events_are_apart_and_inside_the_video(seed):
    frames = 300 + 40 * seed
    events = plan_events(np.random.default_rng(seed), frames)
    assert 1 <= len(events) <= 3
    bounds = [0] + [edge for first, end, _ in events for edge in (first, end)] + [frames]
    gaps = np.diff(bounds)[::2]  # before the first event, between events, after the last
    assert (gaps >= MIN_GAP).all() and all(end - first >= 0.08 * frames for first, end, _ in events)


def test_tsn_rgb_difference_features_read_a_spaced_segment_and_take_its_differences(tmp_path):
    from src.tools.data.extract_features import SnippetStream, StreamSpec
    config = tmp_path / "tsn_diff.yaml"
    config.write_text(f"_base_: {ROOT}/configs/tsn/demo_rgbdiff.yaml\nspatial_size: 32\ncontext: py\n")
    save_checkpoint_atomic(build_model_from_config(load_config(str(config))), str(tmp_path / "diff.ckpt"))
    stream = SnippetStream(StreamSpec(str(config), str(tmp_path / "diff.ckpt"), "rgb"))
    # 4 differences of 5 frames every 2nd frame: 9 frames centred in a 16-frame snippet
    np.testing.assert_array_equal(stream._snippet_frames(16, 16, 64), [19, 21, 23, 25, 27])
    still = np.repeat(np.random.default_rng(0).integers(0, 256, (1, 36, 36, 3), dtype=np.uint8), 32, axis=0)
    moving = np.stack([np.roll(still[0], 2 * k, axis=1) for k in range(32)])
    features = stream.features(still, 16, 16)
    assert features.shape == (2, 512)  # ResNet-18 features
    # a still video has no differences: its features are those of an all-zero input, whatever the picture
    np.testing.assert_allclose(features, stream.features(np.zeros_like(still), 16, 16), atol=1e-5)
    assert not np.allclose(stream.features(moving, 16, 16), features, atol=1e-3)


def test_features_of_a_checkpoint_with_other_classes_than_its_config(tmp_path):
    from src.tools.data.extract_features import SnippetStream, StreamSpec
    config = tmp_path / "tsn.yaml"
    config.write_text(f"_base_: {ROOT}/configs/tsn/demo_rgbdiff.yaml\nspatial_size: 32\ncontext: py\n")
    save_checkpoint_atomic(build_model_from_config(load_config(str(config), {"num_classes": 11})),
                           str(tmp_path / "eleven.ckpt"))
    # the config says 6 classes; features come before the classifier, so the checkpoint's 11 are taken
    stream = SnippetStream(StreamSpec(str(config), str(tmp_path / "eleven.ckpt"), "rgb"))
    frames = np.random.default_rng(0).integers(0, 256, (32, 36, 36, 3), dtype=np.uint8)
    assert stream.features(frames, 16, 16).shape == (2, 512)


def test_an_unusable_ground_truth_is_refused_before_any_feature_is_extracted(setup, tmp_path, capsys):
    (tmp_path / "anet.json").write_text(json.dumps({"v_a": {"duration_second": 10.0, "annotations": []}}))
    assert run(setup, tmp_path / "out", "--ground_truth", str(tmp_path / "anet.json")) == 2
    assert "without a 'subset' per video; pass --video_info" in capsys.readouterr().err
    assert not (tmp_path / "out" / "features").exists()
