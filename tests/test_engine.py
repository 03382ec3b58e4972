"""The training / evaluation / export engine shared by every recognizer (on a tiny network)."""
import glob
import json
import os

import mindspore as ms
import numpy as np
import pytest

from src.data.dataset import create_video_dataset
from src.engine.builders import build_optimizer, freeze_by_prefixes
from src.engine.evaluator import run_evaluation
from src.engine.exporter import export_from_config
from src.engine.lr import build_lr_schedule
from src.engine.trainer import train
from src.metrics.classification import classification_metrics, fuse_streams
from src.models.builder import build_network
from src.models.weights import save_checkpoint_atomic


def test_step_schedule_with_warmup():
    lrs = build_lr_schedule(0.1, steps_per_epoch=2, num_epochs=4, decay_rate=0.1, decay_epochs=[2, 3],
                            warmup_epochs=1)
    np.testing.assert_allclose(lrs, [0.05, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_cosine_schedule_ends_near_zero():
    lrs = build_lr_schedule(1.0, 10, 3, scheduler="cosine")
    assert lrs[0] == pytest.approx(1.0) and lrs[-1] < 0.01 and np.all(np.diff(lrs) <= 1e-7)


def test_fusion_rules():
    rgb = np.array([[2.0, 0.0], [0.0, 1.0]])
    flow = np.array([[-3.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(fuse_streams(rgb, flow), [[-1.0, 0.0], [0.0, 3.0]])
    soft = fuse_streams(rgb, flow, "softmax_avg", rgb_weight=0.25)
    e = np.exp
    expected0 = 0.25 * e(2) / (e(2) + 1) + 0.75 * e(-3) / (e(-3) + 1)
    assert soft[0, 0] == pytest.approx(expected0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)


def test_classification_metrics():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    labels = np.array([0, 1, 1, 0])
    metrics = classification_metrics(scores, labels)
    assert metrics["top1"] == pytest.approx(50.0)
    # class 0: 1 of 2 right, class 1: 1 of 2 right
    assert metrics["mean_class_accuracy"] == pytest.approx(50.0)
    assert metrics["top5"] == pytest.approx(100.0)


def test_train_keeps_n_checkpoints_best_and_curve_then_resumes(tiny_cfg):
    result = train(tiny_cfg)
    out = tiny_cfg.save_dir
    history = result["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["metric_name"] == "top1" for h in history)
    kept = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "checkpoints", "tiny3d_demo_rgb-*.ckpt")))
    assert kept == ["tiny3d_demo_rgb-2_6.ckpt"]
    assert os.path.isfile(os.path.join(out, "checkpoints", "tiny3d_demo_rgb_best.ckpt"))
    assert os.path.isfile(os.path.join(out, "checkpoints", "training_curve.png"))
    assert os.path.isfile(os.path.join(out, "config.yaml"))
    assert not glob.glob(os.path.join(out, "checkpoints", "*.tmp.ckpt"))
    assert json.load(open(os.path.join(out, "eval", "results.json")))["num_videos"] == 4

    resumed = tiny_cfg.copy()
    resumed.update(resume=True, num_epochs=3, checkpoint_path=os.path.join(out, "checkpoints", kept[0]))
    history = train(resumed)["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]  # the resumed run continues the history
    state = ms.load_checkpoint(os.path.join(out, "checkpoints", "tiny3d_demo_rgb-3_6.ckpt"))
    assert int(state["global_step"].asnumpy().reshape(-1)[0]) == 18  # the optimizer continued
    assert int(state["epoch_num"].asnumpy()) == 3


def test_training_lowers_the_loss_on_separable_data(tiny_cfg):
    tiny_cfg.update(num_epochs=4, no_eval=True)
    history = train(tiny_cfg)["history"]
    assert history[-1]["loss"] < history[0]["loss"]


def test_prefix_freezing_keeps_other_weights(tiny_cfg):
    net = build_network(tiny_cfg)
    trainable, frozen = freeze_by_prefixes(net, ["fc"])
    assert (trainable, frozen) == (2, 4)
    with pytest.raises(ValueError, match="match no parameter"):
        freeze_by_prefixes(build_network(tiny_cfg), ["nothing"])


def test_finetune_prefixes_in_training_leave_conv_unchanged(tiny_cfg):
    ckpt = os.path.join(tiny_cfg.save_dir, "start.ckpt")
    ms.set_seed(0)
    save_checkpoint_atomic(build_network(tiny_cfg), ckpt)
    tiny_cfg.update(checkpoint_path=ckpt, finetune_prefixes=["fc"], num_epochs=1, no_eval=True,
                    finetune_num_classes=2)
    train(tiny_cfg)
    before = ms.load_checkpoint(ckpt)
    after = ms.load_checkpoint(glob.glob(os.path.join(tiny_cfg.save_dir, "checkpoints", "*-1_6.ckpt"))[0])
    np.testing.assert_array_equal(before["conv.weight"].asnumpy(), after["conv.weight"].asnumpy())
    assert not np.array_equal(before["fc.weight"].asnumpy(), after["fc.weight"].asnumpy())


def test_class_count_mismatch_is_explained(tiny_cfg):
    ckpt = os.path.join(tiny_cfg.save_dir, "two.ckpt")
    save_checkpoint_atomic(build_network(tiny_cfg), ckpt)
    tiny_cfg.update(num_classes=3, checkpoint_path=ckpt)
    with pytest.raises(ValueError, match="finetune_num_classes"):
        build_network(tiny_cfg)
    tiny_cfg.update(num_classes=2, finetune_num_classes=3)
    assert build_network(tiny_cfg).fc.weight.shape == (3, 4)


def test_missing_checkpoint_is_an_error(tiny_cfg):
    tiny_cfg.checkpoint_path = "nowhere.ckpt"
    with pytest.raises(FileNotFoundError, match="nowhere.ckpt"):
        build_network(tiny_cfg)


def test_eval_single_folder_and_joint(tiny_cfg):
    rgb_ckpt = os.path.join(tiny_cfg.save_dir, "ckpts", "rgb.ckpt")
    save_checkpoint_atomic(build_network(tiny_cfg), rgb_ckpt)
    flow_cfg = tiny_cfg.copy()
    flow_cfg.mode = "flow"
    flow_ckpt = os.path.join(tiny_cfg.save_dir, "flow.ckpt")
    save_checkpoint_atomic(build_network(flow_cfg), flow_ckpt)

    single = tiny_cfg.copy()
    single.update(checkpoint_path=rgb_ckpt, save_dir=os.path.join(tiny_cfg.save_dir, "e1"), num_val_samples=2)
    metrics = run_evaluation(single)
    assert metrics["num_videos"] == 4 and metrics["views_per_video"] == 2
    assert os.path.isfile(os.path.join(single.save_dir, "confusion_rgb.png"))

    folder = single.copy()
    folder.update(checkpoint_path=os.path.dirname(rgb_ckpt), save_dir=os.path.join(tiny_cfg.save_dir, "e2"))
    run_evaluation(folder)
    lines = open(os.path.join(folder.save_dir, "summary.txt")).read().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rgb.ckpt\ttop1")

    joint = tiny_cfg.copy()
    joint.update(test_mode="joint", rgb_path=rgb_ckpt, flow_path=flow_ckpt,
                 video_path_joint_flow=str(os.path.join(os.path.dirname(tiny_cfg.video_path), "flow")),
                 save_dir=os.path.join(tiny_cfg.save_dir, "e3"))
    metrics = run_evaluation(joint)
    for key in ("rgb_top1", "flow_top1", "top1", "fusion"):
        assert key in metrics
    saved = json.load(open(os.path.join(joint.save_dir, "results.json")))
    assert saved["fusion"] == "logits_sum"


def test_export_mindir_reloads_identically_and_air_needs_ascend(tiny_cfg):
    ckpt = os.path.join(tiny_cfg.save_dir, "net.ckpt")
    save_checkpoint_atomic(build_network(tiny_cfg), ckpt)
    tiny_cfg.update(checkpoint_path=ckpt, batch_size=1, file_name=os.path.join(tiny_cfg.save_dir, "tiny"))
    path, difference, shape = export_from_config(tiny_cfg)
    assert path.endswith(".mindir") and os.path.isfile(path)
    assert shape == (1, 3, 4, 16, 16) and difference < 1e-5
    tiny_cfg.file_format = "AIR"
    with pytest.raises(RuntimeError, match="Ascend"):
        export_from_config(tiny_cfg)


def test_warmup_starts_from_its_share_of_the_rate():
    lrs = build_lr_schedule(0.01, steps_per_epoch=2, num_epochs=4, scheduler="cosine", warmup_epochs=2,
                            warmup_start_factor=0.5)
    np.testing.assert_allclose(lrs[:4], [0.005 + 0.005 / 4, 0.005 + 0.005 / 2, 0.005 + 0.005 * 3 / 4, 0.01],
                               rtol=1e-6)
    assert np.all(np.diff(lrs[3:]) <= 0)
    default = build_lr_schedule(0.01, 2, 4, "cosine", warmup_epochs=2)
    assert default[0] == pytest.approx(0.01 / 4)


def test_nesterov_reaches_the_optimizer(tiny_cfg):
    net = build_network(tiny_cfg)
    tiny_cfg.update(optimizer="sgd", nesterov=True)
    assert build_optimizer(tiny_cfg, net, 3).use_nesterov
    tiny_cfg.update(nesterov=False)
    assert not build_optimizer(tiny_cfg, net, 3).use_nesterov


def test_training_with_label_smoothing_and_mixup_repeats_and_learns(tiny_cfg):
    """Soft targets replace the indices in the training batches only; two runs with one seed give
    the same losses, and the loss still falls."""
    tiny_cfg.update(num_epochs=4, no_eval=False, eval_interval=4, label_smoothing=0.1, mixup_alpha=0.2,
                    precise_bn_batches=2)
    imgs, label = next(create_video_dataset(tiny_cfg, "train").create_tuple_iterator(num_epochs=1))
    assert label.dtype == ms.float32 and label.shape == (2, 2)
    np.testing.assert_allclose(label.asnumpy().sum(axis=1), 1.0, rtol=1e-6)
    assert create_video_dataset(tiny_cfg, "val").output_types()[1] == np.int32
    first = train(tiny_cfg)["history"]
    tiny_cfg.update(save_dir=tiny_cfg.save_dir + "_again")
    second = train(tiny_cfg)["history"]
    assert [h["loss"] for h in first] == [h["loss"] for h in second]
    assert first[-1]["loss"] < first[0]["loss"] and first[-1]["metric_name"] == "top1"
