"""Inputs as users have them: variable-frame-rate and truncated files, mmaction2 / PaddleVideo
rawframe folders (``img_`` / ``x_`` / ``y_``, numbered from 0 or 1), two-column lists, same-named
videos with two extensions, flow made by two methods. Each works, or is refused naming the file."""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from helpers import no_decoding
from src.config import load_config
from src.data import readers
from src.data.annotations import AnnotationError, load_list_file
from src.data.dataset import build_video_source
from src.data.frame_counts import COUNT_CACHE_FILE, cached_video_counts
from src.data.readers import FrameReadError, count_video_frames
from src.tools.data import convert_rgb_to_flow, count_frames, generate_n_frames, generate_rgb_jpgs

CLASSES = ["MoveLeft", "MoveRight"]
H, W = 24, 32


def _image(seed: int, index: int) -> np.ndarray:
    """A frame whose green channel encodes its index (to check which frame was read)."""
    image = np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)
    image[:, :, 1] = (10 * index) % 256
    return image


# --- video files made with OpenCV ------------------------------------------------------------

def _write_avi(path, frames: int, seed: int = 0) -> str:
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
    for i in range(frames):
        writer.write(_image(seed, i))
    writer.release()
    return str(path)


def _truncate(path) -> str:
    data = open(path, "rb").read()
    open(path, "wb").write(data[:len(data) // 2])
    return str(path)


def _element(element_id: int, payload: bytes) -> bytes:
    """One Matroska (EBML) element with an 8-byte size field."""
    size = b"\x01" + len(payload).to_bytes(7, "big")
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def write_vfr_mkv(path, times_ms, seed: int = 0) -> str:
    """A Matroska file of JPEG frames shown at ``times_ms``: frames every 40 or 160 ms, a variable
    frame rate whose header count (duration x the guessed 25 fps) exceeds the frames it holds."""
    header = _element(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
                      + _element(0x4282, b"matroska") + _uint(0x4287, 4) + _uint(0x4285, 2))
    duration = times_ms[-1] + 40
    info = _element(0x1549A966, _uint(0x2AD7B1, 1000000) + _element(0x4489, struct.pack(">d", float(duration))))
    video = _element(0xE0, _uint(0xB0, W) + _uint(0xBA, H))
    track = _element(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _element(0x86, b"V_MJPEG") + video)
    blocks = b"".join(_element(0xA3, b"\x81" + struct.pack(">hB", int(t), 0x80)
                               + cv2.imencode(".jpg", _image(seed, i))[1].tobytes())
                      for i, t in enumerate(times_ms))
    segment = info + _element(0x1654AE6B, track) + _element(0x1F43B675, _uint(0xE7, 0) + blocks)
    with open(path, "wb") as handle:
        handle.write(header + _element(0x18538067, segment))
    return str(path)


VFR_TIMES = list(np.cumsum([0] + [40 if i % 2 else 160 for i in range(19)]))  # 20 frames over 2 s


def test_variable_frame_rate_is_counted_by_the_decoder_and_not_called_truncated(tmp_path):
    count = count_video_frames(write_vfr_mkv(tmp_path / "vfr.mkv", VFR_TIMES))
    assert count.frames == 20 and count.declared > 40  # the header's count is duration x nominal rate
    assert "variable frame rate" in count.problem() and "truncated" not in count.problem()


def test_truncated_file_is_called_truncated(tmp_path):
    count = count_video_frames(_truncate(_write_avi(tmp_path / "cut.avi", 40)))
    assert count.declared == 40 and 5 < count.frames < 30
    assert "truncated" in count.problem() and "variable" not in count.problem()
    assert count_video_frames(_write_avi(tmp_path / "whole.avi", 40)).problem() == ""


@pytest.fixture()
def odd_videos(tmp_path):
    """A video root with a VFR .mkv, a truncated .avi and an intact .avi, and its list file."""
    root = tmp_path / "videos"
    (root / "MoveLeft").mkdir(parents=True)
    (root / "MoveRight").mkdir()
    write_vfr_mkv(root / "MoveLeft" / "vfr.mkv", VFR_TIMES, seed=1)
    _truncate(_write_avi(root / "MoveLeft" / "cut.avi", 40, seed=2))
    _write_avi(root / "MoveRight" / "whole.avi", 12, seed=3)
    (tmp_path / "list.txt").write_text("MoveLeft/vfr.mkv 0\nMoveLeft/cut.avi 0\nMoveRight/whole.avi 1\n")
    return tmp_path


def _video_cfg(root, **overrides):
    values = dict(data_source="video", video_path=str(root / "videos"), annotation_path=str(root / "list.txt"),
                  num_classes=2, spatial_size=16, resize_short=20, train_sample_duration=8, test_sample_duration=8,
                  num_val_samples=3, num_workers=1)
    values.update(overrides)
    return load_config("", values)


def test_video_source_decodes_nothing_at_start_and_corrects_short_videos_when_read(odd_videos, monkeypatch):
    monkeypatch.setattr(readers, "count_video_frames", no_decoding)
    source = build_video_source(_video_cfg(odd_videos), "val")
    assert all(r.num_frames == 0 for r in source.records)  # the containers' counts, read per clip
    with pytest.warns(UserWarning) as caught:
        for index in range(len(source)):  # the last view reaches past the real end: sampled again within it
            views, _, _ = source[index]
            assert views.shape == (3, 3, 8, 16, 16)
    messages = " | ".join(str(w.message) for w in caught)
    assert "vfr.mkv: variable frame rate" in messages and "cut.avi: decoded" in messages and "truncated" in messages
    assert "whole.avi" not in messages
    corrected = cached_video_counts([r.path for r in source.records], str(odd_videos / "videos"))
    assert {os.path.basename(p): c.frames for p, c in corrected.items()}["vfr.mkv"] == 20  # the cache learnt it


def test_counted_videos_give_the_decoder_counts_and_one_counted_warning_at_start(odd_videos):
    assert count_frames.main(["--video_path", str(odd_videos / "videos"), "--annotation_path",
                              str(odd_videos / "list.txt")]) == 0
    with pytest.warns(UserWarning, match=r"2 of 3 videos decode fewer frames than their header declares") as caught:
        source = build_video_source(_video_cfg(odd_videos), "val")
    message = str(next(w.message for w in caught if "decode fewer" in str(w.message)))
    assert "vfr.mkv: variable frame rate" in message and "cut.avi: decoded" in message and "truncated" in message
    counts = {os.path.basename(r.path): r.num_frames for r in source.records}
    assert counts["vfr.mkv"] == 20 and counts["whole.avi"] == 12 and 5 < counts["cut.avi"] < 30


def test_frame_count_cache_skips_changed_files_and_torn_lines(odd_videos, monkeypatch):
    root = odd_videos / "videos"
    assert count_frames.main(["--video_path", str(root)]) == 0
    path = str(root / "MoveRight" / "whole.avi")
    assert cached_video_counts([path], str(root))[path].frames == 12
    _write_avi(path, 9, seed=4)  # a changed file is not taken from the cache
    assert cached_video_counts([path], str(root)) == {}
    with open(root / COUNT_CACHE_FILE, "a") as cache:
        cache.write("MoveRight/whole.avi\t12\t")  # a line torn by a kill
    assert cached_video_counts([path], str(root)) == {}
    monkeypatch.setattr(count_frames, "count_video_frames", count_video_frames)
    assert count_frames.main(["--video_path", str(root)]) == 0
    assert cached_video_counts([path], str(root))[path].frames == 9


def _cache_lines(cache) -> int:
    return sum(1 for line in cache.read_text().splitlines() if line.strip())


def test_count_frames_resumes_after_a_kill(tmp_path):
    root = tmp_path / "videos" / "MoveLeft"
    root.mkdir(parents=True)
    for i in range(40):
        _write_avi(root / f"v{i:02d}.avi", 150, seed=i)
    command = [sys.executable, "-m", "src.tools.data.count_frames", "--video_path", str(tmp_path / "videos")]
    cache = tmp_path / "videos" / COUNT_CACHE_FILE
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not cache.exists() or _cache_lines(cache) < 3):
        time.sleep(0.005)
    process.kill()
    process.wait()
    done_before = _cache_lines(cache)
    assert 3 <= done_before < 40, "the count was not interrupted mid-way"
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"40 videos, {done_before} counted before, {40 - done_before} to decode" in rerun.stdout
    paths = sorted(str(p) for p in root.iterdir())
    counts = cached_video_counts(paths, str(tmp_path / "videos"))
    assert len(counts) == 40 and {c.frames for c in counts.values()} == {150}
    assert _cache_lines(cache) == 40  # nothing counted twice


def test_frame_tool_applies_the_same_rule(odd_videos, capsys):
    out = odd_videos / "jpg"
    assert generate_rgb_jpgs.main(["--src_path", str(odd_videos / "videos"), "--dst_path", str(out)]) == 0
    err = capsys.readouterr().err
    assert "MoveLeft/vfr: " in err and "variable frame rate" in err
    assert "MoveLeft/cut: " in err and "truncated" in err
    assert (out / "MoveLeft" / "vfr" / "n_frames").read_text().strip() == "20"
    assert len(list((out / "MoveLeft" / "vfr").glob("image_*.jpg"))) == 20


# --- two videos, one frame folder ------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_same_named_videos_with_two_extensions_are_refused(tmp_path, capsys, workers):
    videos = tmp_path / "videos" / "MoveLeft"
    videos.mkdir(parents=True)
    _write_avi(videos / "clip.avi", 6, seed=1)
    shutil.copy(videos / "clip.avi", videos / "clip.mp4")
    _write_avi(videos / "other.avi", 5, seed=2)
    args = ["--src_path", str(tmp_path / "videos"), "--dst_path", str(tmp_path / "jpg"), "--num_workers", str(workers)]
    assert generate_rgb_jpgs.main(args + ["--strict", "true"]) == 1
    captured = capsys.readouterr()
    assert "1 done, 0 skipped (already complete), 0 with warnings, 1 failed" in captured.out
    assert captured.err.count("clip.avi, clip.mp4 would share the frame folder") == 1  # one line for the pair
    assert sorted(p.name for p in (tmp_path / "jpg" / "MoveLeft").iterdir()) == ["other"]
    assert generate_rgb_jpgs.main(args + ["--extensions", ".avi"]) == 0  # the fix the message names
    assert (tmp_path / "jpg" / "MoveLeft" / "clip" / "n_frames").read_text().strip() == "6"


# --- mmaction2 / PaddleVideo rawframes ---------------------------------------------------------

def _rawframes(root, start: int, frames: int = 10):
    """mmaction2 rawframes: img_ and x_ / y_ in one folder per video, no n_frames file; two-column list."""
    lines = []
    for label, name in enumerate(CLASSES):
        for k in range(2):
            folder = root / "rawframes" / name / f"v_{name}_{k}"
            folder.mkdir(parents=True)
            for i in range(frames):
                cv2.imwrite(str(folder / f"img_{i + start:05d}.jpg"), _image(k, i))
            for i in range(frames - 1):
                cv2.imwrite(str(folder / f"x_{i + start:05d}.jpg"), np.full((H, W), 10 * i, np.uint8))
                cv2.imwrite(str(folder / f"y_{i + start:05d}.jpg"), np.full((H, W), 128, np.uint8))
            lines.append(f"{name}/v_{name}_{k} {label}")
    (root / "two_columns.txt").write_text("\n".join(lines) + "\n")
    (root / "three_columns.txt").write_text("\n".join(f"{line.split()[0]} {frames} {line.split()[1]}"
                                                      for line in lines) + "\n")
    return root


def _rawframe_cfg(root, start, annotation="two_columns.txt", **overrides):
    values = dict(data_source="list", video_path=str(root / "rawframes"), video_path_joint_flow=str(root / "rawframes"),
                  annotation_path=str(root / annotation), rgb_template="img_{:05d}.jpg",
                  flow_template="{}_{:05d}.jpg", frame_start_index=start, num_classes=2, spatial_size=16,
                  resize_short=20, test_sample_duration=10, num_workers=1)
    values.update(overrides)
    return load_config("", values)


@pytest.mark.parametrize("start", [0, 1])
def test_rawframes_with_a_two_column_list_count_their_folders(tmp_path, start):
    root = _rawframes(tmp_path, start)
    rgb = build_video_source(_rawframe_cfg(root, start), "val")
    assert [r.num_frames for r in rgb.records] == [10] * 4
    views, label, _ = rgb[0]
    assert views.shape == (1, 3, 10, 16, 16) and label == 0
    flow = build_video_source(_rawframe_cfg(root, start, mode="flow"), "val")
    assert [r.num_frames for r in flow.records] == [9] * 4  # x_ files counted, not the RGB count


@pytest.mark.parametrize("annotation", ["two_columns.txt", "three_columns.txt"])
def test_joint_source_from_one_rawframe_list_never_asks_for_a_missing_flow_frame(tmp_path, annotation):
    root = _rawframes(tmp_path, 0)
    source = build_video_source(_rawframe_cfg(root, 0, annotation), "val", joint=True)
    assert [r.num_frames for r in source.streams[1]["records"]] == [9] * 4  # the list's 10 RGB frames - 1
    for index in range(len(source)):
        rgb_views, flow_views, _, _ = source[index]
        assert rgb_views.shape[2] == flow_views.shape[2] == 10  # 9 frames loop-padded to the clip


@pytest.mark.parametrize("start", [0, 1])
def test_flow_list_counts_are_read_as_rgb_or_flow_counts_by_what_the_folder_holds(tmp_path, start):
    root = _rawframes(tmp_path, start)  # 10 RGB frames, 9 flow frames per video
    flow_cfg = _rawframe_cfg(root, start, "three_columns.txt", mode="flow", test_sample_duration=4)
    assert {r.num_frames for r in build_video_source(flow_cfg, "val").records} == {9}  # RGB count 10
    (root / "flow_counts.txt").write_text((root / "three_columns.txt").read_text().replace(" 10 ", " 9 "))
    flow_cfg = _rawframe_cfg(root, start, "flow_counts.txt", mode="flow", test_sample_duration=4)
    assert {r.num_frames for r in build_video_source(flow_cfg, "val").records} == {9}  # mmaction2's flow count 9


def test_wrong_template_or_start_index_points_at_the_options(tmp_path):
    root = _rawframes(tmp_path, 0)
    with pytest.raises(AnnotationError, match=r"img_00010\.jpg is missing, and its 10 frames named like "
                                             r"'img_\{:05d\}\.jpg' are numbered 0\.\.9: set frame_start_index 0"):
        build_video_source(_rawframe_cfg(root, 0, "three_columns.txt", frame_start_index=1), "val")
    with pytest.raises(AnnotationError, match=r"no frame named like 'image_\{:05d\}\.jpg'"):
        build_video_source(_rawframe_cfg(root, 0, rgb_template="image_{:05d}.jpg"), "val")
    with pytest.raises(FrameReadError, match=r"template 'img\.jpg' has 0 field\(s\).*set rgb_template"):
        build_video_source(_rawframe_cfg(root, 0, rgb_template="img.jpg"), "val")


def test_tools_read_and_write_rawframe_names(tmp_path, capsys):
    root = _rawframes(tmp_path, 0, frames=4)
    templates = ["--rgb_template", "img_{:05d}.jpg", "--flow_template", "{}_{:05d}.jpg", "--start_index", "0"]
    assert generate_n_frames.main(["--video_path", str(root / "rawframes")] + templates) == 0
    assert {p.read_text().strip() for p in root.glob("rawframes/*/*/n_frames")} == {"4"}
    flow_root = tmp_path / "flow"
    assert convert_rgb_to_flow.main(["--src_path", str(root / "rawframes"), "--dst_path", str(flow_root),
                                     "--method", "farneback"] + templates) == 0
    folder = flow_root / "MoveLeft" / "v_MoveLeft_0"
    assert sorted(p.name for p in folder.iterdir()) == ["flow.json", "n_frames", "x_00000.jpg", "x_00001.jpg",
                                                         "x_00002.jpg", "y_00000.jpg", "y_00001.jpg", "y_00002.jpg"]
    capsys.readouterr()
    assert generate_n_frames.main(["--video_path", str(root / "rawframes")]) == 0  # default names: none found
    assert "no flow_x_*.jpg files" in capsys.readouterr().err
    assert generate_rgb_jpgs.main(["--src_path", str(tmp_path), "--dst_path", str(tmp_path / "o"),
                                   "--rgb_template", "img.jpg"]) == 2
    assert "--rgb_template" in capsys.readouterr().err


def test_flow_made_with_another_method_is_not_mixed(tmp_path, capsys):
    root = _rawframes(tmp_path, 1, frames=3)
    args = ["--src_path", str(root / "rawframes"), "--dst_path", str(tmp_path / "flow"), "--rgb_template",
            "img_{:05d}.jpg"]
    assert convert_rgb_to_flow.main(args + ["--method", "farneback"]) == 0
    record = tmp_path / "flow" / "MoveLeft" / "v_MoveLeft_0" / "flow.json"
    assert json.loads(record.read_text()) == {"method": "farneback", "bound": 20.0}
    capsys.readouterr()
    assert convert_rgb_to_flow.main(args + ["--method", "farneback"]) == 0
    assert "4 skipped" in capsys.readouterr().out
    assert convert_rgb_to_flow.main(args + ["--method", "dis", "--strict", "true"]) == 1
    captured = capsys.readouterr()
    assert "4 failed" in captured.out and "flows of one folder are not mixed" in captured.err
    assert "'method': 'farneback'" in captured.err and "--overwrite true" in captured.err
    assert convert_rgb_to_flow.main(args + ["--method", "dis", "--overwrite", "true"]) == 0
    assert json.loads(record.read_text())["method"] == "dis"
    assert convert_rgb_to_flow.main(["--src_path", str(root / "rawframes"), "--dst_path",
                                     str(root / "rawframes")]) == 2
    assert "flow needs a root of its own" in capsys.readouterr().err


# --- list forms --------------------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("MoveLeft/v 3 10 0", "offset form"),
    ("MoveLeft/v 10 0 1", "multi-label form"),
])
def test_mmaction2_offset_and_multilabel_lists_are_refused(tmp_path, line, message):
    (tmp_path / "list.txt").write_text(line + "\n")
    with pytest.raises(AnnotationError, match=rf"list\.txt:1: 4 columns: .*{message}"):
        load_list_file(str(tmp_path / "list.txt"), str(tmp_path))


def test_list_of_video_files_read_as_frame_folders_is_refused(odd_videos):
    with pytest.raises(AnnotationError, match=r"3 entries of the list are files, not frame folders .*data_source"):
        build_video_source(_video_cfg(odd_videos, data_source="list"), "val")


def test_feature_extraction_takes_seconds_from_the_decoded_time_stamps(tmp_path):
    from src.tools.data.extract_features import decode_video
    frames, decoded = decode_video(write_vfr_mkv(tmp_path / "vfr.mkv", VFR_TIMES), 16)
    assert len(frames) == 20 and decoded.fps > 0
    assert len(frames) / decoded.fps < 1.0  # frames / header rate: well under half the video
    assert decoded.seconds() == pytest.approx(2.0, abs=0.05)  # its time stamps span 2 s
    assert "variable frame rate" in decoded.problem()
    _, whole = decode_video(_write_avi(tmp_path / "whole.avi", 40), 16)
    assert whole.seconds() == pytest.approx(40 / 25, abs=0.01) and whole.problem() == ""
