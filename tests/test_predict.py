"""The one-video command and its Python API: predictions equal eval.py's on the same videos."""
import json
import os
import re
import shutil

import cv2
import mindspore as ms
import numpy as np
import pytest
import yaml

from helpers import decode_video
from src.apis import inference_recognizer, init_recognizer, predict_videos
from src.config import load_config
from src.data.dataset import build_video_source, dataset_from_source
from src.data.readers import VideoFlowReader
from src.engine.evaluator import run_evaluation
from src.infer import backends
from src.metrics.classification import softmax
from src.models import build_model_from_config
from src.models.builder import load_network
from src.models.weights import save_checkpoint_atomic
from src.tasks.recognition.evaluation import predict_dataset
from src.tools import predict
from src.tools.data.convert_rgb_to_flow import compute_flow, flow_to_uint8
from src.utils import runtime

TESTS = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["MoveLeft", "MoveRight"]
FRAMES = 10


def _write_video(path, brightness, shift, seed):
    """A textured MJPG AVI whose texture moves ``shift`` pixels right per frame."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (24, 64, 3), dtype=np.uint8), (5, 5), 0)
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    for i in range(FRAMES):
        frame = np.roll(texture, shift * i, axis=1)[:, 16:48]
        writer.write(np.clip(frame.astype(np.int32) + brightness, 0, 255).astype(np.uint8))
    writer.release()


@pytest.fixture()
def video_set(tmp_path):
    """Three videos per class in class folders, the UCF101 test list and classInd.txt, a tiny3d config."""
    root = tmp_path / "videos"
    lines = []
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for k in range(3):
            _write_video(root / name / f"v_{name}_g{k:02d}.avi", -60 + 60 * label + 25 * k, 2 - 4 * label, k)
            lines.append(f"{name}/v_{name}_g{k:02d}.avi {label + 1}")
    (root / "classInd.txt").write_text("1 MoveLeft\n2 MoveRight\n")
    (root / "testlist01.txt").write_text("\n".join(lines) + "\n")
    config = dict(model="tiny3d", dataset="demo", context="py", device_target="CPU", data_source="video",
                  video_path=str(root), annotation_path=str(root / "testlist01.txt"), num_classes=2, spatial_size=16,
                  resize_short=20, train_sample_duration=4, test_sample_duration=4, num_val_samples=2, num_workers=1,
                  dropout_keep_prob=1.0, save_dir=str(tmp_path / "eval"))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    ms.set_context(mode=ms.PYNATIVE_MODE)
    return tmp_path


def _checkpoint(folder, cfg, name):
    """Random tiny3d weights whose predictions on the videos are not all one class."""
    videos = [str(p) for p in sorted((folder / "videos").glob("*/*.avi"))]
    for seed in range(40):
        ms.set_seed(seed)
        path = save_checkpoint_atomic(build_model_from_config(cfg), str(folder / name))
        model = init_recognizer(cfg, path, backend="mindspore")  # no export per candidate
        if len({int(np.argmax(p.scores)) for p in predict_videos(model, videos)}) == 2:
            return path
    raise AssertionError("no seed gives mixed predictions")


def test_predictions_equal_eval_on_the_same_videos(video_set, capsys):
    cfg = load_config(str(video_set / "tiny.yaml"))
    checkpoint = _checkpoint(video_set, cfg, "tiny_rgb.ckpt")
    out_json = video_set / "predictions.json"
    assert predict.main(["--video", str(video_set / "videos"), "--config_path", str(video_set / "tiny.yaml"),
                         "--checkpoint", checkpoint, "--out_json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "1. MoveLeft" in printed and "1. MoveRight" in printed  # names from the list's classInd.txt
    predicted = json.loads(out_json.read_text())

    eval_cfg = cfg.copy()
    eval_cfg.checkpoint_path = checkpoint
    metrics = run_evaluation(eval_cfg)
    assert predicted["top1"] == pytest.approx(metrics["top1"])
    results = json.loads((video_set / "eval" / "results.json").read_text())
    by_name = {entry["video"]: entry for entry in results["predictions"]}
    assert len(by_name) == predicted["num_videos"] == 6
    for entry in predicted["predictions"]:
        stem = os.path.splitext(os.path.basename(entry["video"]))[0]
        assert entry["top"][0]["class"] == by_name[stem]["pred"] and entry["label"] == by_name[stem]["label"]
        assert entry["top"][0]["name"] == by_name[stem]["pred_name"]
        assert {item["name"] for item in entry["top"]} == set(CLASSES)

    assert_scores_are_eval_logits(cfg, str(video_set / "tiny.yaml"), checkpoint)


def assert_scores_are_eval_logits(cfg, config_path, checkpoint):
    """The scores are the softmax of eval.py's view-averaged logits, video by video."""
    source = build_video_source(cfg, "val")
    (logits,), _ = predict_dataset([load_network(cfg, checkpoint)], dataset_from_source(cfg, source, "val"))
    model = init_recognizer(config_path, checkpoint)
    for record, video_logits in zip(source.records, logits):
        np.testing.assert_allclose(inference_recognizer(model, record.path).scores, softmax(video_logits.mean(axis=0)),
                                   rtol=1e-5, atol=1e-6)


