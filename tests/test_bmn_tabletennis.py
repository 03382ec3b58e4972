"""Table-tennis long videos: window split / merge round trip, instance building and its report."""
import json
import os
import pickle

import numpy as np
import pytest

from src.applications import tabletennis
from src.applications.tabletennis import infer_video, rescale_features, split_windows
from src.config import load_config
from src.data.bmn_data import _build_source
from src.models import build_model_from_config
from src.models.weights import save_checkpoint_atomic
from src.proposals.bmn_proposals import SoftNMSParams

FPS, DIM = 25.0, 16


def marker_runner(windows):
    """A stand-in for BMN driven by the window content: channel 0 marks starts, channel 1 ends, so
    proposals must come back at the absolute times where the markers were written."""
    count, _, tscale = windows.shape
    start = 0.05 + 0.9 * windows[:, 0, :]
    end = 0.05 + 0.9 * windows[:, 1, :]
    confidence = np.full((count, 2, tscale, tscale), 0.9, dtype=np.float32)
    return confidence, start, end


def long_video(num_frames, actions):
    features = np.zeros((num_frames, DIM), dtype=np.float32)
    for first, last in actions:  # start marker on the first frame, end marker on the frame after the action
        features[first, 0] = 1.0
        features[last, 1] = 1.0
    return features


@pytest.mark.parametrize("window, tscale", [(100, 100), (100, 50)])
def test_proposals_of_a_long_video_land_at_absolute_times(window, tscale):
    actions = [(30, 70), (430, 470), (1210, 1290), (1810, 1830)]  # frames; video of 1850 frames
    features = long_video(1850, actions)
    windows, first_frames = split_windows(features, window, tscale)
    assert windows.shape == (19, DIM, tscale) and first_frames[-1] == 1800  # last window padded
    proposals = infer_video(features, marker_runner, window, tscale, FPS, SoftNMSParams(top_k=100),
                            proposals_per_window=3)
    best = sorted(proposals, key=lambda p: -p["score"])[:len(actions)]
    found = sorted(tuple(p["segment"]) for p in best)
    step = window / tscale / FPS  # the time resolution of one output step
    for (first, last), (begin, finish) in zip(actions, found):
        assert begin == pytest.approx(first / FPS, abs=step)
        assert finish == pytest.approx(last / FPS, abs=step)
    assert all(0 <= p["segment"][0] < p["segment"][1] <= 1850 / FPS for p in proposals)


def test_video_shorter_than_the_window_is_padded():
    features = long_video(60, [(10, 40)])
    windows, first_frames = split_windows(features, 100, 100)
    assert windows.shape == (1, DIM, 100) and first_frames.tolist() == [0]
    np.testing.assert_array_equal(windows[0, :, 60:], np.repeat(features[-1:].T, 40, axis=1))
    proposals = infer_video(features, marker_runner, 100, 100, FPS, SoftNMSParams(), proposals_per_window=2)
    assert max(p["segment"][1] for p in proposals) <= 60 / FPS


def test_rescale_halves_by_averaging_neighbours():
    values = np.arange(8, dtype=np.float32)[:, None]
    np.testing.assert_allclose(rescale_features(values, 4)[:, 0], [0.5, 2.5, 4.5, 6.5])


def write_collection(folder, videos, extra_pickles=()):
    """Pickles + labels JSON as in the competition data."""
    features_dir = folder / "features"
    features_dir.mkdir()
    gts = []
    for name, (num_frames, total_frames, actions) in videos.items():
        if num_frames:
            with open(features_dir / f"{name}.pkl", "wb") as handle:
                pickle.dump({"image_feature": np.ones((num_frames, DIM), dtype=np.float32)}, handle)
        gts.append({"url": f"http://x/{name}.mp4", "total_frames": total_frames,
                    "actions": [{"label_ids": [1], "label_names": ["stroke"], "start_id": s, "end_id": e}
                                for s, e in actions]})
    for name in extra_pickles:
        with open(features_dir / f"{name}.pkl", "wb") as handle:
            pickle.dump({"image_feature": np.ones((10, DIM), dtype=np.float32)}, handle)
    labels = folder / "labels.json"
    labels.write_text(json.dumps({"fps": FPS, "gts": gts}))
    return str(features_dir), str(labels)


