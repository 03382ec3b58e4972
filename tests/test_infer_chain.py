"""The offline-inference chain on the tiny model: preprocess -> Python MINDIR runner -> postprocess
gives eval.py's numbers and per-video scores, for one stream and for joint RGB + flow; BMN feature
windows and a several-output model; the shell scripts' argument checks and an end-to-end run of
scripts/run_preprocess.sh + scripts/run_infer_310.sh."""
import json
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
import yaml

from src.config import load_config
from src.data.dataset import build_video_source, dataset_from_source
from src.engine.evaluator import run_evaluation
from src.engine.exporter import export_from_config
from src.engine.offline import write_offline_batches, score_offline_results
from src.infer.bins import DATA_FOLDER, LABELS_FILE, RESULT_FOLDER, TIME_FILE, TIME_FOLDER, read_meta
from src.infer.mindir_runner import run_mindir
from src.infer.onnx_runner import run_onnx_file
from src.metrics.classification import fuse_streams
from src.models import build_model_from_config
from src.models.builder import build_network, load_network
from src.models.weights import save_checkpoint_atomic
from src.tasks.recognition.evaluation import predict_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPARED = ("top1", "top5", "mean_class_accuracy", "clip_top1", "num_videos", "views_per_video")
VAL_IDS = [f"v_{label}_g{k:02d}_c01" for label in ("MoveLeft", "MoveRight") for k in (7, 8)]
BATCH = 3  # 4 val videos x 2 views = 8 rows -> batches of 3, 3 and 2 (+ 1 padding row)

# run_evaluation sets the device, which MindSpore refuses once kernels ran unless it was set first
ms.set_device("CPU")


def mixed_checkpoint(cfg, path):
    """Save random weights whose predictions on the val views are not all one class."""
    source = build_video_source(cfg, "val")
    for seed in range(20):
        ms.set_seed(seed)
        net = build_network(cfg)
        net.set_train(False)
        preds = {int(net(ms.Tensor(source[i][0])).asnumpy().mean(axis=0).argmax()) for i in range(len(source))}
        if len(preds) > 1:
            save_checkpoint_atomic(net, path)
            return path
    raise AssertionError("no seed in 0..19 gives mixed predictions")


def reference_scores(cfg, checkpoints, joint=False):
    """Per-video scores (views averaged) of each stream straight from the evaluator's prediction loop."""
    nets = [load_network(cfg, ckpt, mode) for mode, ckpt in checkpoints.items()]
    dataset = dataset_from_source(cfg, build_video_source(cfg, "val", joint=joint), "val")
    logits, labels = predict_dataset(nets, dataset)
    return {mode: stream.mean(axis=1) for mode, stream in zip(checkpoints, logits)}, labels


def prepare_stream(cfg, mode, folder):
    """Checkpoint + MINDIR (exported with batch BATCH) of ``mode`` in ``folder``."""
    stream_cfg = cfg.copy()
    stream_cfg.mode = mode
    if mode == "flow":
        stream_cfg.video_path = stream_cfg.video_path_joint_flow
    ckpt = mixed_checkpoint(stream_cfg, os.path.join(folder, f"{mode}.ckpt"))
    stream_cfg.update(checkpoint_path=ckpt, file_name=os.path.join(folder, f"tiny_{mode}"))
    mindir, difference, shape = export_from_config(stream_cfg)
    assert shape[0] == BATCH and difference < 1e-5
    return ckpt, mindir


@pytest.fixture()
def chain_cfg(tiny_cfg):
    cfg = tiny_cfg.copy()
    cfg.update(num_val_samples=2, batch_size=BATCH,
               video_path_joint_flow=os.path.join(os.path.dirname(cfg.video_path), "flow"))
    return cfg


@pytest.fixture()
def rgb_chain(chain_cfg, tmp_path):
    ckpt, mindir = prepare_stream(chain_cfg, "rgb", str(tmp_path))
    pre = str(tmp_path / "pre_rgb")
    assert write_offline_batches(chain_cfg.copy(), pre) == {"rgb": pre}
    return chain_cfg, ckpt, mindir, pre


