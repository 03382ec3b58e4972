"""A new model is a model file plus a config: a recognizer and a localizer defined in this file
(nothing under src/) go through train -> eval -> export (MINDIR) -> preprocess -> MINDIR runner ->
postprocess with the public entry points and command-line overrides."""
import json
import runpy
import sys

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
import pytest

from src.infer import mindir_runner
from src.models.registry import list_models, register_model

ms.set_device("CPU")  # the entry points set the device, which MindSpore refuses once kernels ran


class ProbeRecognizer(nn.Cell):
    """The recognizer contract at its smallest: clips (B, C, T, H, W) -> logits."""

    def __init__(self, num_classes=2, in_channels=3, dropout_keep_prob=1.0):
        super().__init__()
        del dropout_keep_prob
        self.num_features = 6
        self.conv = nn.Conv3d(in_channels, self.num_features, 3, stride=(1, 2, 2), has_bias=True)
        self.fc = nn.Dense(self.num_features, num_classes)

    def reset_classifier(self, num_classes):
        self.fc = nn.Dense(self.num_features, num_classes)

    def forward_features(self, x):
        return ops.relu(self.conv(x)).mean(axis=(2, 3, 4))

    def construct(self, x):
        return self.fc(self.forward_features(x))


class ProbeLocalizer(nn.Cell):
    """The localizer contract at its smallest: (B, feat_dim, T) -> (confidence map (B, 2, T, T) in
    (duration, start) layout, start (B, T), end (B, T))."""

    def __init__(self, tscale=8, feat_dim=4):
        super().__init__()
        self.tscale = tscale
        self.hidden = nn.Conv1d(feat_dim, 8, 3, pad_mode="same", has_bias=True)
        self.boundaries = nn.Conv1d(8, 2, 1, has_bias=True)
        self.by_start = nn.Conv1d(8, 2, 1, has_bias=True)
        self.by_duration = nn.Conv1d(8, 2, 1, has_bias=True)

    def construct(self, x):
        hidden = ops.relu(self.hidden(x))
        boundaries = ops.sigmoid(self.boundaries(hidden))
        confidence = ops.sigmoid(self.by_duration(hidden).expand_dims(3) + self.by_start(hidden).expand_dims(2))
        return confidence, boundaries[:, 0], boundaries[:, 1]


if "probe_recognizer" not in list_models():
    register_model("probe_recognizer")(ProbeRecognizer)
    register_model("probe_localizer", layout="NCT", task="localization",
                   config_adapter=lambda cfg: {"tscale": cfg.tscale, "feat_dim": cfg.feat_dim})(
        lambda num_classes=None, **kwargs: ProbeLocalizer(**kwargs))


def run_entry(monkeypatch, script, *args):
    """Run a top-level entry point in this process (so it sees the models registered here)."""
    monkeypatch.setattr(sys, "argv", [script] + [str(arg) for arg in args])
    runpy.run_path(script, run_name="__main__")


def offline_chain(monkeypatch, tmp_path, common, checkpoint, batch_size):
    """export -> preprocess -> MINDIR runner -> postprocess; returns postprocess's results.json."""
    run_entry(monkeypatch, "export.py", *common, "--checkpoint_path", checkpoint, "--batch_size", batch_size,
              "--file_name", tmp_path / "exported")
    run_entry(monkeypatch, "preprocess.py", *common, "--batch_size", batch_size, "--pre_result_path", tmp_path / "pre")
    assert mindir_runner.main(["--mindir_path", str(tmp_path / "exported.mindir"), "--input_path",
                               str(tmp_path / "pre" / "00_data"), "--output_path", str(tmp_path / "infer")]) in (0, None)
    run_entry(monkeypatch, "postprocess.py", "--result_path", tmp_path / "infer", "--pre_result_path",
              tmp_path / "pre", "--postprocess_path", tmp_path / "post")
    return json.loads((tmp_path / "post" / "results.json").read_text())


def test_a_recognizer_defined_outside_src_runs_the_whole_chain(monkeypatch, tmp_path, tiny_frames):
    common = ["--model", "probe_recognizer", "--dataset", "demo", "--context", "py", "--num_classes", 2,
              "--video_path", tiny_frames / "jpg", "--annotation_path", tiny_frames / "anno.json",
              "--spatial_size", 16, "--resize_short", 20, "--train_sample_duration", 4,
              "--test_sample_duration", 4, "--num_val_samples", 2, "--num_workers", 1, "--dropout_keep_prob", 1.0]
    run_entry(monkeypatch, "train.py", *common, "--num_epochs", 2, "--batch_size", 2, "--lr", 0.05,
              "--save_dir", tmp_path / "train")
    history = json.loads((tmp_path / "train" / "checkpoints" / "history.json").read_text())
    assert [record["epoch"] for record in history] == [1, 2] and "top1" in history[-1]["eval"]
    best = tmp_path / "train" / "checkpoints" / "probe_recognizer_demo_rgb_best.ckpt"
    run_entry(monkeypatch, "eval.py", *common, "--checkpoint_path", best, "--save_dir", tmp_path / "eval")
    online = json.loads((tmp_path / "eval" / "results.json").read_text())
    offline = offline_chain(monkeypatch, tmp_path, common, best, batch_size=3)
    assert online["num_videos"] == offline["num_videos"] == 4 and offline["views_per_video"] == 2
    for key in ("top1", "top5", "mean_class_accuracy", "clip_top1"):
        assert offline[key] == pytest.approx(online[key], abs=1e-6)


def test_a_localizer_defined_outside_src_runs_the_whole_chain(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    database = {}
    (tmp_path / "features").mkdir()
    for k in range(8):
        name = f"v_probe{k}"
        np.save(str(tmp_path / "features" / f"{name}.npy"), rng.standard_normal((8, 4)).astype(np.float32))
        database[name] = {"subset": "training" if k < 5 else "validation", "duration_second": 16.0,
                          "duration_frame": 400, "feature_frame": 400,
                          "annotations": [{"segment": [2.0 + k % 3, 9.0 + k % 4], "label": "a"}]}
    (tmp_path / "anno.json").write_text(json.dumps(database))
    common = ["--model", "probe_localizer", "--dataset", "activitynet", "--context", "py", "--tscale", 8,
              "--feat_dim", 4, "--annotation_path", tmp_path / "anno.json", "--feature_path", tmp_path / "features",
              "--num_workers", 1]
    run_entry(monkeypatch, "train.py", *common, "--num_epochs", 2, "--batch_size", 2, "--lr", 0.01,
              "--save_dir", tmp_path / "train")
    history = json.loads((tmp_path / "train" / "checkpoints" / "history.json").read_text())
    assert [record["metric_name"] for record in history] == ["AUC", "AUC"]
    best = tmp_path / "train" / "checkpoints" / "probe_localizer_activitynet_best.ckpt"
    run_entry(monkeypatch, "eval.py", *common, "--checkpoint_path", best, "--save_dir", tmp_path / "eval")
    online = json.loads((tmp_path / "eval" / "bmn_metrics.json").read_text())
    offline = offline_chain(monkeypatch, tmp_path, common, best, batch_size=2)
    assert online["num_videos"] == offline["num_videos"] == 3
    for key in ("AR@1", "AR@5", "AR@10", "AR@100", "AUC"):
        assert offline[key] == pytest.approx(online[key], abs=1e-6)
