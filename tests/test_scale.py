"""Behaviour that matters at Kinetics scale, checked at small N: nothing decoded before the first step,
a capped epoch reads only its steps, and broken video files are skipped, listed and counted while the
run trains on the rest (the timings and memory at N = 1k ... 240k are benchmarks/bench_scale.py's)."""
import json
import os
import warnings

import cv2
import numpy as np
import pytest

from helpers import no_decoding
from src.config import load_config
from src.data import readers
from src.data.bad_samples import BAD_SAMPLES_FILE
from src.data.dataset import VideoClipSource, build_video_source, create_video_dataset
from src.engine.callbacks import BadSampleGuard, TooManyBadSamples
from src.engine.trainer import train

H, W = 24, 32


def _write_video(path, frames: int, value: int) -> str:
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
    rng = np.random.default_rng(value)
    for _ in range(frames):
        writer.write(np.clip(value + rng.integers(-20, 20, (H, W, 3)), 0, 255).astype(np.uint8))
    writer.release()
    return str(path)


@pytest.fixture()
def videos_with_broken_files(tmp_path):
    """24 videos of two separable classes, 3 of them broken: empty, not a video, cut before its first frame."""
    lines = []
    for c, label in enumerate(("Dark", "Bright")):
        (tmp_path / "videos" / label).mkdir(parents=True)
        for k in range(12):
            name = f"{label}/v{k:02d}.avi"
            _write_video(tmp_path / "videos" / name, 12, 60 + 130 * c)
            lines.append(f"{name} {c}")
    (tmp_path / "videos" / "Dark" / "v03.avi").write_bytes(b"")
    (tmp_path / "videos" / "Bright" / "v05.avi").write_text("not a video\n")
    cut = tmp_path / "videos" / "Dark" / "v07.avi"
    cut.write_bytes(cut.read_bytes()[:200])
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.txt").write_text("Dark/v00.avi 0\nBright/v00.avi 1\n")
    return tmp_path


def _video_cfg(root, **overrides):
    values = dict(model="tiny3d", dataset="demo", context="py", data_source="video",
                  video_path=str(root / "videos"), annotation_path=str(root / "train.txt"),
                  val_annotation_path=str(root / "val.txt"), num_classes=2, spatial_size=16, resize_short=20,
                  train_sample_duration=4, test_sample_duration=4, batch_size=2, num_workers=1, num_epochs=2,
                  lr=0.05, save_dir=str(root / "out"), dropout_keep_prob=1.0, checkpoints_num_keep=1)
    values.update(overrides)
    return load_config("", values)


def test_no_rank_decodes_a_video_before_its_first_step(videos_with_broken_files, monkeypatch):
    monkeypatch.setattr(readers, "count_video_frames", no_decoding)
    cfg = _video_cfg(videos_with_broken_files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sizes = [create_video_dataset(cfg, "train", rank, 2).get_dataset_size() for rank in (0, 1)]
    assert sizes == [6, 6]  # 23 usable videos (the empty one dropped from its size alone): 12 per rank


def test_a_capped_epoch_reads_only_its_steps(videos_with_broken_files, monkeypatch):
    reads = []
    original = VideoClipSource._read

    def counted(self, index, seed_words):
        reads.append(index)
        return original(self, index, seed_words)
    monkeypatch.setattr(VideoClipSource, "_read", counted)
    cfg = _video_cfg(videos_with_broken_files, max_steps_per_epoch=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = create_video_dataset(cfg, "train")
        batches = list(dataset.create_tuple_iterator(output_numpy=True, num_epochs=1))
    assert len(batches) == 2
    assert len(reads) <= 2 * 2 + 2  # four clips, and the broken videos those draws ran into


def test_broken_videos_are_skipped_listed_and_the_rest_is_read(videos_with_broken_files):
    cfg = _video_cfg(videos_with_broken_files)
    bad_file = videos_with_broken_files / "out" / BAD_SAMPLES_FILE
    with pytest.warns(UserWarning, match=r"1 of 24 videos are unusable and skipped; listed in .*Dark/v03.avi "
                                         r"\(empty file\)"):
        source = build_video_source(cfg, "train", bad_samples_file=str(bad_file))
    assert len(source) == 23
    with pytest.warns(UserWarning, match="unreadable sample skipped") as caught:
        items = [source[index] for index in range(len(source))]
    assert len([w for w in caught if "unreadable sample skipped" in str(w.message)]) == 1  # once per process
    assert all(item[0].shape == (3, 4, 16, 16) for item in items)
    listed = [line.split("\t")[0] for line in bad_file.read_text().splitlines()]
    assert sorted(os.path.relpath(path, videos_with_broken_files / "videos") for path in listed) == \
        ["Bright/v05.avi", "Dark/v03.avi", "Dark/v07.avi"]
    again = [source[index] for index in range(len(source))]  # known bad videos are not read again
    assert len(again) == 23 and len(bad_file.read_text().splitlines()) == 3


def test_training_on_a_dataset_with_broken_files_lists_them_and_trains_on_the_rest(videos_with_broken_files,
                                                                                   zoo_log):
    cfg = _video_cfg(videos_with_broken_files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(cfg)
    assert len(result["history"]) == 2
    listed = (videos_with_broken_files / "out" / BAD_SAMPLES_FILE).read_text()
    assert "Dark/v03.avi" in listed and "Bright/v05.avi" in listed and "Dark/v07.avi" in listed
    assert any("unreadable samples skipped so far in this run" in message for message in zoo_log)


def test_too_many_bad_samples_stop_the_run_naming_the_list(tmp_path):
    bad_file = tmp_path / BAD_SAMPLES_FILE
    bad_file.write_text("old/run.avi\tfrom an earlier run\n")
    guard = BadSampleGuard(str(bad_file), 0.05, batch_size=10, logger=None)
    with open(bad_file, "a") as handle:
        handle.write("".join(f"v{i}.avi\tnot a video\n" for i in range(5)))
    for _ in range(BadSampleGuard.CHECK_EVERY):
        guard.on_train_step_end(None)  # 5 bad beside 200 read: under 5 %
    with open(bad_file, "a") as handle:
        handle.write("".join(f"w{i}.avi\tnot a video\n" for i in range(16)))
    with pytest.raises(TooManyBadSamples, match=r"21 of the 421 samples read were unreadable, more than "
                                                r"max_bad_sample_ratio 0.05; they are listed in .*bad_samples.tsv"):
        for _ in range(BadSampleGuard.CHECK_EVERY):
            guard.on_train_step_end(None)


def test_listed_frame_counts_are_checked_against_the_folders_before_the_first_step(tiny_frames, tiny_cfg):
    annotation = json.loads((tiny_frames / "anno.json").read_text())
    annotation["database"]["v_MoveLeft_g01_c01"]["annotations"]["segment"] = [1, 25]  # the folder holds 10
    (tiny_frames / "anno.json").write_text(json.dumps(annotation))
    with pytest.warns(UserWarning, match=r"1 of 12 rgb frame folders hold fewer frames named like "
                                         r"'image_\{:05d\}\.jpg' than their annotation or list gives; their own "
                                         r"counts are used: v_MoveLeft_g01_c01 \(listed 25, holds 10\)"):
        source = build_video_source(tiny_cfg, "train")
    assert {r.video_id: r.num_frames for r in source.records}["v_MoveLeft_g01_c01"] == 10
    assert all(item[0].shape == (3, 4, 16, 16) for item in (source[index] for index in range(len(source))))