def test_single_stream_chain_equals_eval(rgb_chain, tmp_path):
    cfg, ckpt, mindir, pre = rgb_chain
    meta = read_meta(pre)
    # validation videos only, each video's views consecutive, the last batch padded
    assert [video["id"] for video in meta["videos"]] == VAL_IDS
    train_ids = {f"v_{label}_g{k:02d}_c01" for label in ("MoveLeft", "MoveRight") for k in range(1, 7)}
    assert not train_ids & {video["id"] for video in meta["videos"]}
    assert meta["input_shape"] == [BATCH, 3, 4, 16, 16] and meta["views_per_video"] == 2
    assert [batch["valid"] for batch in meta["batches"]] == [3, 3, 2]
    rows = [tuple(row) for batch in meta["batches"] for row in batch["rows"]]
    assert rows == [(video, view) for video in range(4) for view in range(2)]
    files = sorted(os.listdir(os.path.join(pre, DATA_FOLDER)))
    assert files == [batch["file"] for batch in meta["batches"]]
    np.testing.assert_array_equal(np.load(os.path.join(pre, LABELS_FILE)), [0, 0, 1, 1])
    # the bins hold exactly the test views of the data pipeline, padding rows are zeros
    source = build_video_source(cfg, "val")
    flat = np.concatenate([np.fromfile(os.path.join(pre, DATA_FOLDER, name), np.float32) for name in files])
    flat = flat.reshape((9, 3, 4, 16, 16))
    np.testing.assert_array_equal(flat[:8], np.concatenate([source[i][0] for i in range(4)]))
    assert not flat[8].any()

    out = str(tmp_path / "infer_rgb")
    run_mindir(mindir, [os.path.join(pre, DATA_FOLDER)], out)
    assert sorted(os.listdir(os.path.join(out, RESULT_FOLDER))) == [f.replace(".bin", "_0.bin") for f in files]
    assert "ms of infer_count 3" in open(os.path.join(out, TIME_FOLDER, TIME_FILE)).read()

    post_cfg = cfg.copy()
    post_cfg.update(pre_result_path=pre, result_path=out)
    offline = score_offline_results(post_cfg)
    eval_cfg = cfg.copy()
    eval_cfg.update(checkpoint_path=ckpt, save_dir=str(tmp_path / "eval"))
    online = run_evaluation(eval_cfg)
    assert {k: offline[k] for k in COMPARED} == pytest.approx({k: online[k] for k in COMPARED}, abs=1e-9)
    scores = np.load(os.path.join(out, "scores.npz"))
    reference, labels = reference_scores(cfg, {"rgb": ckpt})
    np.testing.assert_allclose(scores["rgb"], reference["rgb"], rtol=1e-5, atol=1e-5)
    assert len(set(scores["rgb"].argmax(axis=1))) == 2
    np.testing.assert_array_equal(scores["labels"], labels)
    saved = json.load(open(os.path.join(out, "results.json")))
    assert saved["top1"] == offline["top1"] and saved["latency_ms"] > 0

    # a batch of the wrong size is refused with the file's name
    bad = tmp_path / "bad"
    bad.mkdir()
    np.zeros((2, 3, 4, 16, 16), np.float32).tofile(str(bad / "x.bin"))
    with pytest.raises(ValueError, match=r"x\.bin holds 24576 bytes.*\(3, 3, 4, 16, 16\)"):
        run_mindir(mindir, [str(bad)], str(tmp_path / "bad_out"))


