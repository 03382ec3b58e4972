"""A new model is a model file plus a config: a recognizer and a localizer defined in this file
(nothing under src/) go through train -> eval -> export (MINDIR) -> preprocess -> MINDIR runner ->
postprocess with the public entry points and command-line overrides. The recognizer declares its own
configuration key (``probe_width``) where it is registered, and YAML files and the command line set
it with no edit to src/config.py."""
import json
import os
import runpy
import sys

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
import pytest

from src.config import all_options, get_config, load_config
from src.infer import mindir_runner
from src.models.registry import build_model_from_config, list_models, model_options, register_model
from src.options import ConfigError, count, integer, in_range, option

ms.set_device("CPU")  # the entry points set the device, which MindSpore refuses once kernels ran


class ProbeRecognizer(nn.Cell):
    """The recognizer contract at its smallest: clips (B, C, T, H, W) -> logits."""

    def __init__(self, num_classes=2, in_channels=3, dropout_keep_prob=1.0, probe_width=6):
        super().__init__()
        del dropout_keep_prob
        self.num_features = probe_width
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


# The recognizer's own setting, declared where it is registered. Without a config adapter the builder
# receives in_channels, dropout_keep_prob and its declared keys by name.
PROBE_OPTIONS = [option("probe_width", 6, in_range(integer, 2, 16), "probe recognizer: channels of its convolution")]

if "probe_recognizer" not in list_models():
    register_model("probe_recognizer", options=PROBE_OPTIONS)(ProbeRecognizer)
    register_model("probe_localizer", layout="NCT", task="localization",
                   config_adapter=lambda cfg: {"tscale": cfg.tscale, "feat_dim": cfg.feat_dim})(
        lambda num_classes=None, **kwargs: ProbeLocalizer(**kwargs))


def test_a_model_key_is_set_from_yaml_and_command_line_and_reaches_the_builder(tmp_path):
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "config.py"),
              encoding="utf-8") as handle:
        assert "probe_width" not in handle.read()
    assert [opt.name for opt in model_options("probe_recognizer")] == ["probe_width"]
    assert load_config("").probe_width == 6
    (tmp_path / "probe.yaml").write_text("model: probe_recognizer\nnum_classes: 3\nprobe_width: 4\n")
    from_yaml = load_config(str(tmp_path / "probe.yaml"))
    assert from_yaml.probe_width == 4 and build_model_from_config(from_yaml).num_features == 4
    from_argv = get_config(["--config_path", str(tmp_path / "probe.yaml"), "--probe_width", "9"])
    assert from_argv.probe_width == 9 and isinstance(from_argv.probe_width, int)
    net = build_model_from_config(from_argv)
    assert net.num_features == 9 and net.fc.weight.shape == (3, 9)
    assert load_config("", {"model": "probe_recognizer", "probe_width": "7"}).probe_width == 7


@pytest.mark.parametrize("value,message", [("1", "must be >= 2 and <= 16, got 1"),
                                           ("17", "must be >= 2 and <= 16, got 17"),
                                           ("2.5", "expected an integer >= 2 and <= 16, got '2.5'")])
def test_an_out_of_range_model_key_is_one_error_line(capsys, tmp_path, value, message):
    with pytest.raises(SystemExit) as stop:
        get_config(["--model", "probe_recognizer", "--probe_width", value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert f"error: bad value for 'probe_width' (from command line): {message}" in err
    (tmp_path / "bad.yaml").write_text(f"probe_width: {value}\n")
    with pytest.raises(ConfigError, match=rf"'probe_width'.*bad\.yaml.*{message[:20]}"):
        load_config(str(tmp_path / "bad.yaml"))


def test_help_lists_a_model_key_once_with_its_default(capsys):
    with pytest.raises(SystemExit):
        get_config(["--help"])
    out = capsys.readouterr().out
    assert out.count("\n  --probe_width") == 1
    block = out.split("\n  --probe_width", 1)[1].split("\n  --", 1)[0]
    assert "probe_recognizer: probe recognizer: channels of its convolution" in " ".join(block.split())
    assert block.count("(default: 6)") == 1


def test_two_models_share_a_key_only_when_declared_alike():
    def build(num_classes=2, **kwargs):
        return kwargs

    if "probe_twin" not in list_models():  # the same declaration: one key, both models read it
        twin_width = option("probe_width", 6, in_range(integer, 2, 16), "the twin's width")
        register_model("probe_twin", options=[twin_width])(build)
    shared = [opt for opt in all_options() if opt.name == "probe_width"]
    assert len(shared) == 1 and "probe_recognizer: " in shared[0].help
    assert "probe_twin: the twin's width" in shared[0].help
    assert build_model_from_config(load_config("", {"model": "probe_twin", "probe_width": 3}))["probe_width"] == 3

    conflicts = [option("probe_width", 8, in_range(integer, 2, 16), "another default"),
                 option("probe_width", 6, count(integer), "another range"),
                 option("probe_width", "6", str, "another type")]
    for conflicting in conflicts:
        with pytest.raises(ValueError, match=r"'probe_clash'.*'probe_width'.*probe_recognizer, probe_twin"):
            register_model("probe_clash", options=[conflicting])(build)
    with pytest.raises(ValueError, match=r"'probe_clash'.*'lr'.*every run shares"):
        register_model("probe_clash", options=[option("lr", 0.1, float, "a shared key")])(build)
    with pytest.raises(ValueError, match=r"default 0 is not accepted"):
        option("probe_depth", 0, count(integer), "a default out of its own range")
    assert "probe_clash" not in list_models()


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
              "--test_sample_duration", 4, "--num_val_samples", 2, "--num_workers", 1, "--dropout_keep_prob", 1.0,
              "--probe_width", 5]
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


# BMN itself as well: its loss keeps a draw counter in the training checkpoint, which evaluation,
# export and inference must take for training state
@pytest.mark.parametrize("model", ["probe_localizer", "bmn"])
def test_a_localizer_defined_outside_src_runs_the_whole_chain(monkeypatch, tmp_path, model):
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
    common = ["--model", model, "--dataset", "activitynet", "--context", "py", "--tscale", 8,
              "--feat_dim", 4, "--annotation_path", tmp_path / "anno.json", "--feature_path", tmp_path / "features",
              "--num_workers", 1]
    run_entry(monkeypatch, "train.py", *common, "--num_epochs", 2, "--batch_size", 2, "--lr", 0.01,
              "--save_dir", tmp_path / "train")
    history = json.loads((tmp_path / "train" / "checkpoints" / "history.json").read_text())
    assert [record["metric_name"] for record in history] == ["AUC", "AUC"]
    assert (tmp_path / "train" / "checkpoints" / f"{model}_activitynet_best.ckpt").is_file()
    # the last epoch's checkpoint, which holds the whole training state
    [last] = (tmp_path / "train" / "checkpoints").glob(f"{model}_activitynet-2_*.ckpt")
    run_entry(monkeypatch, "eval.py", *common, "--checkpoint_path", last, "--save_dir", tmp_path / "eval")
    online = json.loads((tmp_path / "eval" / "bmn_metrics.json").read_text())
    offline = offline_chain(monkeypatch, tmp_path, common, last, batch_size=2)
    assert online["num_videos"] == offline["num_videos"] == 3
    for key in ("AR@1", "AR@5", "AR@10", "AR@100", "AUC"):
        assert offline[key] == pytest.approx(online[key], abs=1e-6)
