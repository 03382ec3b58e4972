"""The demo's recognizers: each trains an appearance stream (RGB; RGB difference for TSN) and a flow
stream from its demo configs."""
import json
import os

import pytest

from src.config import load_config
from src.demo import make_demo_dataset, runner
from src.demo.runner import _history, _trained_all_epochs, format_table, main, spread_table
from src.models.registry import in_channels_for
from src.options import parse_bool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo_stream_configs(model):
    """The configs of the two streams the demo trains for ``model``: appearance, flow."""
    appearance = runner.APPEARANCE_CONFIGS.get(model, "demo_rgb.yaml")
    return (load_config(os.path.join(ROOT, "configs", model, appearance)),
            load_config(os.path.join(ROOT, "configs", model, "demo_flow.yaml")))


@pytest.mark.parametrize("model, appearance, channels", [("i3d", "rgb", 3), ("resnet3d", "rgb", 3),
                                                          ("tsn", "rgbdiff", 12)])
def test_demo_configs_of_both_streams(model, appearance, channels):
    rgb, flow = demo_stream_configs(model)
    assert (rgb.model, rgb.mode, flow.model, flow.mode) == (model, appearance, model, "flow")
    assert rgb.num_classes == flow.num_classes == 6 and not rgb.checkpoint_path
    assert not rgb.flip and not flow.flip  # a mirrored demo clip shows the opposite class
    assert flow.video_path.endswith("flow") and rgb.video_path.endswith("jpg")
    assert in_channels_for(rgb) == channels and in_channels_for(flow) in (2, 10)
    assert rgb.save_dir != flow.save_dir
    # weights trained from scratch: BN moving averages lag behind them, evaluation recomputes them
    assert rgb.precise_bn_batches > 0 and flow.precise_bn_batches > 0


# what joint evaluation (run with the RGB config) reads for both streams
TEST_CLIP_KEYS = ("resize_short", "spatial_size", "test_sample_duration", "frame_interval", "num_val_samples",
                  "test_num_segments", "test_crop", "normalize")


@pytest.mark.parametrize("model", ["i3d", "resnet3d", "tsn"])
def test_both_streams_are_tested_on_the_clips_joint_evaluation_reads(model):
    rgb, flow = demo_stream_configs(model)
    assert {key: getattr(flow, key) for key in TEST_CLIP_KEYS} == {key: getattr(rgb, key) for key in TEST_CLIP_KEYS}
    assert rgb.train_sample_duration == rgb.test_sample_duration
    # flow may train on shorter clips (every flow frame shows the motion), never on longer ones
    assert flow.train_sample_duration <= flow.test_sample_duration


def test_default_demo_dataset_tests_unseen_scenes_that_every_class_shares():
    args = make_demo_dataset.build_parser().parse_args(["--out", "unused"])
    classes = make_demo_dataset.parse_classes(args.classes)
    train, test = make_demo_dataset.plan_videos(classes, args.videos_per_class_train, args.videos_per_class_test,
                                                args.clips_per_group)
    train_scenes, test_scenes = {v.group for v in train}, {v.group for v in test}
    assert not train_scenes & test_scenes
    for videos, scenes in ((train, train_scenes), (test, test_scenes)):
        for scene in scenes:  # appearance (the scene) never tells the class
            assert {v.class_name for v in videos if v.group == scene} == set(classes)
    # the frames of a training clip (frame_interval * sample duration) fit in every video
    cfg = load_config(os.path.join(ROOT, "configs", "i3d", "demo_rgb.yaml"))
    assert (cfg.train_sample_duration - 1) * cfg.frame_interval + 1 <= args.num_frames - 1  # flow: one fewer


def test_summary_table():
    table = format_table("tsn", {"flow top-1": 97.2222, "fusion": "logits_sum"})
    assert table.splitlines() == ["| tsn | value |", "|---|---|", "| flow top-1 | 97.22 |", "| fusion | logits_sum |"]


def test_spread_table_of_repeated_runs():
    runs = [{"figures": {"rgb top-1": rgb, "fusion": "logits_sum"}, "seconds": seconds}
            for rgb, seconds in ((88.89, 401.0), (83.33, 420.4), (86.11, 398.2))]
    assert spread_table("i3d", runs).splitlines() == [
        "| i3d | run 1 | run 2 | run 3 | min–max (spread) |",
        "|---|---|---|---|---|",
        "| rgb top-1 | 88.89 | 83.33 | 86.11 | 83.33–88.89 (5.56) |",
        "| whole demo (s) | 401 | 420 | 398 | 398–420 |"]


def test_repeats_must_be_positive():
    with pytest.raises(SystemExit, match="--repeats"):
        main(["--repeats", "0"])