def test_an_unreadable_video_is_left_out_by_the_chain_as_by_eval(chain_cfg, tmp_path, capsys):
    ckpt, mindir = prepare_stream(chain_cfg, "rgb", str(tmp_path))
    bad = os.path.join(chain_cfg.video_path, "MoveRight", VAL_IDS[2])
    for name in os.listdir(bad):
        if name.endswith(".jpg"):
            with open(os.path.join(bad, name), "wb") as handle:
                handle.write(b"not a jpeg")
    cfg = chain_cfg.copy()
    cfg.max_bad_sample_ratio = 0.5
    pre = str(tmp_path / "pre_rgb")
    write_offline_batches(cfg.copy(), pre)
    assert "1 of 4 videos are unreadable" in capsys.readouterr().out
    assert open(os.path.join(pre, "bad_samples_val.tsv")).read().startswith(bad + "\t")
    np.testing.assert_array_equal(np.load(os.path.join(pre, LABELS_FILE)), [0, 0, -1, 1])
    out = str(tmp_path / "infer_rgb")
    run_mindir(mindir, [os.path.join(pre, DATA_FOLDER)], out)
    post_cfg = cfg.copy()
    post_cfg.update(pre_result_path=pre, result_path=out)
    offline = score_offline_results(post_cfg)
    assert "1 of 4 videos were unreadable when preprocessed and are left out" in capsys.readouterr().out
    eval_cfg = cfg.copy()
    eval_cfg.update(checkpoint_path=ckpt, save_dir=str(tmp_path / "eval"))
    online = run_evaluation(eval_cfg)
    assert online["unreadable_videos"] == 1 and offline["num_videos"] == 3
    assert {k: offline[k] for k in COMPARED} == pytest.approx({k: online[k] for k in COMPARED}, abs=1e-9)


def test_onnx_runner_results_score_like_the_mindir_runner(rgb_chain, tmp_path):
    """The ONNX Runtime runner writes the same result files: postprocess.py scores them the same."""
    pytest.importorskip("onnxruntime")
    cfg, ckpt, mindir, pre = rgb_chain
    outs = {}
    for runner, model_file in (("mindir", mindir), ("onnx", None)):
        out = str(tmp_path / f"infer_{runner}")
        if runner == "mindir":
            run_mindir(model_file, [os.path.join(pre, DATA_FOLDER)], out)
        else:
            export_cfg = cfg.copy()
            export_cfg.update(checkpoint_path=ckpt, file_format="ONNX", file_name=str(tmp_path / "tiny_rgb"))
            onnx_file, difference, _ = export_from_config(export_cfg)
            assert difference < 1e-5
            assert run_onnx_file(onnx_file, [os.path.join(pre, DATA_FOLDER)], out, num_threads=1) > 0
        post_cfg = cfg.copy()
        post_cfg.update(pre_result_path=pre, result_path=out)
        outs[runner] = (score_offline_results(post_cfg), np.load(os.path.join(out, "scores.npz"))["rgb"])
    assert {k: outs["onnx"][0][k] for k in COMPARED} == {k: outs["mindir"][0][k] for k in COMPARED}
    np.testing.assert_allclose(outs["onnx"][1], outs["mindir"][1], rtol=1e-5, atol=1e-5)


def test_joint_chain_equals_joint_eval(chain_cfg, tmp_path):
    checkpoints, mindirs = {}, {}
    for mode in ("rgb", "flow"):
        checkpoints[mode], mindirs[mode] = prepare_stream(chain_cfg, mode, str(tmp_path))
    joint_cfg = chain_cfg.copy()
    joint_cfg.test_mode = "joint"
    pre = str(tmp_path / "pre_joint")
    folders = write_offline_batches(joint_cfg, pre)
    assert folders == {"rgb": os.path.join(pre, "rgb"), "flow": os.path.join(pre, "flow")}
    outs = {}
    for mode, folder in folders.items():
        meta = read_meta(folder)
        assert meta["stream"] == mode and meta["sampling"] == "joint"
        assert [video["id"] for video in meta["videos"]] == VAL_IDS
        outs[mode] = str(tmp_path / f"infer_{mode}")
        run_mindir(mindirs[mode], [os.path.join(folder, DATA_FOLDER)], outs[mode])

    joint_cfg.update(pre_result_path=pre, rgb_result_path=outs["rgb"], flow_result_path=outs["flow"])
    offline = score_offline_results(joint_cfg)
    eval_cfg = chain_cfg.copy()
    eval_cfg.update(test_mode="joint", rgb_path=checkpoints["rgb"], flow_path=checkpoints["flow"],
                    save_dir=str(tmp_path / "eval_joint"))
    online = run_evaluation(eval_cfg)
    keys = ("top1", "top5", "mean_class_accuracy", "num_videos", "fusion", "views_per_video",
            "rgb_top1", "rgb_clip_top1", "flow_top1", "flow_mean_class_accuracy")
    assert {k: offline[k] for k in keys} == {k: online[k] for k in keys}
    assert offline["same_clips"] is True

    scores = np.load(str(tmp_path / "demo_joint" / "scores.npz"))
    reference, _ = reference_scores(chain_cfg, checkpoints, joint=True)
    for mode in ("rgb", "flow"):
        np.testing.assert_allclose(scores[mode], reference[mode], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores["fused"], fuse_streams(reference["rgb"], reference["flow"]), rtol=1e-5,
                               atol=1e-5)