def test_build_windows_and_report_mismatches(tmp_path):
    videos = {
        # 20 s of features but total_frames says 24 s; the last action runs past the features
        "match_a": (500, 600, [(1.0, 2.0), (5.0, 6.5), (12.0, 13.0), (19.0, 21.0), (4.0, 3.0)]),
        "short": (150, 150, [(1.0, 2.0)]),      # shorter than the 8 s window
        "no_pickle": (0, 300, [(1.0, 2.0)]),
    }
    features_dir, labels = write_collection(tmp_path, videos, extra_pickles=["unlabelled"])
    cfg = load_config("", {"model": "bmn", "tscale": 20, "feat_dim": DIM, "train_window_frames": 200})
    out_dir = tmp_path / "instances"
    summary = tabletennis.build(features_dir, {"training": labels}, str(out_dir), cfg, stride=100)
    problems = summary["problems"]
    assert problems["videos whose features and total_frames differ (the shorter is used)"] == 1
    assert problems["actions running past the video, clipped to it"] == 1
    assert problems["actions with end <= start (dropped)"] == 1
    assert problems["videos shorter than the 200-frame window (skipped)"] == 1
    assert problems["pickles without labels (ignored)"] == 1
    assert any(key.startswith("labelled videos without a pickle") for key in problems)
    label_json = json.loads((out_dir / "label.json").read_text())
    # windows every 4 s over the 20 s of features; each holds whole actions and cuts none; the last
    # one ends with the action clipped at 20 s
    assert sorted(label_json) == ["match_a_0_200", "match_a_100_300", "match_a_200_400", "match_a_300_500"]
    assert label_json["match_a_100_300"]["annotations"][0]["segment"] == [1.0, 2.5]
    assert [a["segment"] for a in label_json["match_a_300_500"]["annotations"]] == [[0.0, 1.0], [7.0, 8.0]]
    assert np.load(out_dir / "features" / "match_a_0_200.npy").shape == (20, DIM)
    assert json.loads((out_dir / tabletennis.REPORT_FILE).read_text())["instances"] == {"training": 4}
    # the BMN loader reads the instances as they are (PaddleVideo layout, no video_info file)
    source, report = _build_source(str(out_dir / "label.json"), "", str(out_dir / "features"), "train", 20, DIM)
    assert len(source) == 4 and not report.counts


def test_cli_errors_are_clear(tmp_path, capsys):
    status = tabletennis.main(["build", "--feature_dir", str(tmp_path / "missing"), "--train_labels",
                               str(tmp_path / "labels.json"), "--out_dir", str(tmp_path / "out")])
    assert status == 2
    assert "feature folder" in capsys.readouterr().err


def small_bmn(tmp_path):
    """``(config, features folder)`` of a small random BMN saved as ``tmp_path/bmn.ckpt``."""
    config = tmp_path / "bmn.yaml"
    config.write_text(f"_base_: {os.path.normpath(tabletennis.DEFAULT_CONFIG)}\ntscale: 8\n"
                      f"feat_dim: {DIM}\nnum_sample: 4\nwindow_frames: 20\ncontext: py\n")
    save_checkpoint_atomic(build_model_from_config(load_config(str(config))), str(tmp_path / "bmn.ckpt"))
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    return config, features_dir


def test_infer_gives_the_same_proposals_on_both_backends(tmp_path, zoo_log):
    """The infer command with a (random) BMN: MindSpore and ONNX Runtime write the same submission."""
    config, features_dir = small_bmn(tmp_path)
    rng = np.random.default_rng(0)
    for name, frames in (("match_a", 50), ("match_b", 12)):  # three windows (the last padded); one short
        with open(features_dir / f"{name}.pkl", "wb") as handle:
            pickle.dump({"image_feature": rng.standard_normal((frames, DIM)).astype(np.float32)}, handle)
    results = {}
    for backend in ("mindspore", "onnxruntime"):
        out = tmp_path / f"{backend}.json"
        assert tabletennis.main(["infer", "--feature_dir", str(features_dir), "--checkpoint_path",
                                 str(tmp_path / "bmn.ckpt"), "--config_path", str(config), "--out", str(out),
                                 "--batch_size", "2", "--backend", backend]) == 0
        results[backend] = json.loads(out.read_text())["results"]
    assert [m.split(" (")[0] for m in zoo_log if m.startswith("inference: ")] == \
        ["inference: mindspore", "inference: onnxruntime"]
    assert sorted(results["mindspore"]) == ["match_a", "match_b"] and all(results["mindspore"].values())
    for video, proposals in results["mindspore"].items():
        other = results["onnxruntime"][video]
        assert [p["segment"] for p in proposals] == [p["segment"] for p in other]
        np.testing.assert_allclose([p["score"] for p in proposals], [p["score"] for p in other], rtol=1e-5)


def test_infer_skips_unreadable_features_and_says_so(tmp_path, capsys):
    config, features_dir = small_bmn(tmp_path)
    with open(features_dir / "match_a.pkl", "wb") as handle:
        pickle.dump({"image_feature": np.zeros((30, DIM), np.float32)}, handle)
    (features_dir / "match_b.pkl").write_bytes(b"\x80\x04 truncated")
    args = ["infer", "--feature_dir", str(features_dir), "--checkpoint_path", str(tmp_path / "bmn.ckpt"),
            "--config_path", str(config), "--out", str(tmp_path / "out.json"), "--backend", "mindspore"]
    assert tabletennis.main(args) == 1
    err = capsys.readouterr().err
    assert "SKIPPED match_b" in err and "match_b.pkl" in err and "1 of 2 videos skipped" in err
    assert sorted(json.loads((tmp_path / "out.json").read_text())["results"]) == ["match_a"]
    assert tabletennis.main(args + ["--strict", "true"]) == 2
    assert "match_b.pkl" in capsys.readouterr().err
    (features_dir / "match_a.pkl").write_bytes(b"")
    assert tabletennis.main(args) == 2  # nothing readable: an error, not "0 proposals"
    assert "none of the 2 feature files" in capsys.readouterr().err