def test_a_finished_training_is_not_run_again(tmp_path):
    history = tmp_path / "history.json"
    cfg = load_config("", {"num_epochs": 3})
    assert _history(str(history)) == [] and not _trained_all_epochs([], cfg)
    history.write_text('[{"epoch": 1}, {"epoch": 2}]')
    assert not _trained_all_epochs(_history(str(history)), cfg)
    history.write_text('[{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]')
    assert _trained_all_epochs(_history(str(history)), cfg)


@pytest.mark.parametrize("per_run, seeds", [("False", [5, 5, 5]), ("True", [5, 6, 7])])
def test_repeats_train_with_one_seed_or_one_seed_per_run(tmp_path, monkeypatch, per_run, seeds):
    used = []

    def fake_run_once(work_dir, models, flow_method, seed, eval_while_training):
        used.append(seed)
        return {"i3d": {"figures": {"rgb top-1": 80.0 + seed}, "seed": seed, "timings": [], "seconds": 1.0}}

    monkeypatch.setattr(runner, "run_once", fake_run_once)
    assert main(["--repeats", "3", "--seed", "5", "--seed_per_run", per_run, "--work_dir", str(tmp_path)]) == 0
    assert used == seeds
    assert [run["seed"] for run in json.loads((tmp_path / "spread_i3d.json").read_text())] == seeds
    header = (tmp_path / "spread_i3d.md").read_text().splitlines()[0]
    assert header == ("| i3d | run 1 (seed 5) | run 2 (seed 6) | run 3 (seed 7) | min–max (spread) |" if per_run == "True"
                      else "| i3d | run 1 | run 2 | run 3 | min–max (spread) |")


def test_every_training_of_the_demo_gets_its_seed(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(runner.subprocess, "run", lambda args, **kwargs: commands.append(args))
    demo = runner.Demo(str(tmp_path), "dis", seed=7)
    demo.run("train", ["train.py", "--config_path", "c.yaml"])
    demo.run("export", ["export.py", "--config_path", "c.yaml"])
    assert commands[0][-3:] == ["c.yaml", "--seed", "7"] and "--seed" not in commands[1]


@pytest.mark.parametrize("eval_while_training", [False, True])
def test_demo_trainings_evaluate_only_when_asked(tmp_path, monkeypatch, eval_while_training):
    commands = []
    monkeypatch.setattr(runner.subprocess, "run", lambda args, **kwargs: commands.append(args))
    monkeypatch.setattr(runner, "_history", lambda path: [{"epoch": 2, "epoch_seconds": 1.0, "step_seconds": 0.1}])
    demo = runner.Demo(str(tmp_path), "dis", eval_while_training=eval_while_training)
    (tmp_path / "i3d_rgb" / "checkpoints").mkdir(parents=True)
    (tmp_path / "i3d_rgb" / "checkpoints" / "i3d_demo_rgb-2_72.ckpt").write_bytes(b"")
    monkeypatch.setattr(runner, "_trained_all_epochs", lambda history, cfg: False)
    last = demo.train_stream("i3d", "configs/i3d/demo_rgb.yaml")
    assert last["checkpoint"].endswith("i3d_demo_rgb-2_72.ckpt")
    train_args = commands[0]
    assert parse_bool(train_args[train_args.index("--no_eval") + 1]) is not eval_while_training


def test_tsn_demo_trains_rgb_difference_beside_flow_and_names_it(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(runner.subprocess, "run", lambda args, **kwargs: commands.append(args))
    monkeypatch.setattr(runner, "_history", lambda path: [{"epoch": 16, "epoch_seconds": 1.0, "step_seconds": 0.1}])
    monkeypatch.setattr(runner, "_trained_all_epochs", lambda history, cfg: False)
    demo = runner.Demo(str(tmp_path), "dis")
    monkeypatch.setattr(demo, "prepare_videos", lambda: None)
    for stream in ("tsn_rgbdiff", "tsn_flow"):
        (tmp_path / stream / "checkpoints").mkdir(parents=True)
        (tmp_path / stream / "checkpoints" / f"{stream.replace('tsn_', 'tsn_demo_')}-16_72.ckpt").write_bytes(b"")
    (tmp_path / "tsn_joint").mkdir()
    (tmp_path / "tsn_joint" / "results.json").write_text(json.dumps(
        {"rgb_top1": 90.0, "flow_top1": 97.0, "top1": 98.0, "top5": 100.0, "fusion": "softmax_avg"}))
    figures = runner.run_model(demo, "tsn")
    trained = [args[args.index("--config_path") + 1] for args in commands if args[1] == "train.py"]
    assert trained == ["configs/tsn/demo_rgbdiff.yaml", "configs/tsn/demo_flow.yaml"]
    joint = next(args for args in commands if args[1] == "eval.py")
    assert joint[joint.index("--rgb_path") + 1].endswith("tsn_demo_rgbdiff-16_72.ckpt")
    assert figures["rgbdiff top-1"] == 90.0 and "rgb top-1" not in figures