def run_script(name, args, cwd, **env):
    full_env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "SKIP_SETUP": "1", "HOME": str(cwd),
                "PYTHONPATH": ROOT, **env}
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=110, check=False)


@pytest.mark.parametrize("name, args", [("run_preprocess.sh", ["only_one"]),
                                        ("run_preprocess.sh", ["cfg.yaml", "out", "--odd"]),
                                        ("run_preprocess_all.sh", ["extra"]),
                                        ("run_infer_310.sh", ["a.mindir", "ucf101", "0"]),
                                        ("run_infer_310_all.sh", ["extra"])])
def test_scripts_refuse_a_wrong_argument_count(name, args, tmp_path):
    result = run_script(name, args, tmp_path)
    assert result.returncode != 0 and "Usage: bash scripts/" + name in result.stderr


def test_preprocess_and_infer_scripts_end_to_end_with_the_python_runner(rgb_chain, tmp_path):
    cfg, _, mindir, pre = rgb_chain
    # preprocessing needs only the input layout, so a registered zoo model stands in for tiny3d
    settings = {key: cfg[key] for key in ("video_path", "annotation_path", "num_classes", "spatial_size",
                                          "resize_short", "test_sample_duration", "num_val_samples", "num_workers")}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(dict(settings, model="i3d", dataset="demo", mode="rgb")))
    result = run_script("run_preprocess.sh", ["tiny.yaml", "scripted_pre", "--batch_size", BATCH], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    scripted = read_meta(str(tmp_path / "scripted_pre"))
    assert scripted["batches"] == read_meta(pre)["batches"] and scripted["model"] == "i3d"
    for batch in scripted["batches"]:
        assert (tmp_path / "scripted_pre" / DATA_FOLDER / batch["file"]).read_bytes() == \
            open(os.path.join(pre, DATA_FOLDER, batch["file"]), "rb").read()

    result = run_script("run_infer_310.sh", [mindir, "demo", 0, "rgb"], tmp_path,
                        PRE_RESULT_PATH=str(tmp_path / "scripted_pre"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runner: Python MINDIR runner" in result.stdout and "libmindspore.so not found" in result.stdout
    out = tmp_path / "infer_Result" / "demo_rgb"
    saved = json.load(open(out / "results.json"))
    assert saved["num_videos"] == 4 and saved["views_per_video"] == 2
    assert (out / "meta.json").is_file() and len(os.listdir(out / RESULT_FOLDER)) == 3
    assert f"top1 {saved['top1']:.2f}" in result.stdout


def test_bmn_chain_equals_bmn_eval(tmp_path):
    tscale, feat_dim = 8, 4
    rng = np.random.default_rng(1)
    features, database = {}, {}
    (tmp_path / "features").mkdir()
    for k, subset in enumerate(["training", "validation", "training", "validation", "validation"]):
        name = f"v_video{k}"
        features[name] = rng.standard_normal((tscale, feat_dim)).astype(np.float32)
        np.save(str(tmp_path / "features" / f"{name}.npy"), features[name])
        database[name] = {"subset": subset, "duration_second": 10.0 + k, "duration_frame": 250, "feature_frame": 250,
                          "annotations": [{"segment": [1.0, 4.0 + k], "label": "a"}, {"segment": [6.0, 9.0]}]}
    (tmp_path / "anno.json").write_text(json.dumps(database))
    cfg = load_config("", dict(model="bmn", dataset="activitynet", context="py", tscale=tscale, feat_dim=feat_dim,
                               batch_size=2, num_workers=1, annotation_path=str(tmp_path / "anno.json"),
                               feature_path=str(tmp_path / "features"), save_dir=str(tmp_path / "eval")))
    pre = str(tmp_path / "pre_bmn")
    assert write_offline_batches(cfg, pre) == {"bmn": pre}
    meta = read_meta(pre)
    assert [video["id"] for video in meta["videos"]] == ["video1", "video3", "video4"]
    assert [video["duration"] for video in meta["videos"]] == [11.0, 13.0, 14.0]
    assert meta["ground_truth"]["video3"] == [[1.0, 7.0], [6.0, 9.0]] and "video0" not in meta["ground_truth"]
    assert meta["input_shape"] == [2, feat_dim, tscale] and [b["valid"] for b in meta["batches"]] == [2, 1]
    files = [os.path.join(pre, DATA_FOLDER, batch["file"]) for batch in meta["batches"]]
    rows = np.concatenate([np.fromfile(path, np.float32).reshape(2, feat_dim, tscale) for path in files])
    np.testing.assert_array_equal(rows[:3], np.stack([features[f"v_video{k}"].T for k in (1, 3, 4)]))
    assert not rows[3].any()

    ms.set_seed(0)
    cfg.checkpoint_path = str(tmp_path / "bmn.ckpt")
    save_checkpoint_atomic(build_model_from_config(cfg), cfg.checkpoint_path)
    cfg.file_name = str(tmp_path / "bmn")
    mindir, _, shape = export_from_config(cfg)
    assert shape == (2, feat_dim, tscale)
    out = str(tmp_path / "infer_bmn")
    run_mindir(mindir, [os.path.join(pre, DATA_FOLDER)], out)
    assert len(os.listdir(os.path.join(out, RESULT_FOLDER))) == 6  # confidence map, start, end per batch

    offline = score_offline_results(load_config("", dict(result_path=out, pre_result_path=pre)))
    online = run_evaluation(cfg)
    keys = ("AR@1", "AR@5", "AR@10", "AR@100", "AUC", "num_videos")
    assert {k: offline[k] for k in keys} == pytest.approx({k: online[k] for k in keys}, abs=1e-6)
    assert 0 < online["AR@100"] < 100
    offline_proposals = json.load(open(os.path.join(out, "bmn_proposals.json")))["results"]
    online_proposals = json.load(open(os.path.join(cfg.save_dir, "bmn_proposals.json")))["results"]
    assert sorted(offline_proposals) == ["video1", "video3", "video4"] == sorted(online_proposals)
    for video, proposals in online_proposals.items():
        np.testing.assert_allclose([p["segment"] + [p["score"]] for p in offline_proposals[video]],
                                   [p["segment"] + [p["score"]] for p in proposals], rtol=1e-4, atol=1e-6)

    # an unusable feature file: no proposals for its video in either chain, which counts it as zero recall
    broken = features["v_video3"].copy()
    broken[0, 0] = np.nan
    np.save(str(tmp_path / "features" / "v_video3.npy"), broken)
    pre, out = str(tmp_path / "pre_broken"), str(tmp_path / "infer_broken")
    write_offline_batches(cfg, pre)
    assert [video.get("unusable", False) for video in read_meta(pre)["videos"]] == [False, True, False]
    run_mindir(mindir, [os.path.join(pre, DATA_FOLDER)], out)
    offline = score_offline_results(load_config("", dict(result_path=out, pre_result_path=pre)))
    online = run_evaluation(cfg)
    assert offline["num_videos"] == online["num_videos"] == 2 and offline["missing_videos"] == 1
    assert {k: offline[k] for k in keys} == pytest.approx({k: online[k] for k in keys}, abs=1e-6)