def test_rgb_difference_predictions_read_what_eval_reads(video_set):
    config = dict(yaml.safe_load((video_set / "tiny.yaml").read_text()), mode="rgbdiff")
    (video_set / "diff.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(str(video_set / "diff.yaml"))
    ms.set_seed(0)
    checkpoint = save_checkpoint_atomic(build_model_from_config(cfg), str(video_set / "diff.ckpt"))
    assert_scores_are_eval_logits(cfg, str(video_set / "diff.yaml"), checkpoint)


@pytest.mark.parametrize("backend", ["mindspore", "onnxruntime"])
def test_one_video_with_rgb_and_flow_checkpoints_and_the_label_drawn(video_set, backend, zoo_log, monkeypatch):
    threads = []  # MindSpore takes a thread count once per process: recorded, not set
    monkeypatch.setattr(backends, "set_cpu_threads", threads.append)
    monkeypatch.setattr(runtime, "set_cpu_threads", threads.append)
    cfg = load_config(str(video_set / "tiny.yaml"))
    rgb = _checkpoint(video_set, cfg, "rgb.ckpt")
    flow_cfg = cfg.copy()
    flow_cfg.mode = "flow"
    ms.set_seed(1)
    flow = save_checkpoint_atomic(build_model_from_config(flow_cfg), str(video_set / "flow.ckpt"))
    video = video_set / "videos" / "MoveRight" / "v_MoveRight_g01.avi"
    out_json, drawn = video_set / "one.json", video_set / "drawn"
    zoo_log.clear()
    threads.clear()
    assert predict.main(["--video", str(video), "--config_path", str(video_set / "tiny.yaml"), "--rgb_checkpoint", rgb,
                         "--flow_checkpoint", flow, "--flow_method", "farneback", "--top_k", "1", "--out_json",
                         str(out_json), "--draw_dir", str(drawn), "--joint_fusion", "softmax_avg",
                         "--backend", backend, "--num_threads", "1"]) == 0
    assert [m.split(" (")[0] for m in zoo_log if m.startswith("inference: ")] == [f"inference: {backend}"] * 2
    assert len(threads) >= 2 and set(threads) == {1}  # each stream's network, with the command's thread count
    result = json.loads(out_json.read_text())
    assert result["streams"] == ["rgb", "flow"] and len(result["predictions"][0]["top"]) == 1
    assert "top1" not in result  # a lone file has no class folder to score against
    model = init_recognizer(cfg, rgb_checkpoint=rgb, flow_checkpoint=flow, flow_method="farneback",
                            backend="mindspore")
    model.cfg.joint_fusion = "softmax_avg"
    scores = inference_recognizer(model, str(video)).scores
    assert scores.sum() == pytest.approx(1.0, abs=1e-5)
    assert result["predictions"][0]["top"][0]["score"] == pytest.approx(scores.max(), abs=1e-5)
    # the Python API on this backend: the same five best classes as MindSpore's, the same scores
    on_backend = init_recognizer(cfg, rgb_checkpoint=rgb, flow_checkpoint=flow, flow_method="farneback",
                                 backend=backend)
    assert {type(net).__name__ for net in on_backend.nets.values()} == \
        {"OnnxNetwork" if backend == "onnxruntime" else type(model.nets["rgb"]).__name__}
    on_backend.cfg.joint_fusion = "softmax_avg"
    prediction = inference_recognizer(on_backend, str(video))
    assert [i for i, _, _ in prediction.top(5)] == [i for i, _, _ in inference_recognizer(model, str(video)).top(5)]
    np.testing.assert_allclose(prediction.scores, scores, rtol=0, atol=1e-5)
    frames = decode_video(result["predictions"][0]["drawn"])
    assert len(frames) == FRAMES
    assert frames[0][:2, :12].mean() < 25 < frames[0][16:, 16:].mean()  # the label's black box, top left


def test_flow_on_the_fly_is_the_flow_tool_computation(video_set):
    video = str(video_set / "videos" / "MoveLeft" / "v_MoveLeft_g00.avi")
    capture = cv2.VideoCapture(video)
    grey = []
    for _ in range(3):
        grey.append(cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2GRAY))
    capture.release()
    flow = VideoFlowReader("farneback", jpeg_quality=100).read(video, np.array([1, 1, 0]))
    expected = flow_to_uint8(compute_flow(grey[1], grey[2], "farneback"))
    assert flow.shape == (3, 24, 32, 2)
    np.testing.assert_array_equal(flow[0], flow[1])
    assert np.abs(flow[0].astype(int) - expected.astype(int)).max() <= 2  # JPEG at quality 100
    assert flow[..., 0].mean() > 127.5 + 10  # the texture moves right: positive x flow


def test_bad_inputs_are_named(video_set, capsys):
    base = ["--config_path", str(video_set / "tiny.yaml")]
    assert predict.main(["--video", str(video_set / "nowhere.mp4"), "--checkpoint", "x.ckpt"] + base) == 2
    assert "x.ckpt does not exist" in capsys.readouterr().err
    cfg = load_config(str(video_set / "tiny.yaml"))
    checkpoint = save_checkpoint_atomic(build_model_from_config(cfg), str(video_set / "any.ckpt"))
    assert predict.main(["--video", str(video_set / "nowhere.mp4"), "--checkpoint", checkpoint] + base) == 2
    assert "nowhere.mp4 does not exist" in capsys.readouterr().err
    (video_set / "classes3.txt").write_text("1 a\n2 b\n3 c\n")
    assert predict.main(["--video", str(video_set / "videos"), "--checkpoint", checkpoint, "--class_index",
                         str(video_set / "classes3.txt")] + base) == 2
    assert "names 3 classes but the network predicts 2" in capsys.readouterr().err
    assert predict.main(["--video", str(video_set / "videos"), "--checkpoint", checkpoint, "--no_such_key", "1"]
                        + base) == 2
    assert "no_such_key" in capsys.readouterr().err


def test_a_folder_with_unusable_videos_predicts_the_others(video_set, capsys):
    cfg = load_config(str(video_set / "tiny.yaml"))
    checkpoint = save_checkpoint_atomic(build_model_from_config(cfg), str(video_set / "any.ckpt"))
    videos = video_set / "videos"
    (videos / "MoveLeft" / "not_a_video.avi").write_text("text, not a video\n")
    (videos / "MoveRight" / "empty.mp4").write_bytes(b"")
    writer = cv2.VideoWriter(str(videos / "MoveRight" / "one_frame.avi"), cv2.CAP_OPENCV_MJPEG,
                             cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    writer.write(np.full((24, 32, 3), 90, np.uint8))
    writer.release()
    out_json = video_set / "predictions.json"
    args = ["--video", str(videos), "--config_path", str(video_set / "tiny.yaml"), "--checkpoint", checkpoint,
            "--out_json", str(out_json), "--backend", "mindspore"]
    assert predict.main(args) == 1  # every usable video predicted, and a status that says some were not
    captured = capsys.readouterr()
    assert "2 of 9 videos skipped" in captured.err
    assert re.search(r"SKIPPED \S+not_a_video\.avi: cannot be decoded", captured.err)
    assert re.search(r"one_frame\.avi \(class folder: MoveRight\) \(only 1 frame: its clips are loop-padded\)",
                     captured.out)
    written = json.loads(out_json.read_text())
    assert written["num_videos"] == 7 and len(written["skipped"]) == 2  # the 1-frame video is predicted, padded
    assert predict.main(args + ["--strict", "true"]) == 2
    assert "error: " in capsys.readouterr().err
    model = init_recognizer(cfg, checkpoint, backend="mindspore")
    with pytest.warns(UserWarning, match="2 of 3 videos skipped"):
        results = predict_videos(model, [str(videos / "MoveLeft" / "not_a_video.avi"),
                                         str(videos / "MoveLeft" / "v_MoveLeft_g00.avi"),
                                         str(videos / "MoveRight" / "empty.mp4")])
    assert [os.path.basename(p.video) for p in results] == ["v_MoveLeft_g00.avi"] and len(results.skipped) == 2


def test_a_folder_read_for_flow_skips_audio_only_frameless_and_one_frame_videos(video_set, capsys):
    cfg = load_config(str(video_set / "tiny.yaml"))
    rgb = save_checkpoint_atomic(build_model_from_config(cfg), str(video_set / "rgb.ckpt"))
    flow_cfg = cfg.copy()
    flow_cfg.mode = "flow"
    flow = save_checkpoint_atomic(build_model_from_config(flow_cfg), str(video_set / "flow.ckpt"))
    videos = video_set / "videos"
    # an MP4 holding one AAC sound track and no picture (1 s of 440 Hz: ffmpeg -f lavfi -i
    # sine=frequency=440:duration=1 -c:a aac -b:a 16k)
    shutil.copy(os.path.join(TESTS, "data", "audio_only.mp4"), videos / "MoveLeft" / "audio_only.mp4")
    for name, frames in (("no_frames.avi", 0), ("one_frame.avi", 1)):
        writer = cv2.VideoWriter(str(videos / "MoveRight" / name), cv2.CAP_OPENCV_MJPEG,
                                 cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
        for _ in range(frames):
            writer.write(np.full((24, 32, 3), 90, np.uint8))
        writer.release()
    out_json = video_set / "predictions.json"
    assert predict.main(["--video", str(videos), "--config_path", str(video_set / "tiny.yaml"), "--rgb_checkpoint",
                         rgb, "--flow_checkpoint", flow, "--flow_method", "farneback", "--backend", "mindspore",
                         "--out_json", str(out_json)]) == 1
    err = capsys.readouterr().err
    assert "3 of 9 videos skipped" in err
    for name in ("audio_only.mp4", "no_frames.avi", "one_frame.avi"):
        assert re.search(rf"SKIPPED \S+{re.escape(name)}: cannot be decoded into two frames \(flow needs two\)", err)
    assert json.loads(out_json.read_text())["num_videos"] == 6
