"""Data-preparation tools on a tiny generated demo dataset: demo videos and lists, frame
extraction, optical flow, annotation JSON (UCF101 and HMDB51 style), n_frames, and bad inputs."""
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import decode_video
from src.demo import make_demo_dataset
from src.demo.make_demo_dataset import FrameSpec, VideoSpec, render_video
from src.tools.data import convert_rgb_to_flow, generate_n_frames, generate_rgb_jpgs, hmdb51_json, ucf101_json
from src.tools.data.convert_rgb_to_flow import compute_flow, flow_to_uint8

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["MoveLeft", "MoveRight", "RotateClockwise"]
FRAMES, HEIGHT, WIDTH = 12, 64, 86
TRAIN_PER_CLASS, TEST_PER_CLASS = 2, 1


def uint8_to_flow(image, bound=20.0):
    """The stored flow JPEG pixels back to flow in pixels (inverse of flow_to_uint8 up to quantisation)."""
    return image.astype(np.float32) * (2.0 * bound / 255.0) - bound


def make_demo(out, seed=0):
    status = make_demo_dataset.main([
        "--out", str(out), "--seed", str(seed), "--classes", ",".join(CLASSES),
        "--videos_per_class_train", str(TRAIN_PER_CLASS), "--videos_per_class_test", str(TEST_PER_CLASS),
        "--clips_per_group", "2", "--num_frames", str(FRAMES), "--height", str(HEIGHT), "--width", str(WIDTH)])
    assert status == 0
    return out


def all_videos(root):
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.avi"))


def video_dirs(root):
    return sorted(p for p in root.glob("*/*") if p.is_dir())


def textured_image(seed, height=HEIGHT, width=WIDTH):
    """Smooth random texture (uint8 grey) that optical flow can lock onto."""
    noise = np.random.default_rng(seed).random((height // 4, width // 4)).astype(np.float32)
    return (cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def frames_root(demo):
    root = demo / "jpg"
    assert generate_rgb_jpgs.main(["--src_path", str(demo / "videos"), "--dst_path", str(root),
                                   "--num_workers", "2"]) == 0
    return root


@pytest.fixture(scope="module")
def flow_root(demo, frames_root):
    root = demo / "flow"
    assert convert_rgb_to_flow.main(["--src_path", str(frames_root), "--dst_path", str(root),
                                     "--method", "dis"]) == 0
    return root


# --- demo dataset ----------------------------------------------------------------------------

def test_demo_lists_follow_ucf101_formats(demo):
    list_dir = demo / "ucfTrainTestlist"
    raw = (list_dir / "classInd.txt").read_bytes()
    assert raw == "".join(f"{i} {name}\r\n" for i, name in enumerate(CLASSES, 1)).encode()
    train = (list_dir / "trainlist01.txt").read_text().splitlines()
    test = (list_dir / "testlist01.txt").read_text().splitlines()
    assert len(train) == len(CLASSES) * TRAIN_PER_CLASS and len(test) == len(CLASSES) * TEST_PER_CLASS
    train_groups, test_groups = set(), set()
    for line in train:
        match = re.fullmatch(r"(\w+)/v_\1_g(\d\d)_c(\d\d)\.avi (\d+)", line)
        assert match, line
        assert CLASSES[int(match.group(4)) - 1] == match.group(1)
        train_groups.add((match.group(1), int(match.group(2))))
        assert (demo / "videos" / line.split()[0]).is_file()
    for line in test:
        match = re.fullmatch(r"(\w+)/v_\1_g(\d\d)_c(\d\d)\.avi", line)
        assert match, line
        test_groups.add((match.group(1), int(match.group(2))))
        assert (demo / "videos" / line).is_file()
    assert not train_groups & test_groups
    assert min(g for _, g in train_groups) == 8 and {g for _, g in test_groups} == {1}
    assert len(all_videos(demo / "videos")) == len(train) + len(test)
    info = json.loads((demo / "demo_info.json").read_text())
    assert info["classes"] == CLASSES and info["horizontal_flip_changes_labels"] is True
    assert (info["height"], info["width"], info["num_frames"]) == (HEIGHT, WIDTH, FRAMES)


def test_demo_video_shape_and_determinism(demo, tmp_path):
    first = demo / "videos" / "MoveLeft" / "v_MoveLeft_g08_c01.avi"
    frames = decode_video(first)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    again = make_demo(tmp_path / "again", seed=0)
    other = make_demo(tmp_path / "other", seed=1)
    for relative in all_videos(demo / "videos"):
        np.testing.assert_array_equal(decode_video(demo / "videos" / relative), decode_video(again / "videos" / relative))
        assert (demo / "videos" / relative).read_bytes() == (again / "videos" / relative).read_bytes()
        assert np.abs(decode_video(demo / "videos" / relative).astype(int)
                      - decode_video(other / "videos" / relative)).mean() > 10
    # The video holds the rendered frames up to MJPG's loss (quality 95, subsampled chroma).
    rendered, _ = render_video(VideoSpec("MoveLeft", 8, 1, 1), FrameSpec(HEIGHT, WIDTH, FRAMES, 0, 25.0))
    assert np.abs(rendered.astype(int) - frames).mean() < 6


def test_demo_scene_belongs_to_the_group_not_the_class():
    frames = FrameSpec(HEIGHT, WIDTH, 2, 0, 25.0)
    left = render_video(VideoSpec("MoveLeft", 8, 1, 1), frames)[0][0].astype(int)
    right = render_video(VideoSpec("MoveRight", 8, 1, 2), frames)[0][0].astype(int)
    unseen = render_video(VideoSpec("MoveLeft", 1, 1, 1), frames)[0][0].astype(int)
    # Same group, other class: the same background wherever no object covers it.
    assert np.mean(np.all(left == right, axis=2)) > 0.5
    assert np.abs(left - unseen).mean() > 10


def _flow_around_object(video, track, index, half=12):
    """DIS flow of frames index -> index+1, rolled so the object's centre sits in the middle."""
    height, width = video.shape[1:3]
    flow = compute_flow(cv2.cvtColor(video[index], cv2.COLOR_BGR2GRAY),
                        cv2.cvtColor(video[index + 1], cv2.COLOR_BGR2GRAY), "dis")
    shift = (height // 2 - int(track[index, 1]), width // 2 - int(track[index, 0]))
    centred = np.roll(flow, shift, axis=(0, 1))
    return centred[height // 2 - half:height // 2 + half, width // 2 - half:width // 2 + half]


@pytest.mark.parametrize("class_name", ["MoveLeft", "MoveRight", "MoveUp", "MoveDown",
                                        "RotateClockwise", "RotateAnticlockwise"])
def test_demo_motion_matches_class_name(class_name):
    # The default frame size: at 64 px the object is too small for DIS to resolve its rotation.
    video, track = render_video(VideoSpec(class_name, 8, 1, 1), FrameSpec(128, 171, 4, 3, 25.0))
    windows = np.stack([_flow_around_object(video, track, index) for index in range(3)])
    mean_x, mean_y = windows[..., 0].mean(), windows[..., 1].mean()
    # Curl with y pointing down: positive for a clockwise rotation on screen.
    curl = (np.gradient(windows[..., 1], axis=2) - np.gradient(windows[..., 0], axis=1)).mean()
    expected = {"MoveLeft": (mean_x, -1), "MoveRight": (mean_x, 1), "MoveUp": (mean_y, -1),
                "MoveDown": (mean_y, 1), "RotateClockwise": (curl, 1), "RotateAnticlockwise": (curl, -1)}
    value, sign = expected[class_name]
    threshold = 1.0 if class_name.startswith("Move") else 0.05
    assert value * sign > threshold, (class_name, mean_x, mean_y, curl)
    if class_name.startswith("Rotate"):
        assert abs(mean_x) < 1.0 and abs(mean_y) < 1.0
    else:
        assert abs(curl) < 0.05


# --- frames ----------------------------------------------------------------------------------

def test_frames_counts_sizes_and_content(demo, frames_root):
    for relative in all_videos(demo / "videos"):
        folder = frames_root / os.path.splitext(relative)[0]
        assert (folder / "n_frames").read_text().strip() == str(FRAMES)
        names = sorted(p.name for p in folder.glob("image_*.jpg"))
        assert names == [f"image_{i:05d}.jpg" for i in range(1, FRAMES + 1)]
    folder = frames_root / "MoveRight" / "v_MoveRight_g01_c01"
    decoded = decode_video(demo / "videos" / "MoveRight" / "v_MoveRight_g01_c01.avi")
    first = cv2.imread(str(folder / "image_00001.jpg"))
    last = cv2.imread(str(folder / f"image_{FRAMES:05d}.jpg"))
    assert first.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(first.astype(int) - decoded[0]).mean() < 3
    assert np.abs(last.astype(int) - decoded[-1]).mean() < 3


def test_frames_resume_skips_finished_videos(demo, frames_root, capsys):
    marker = frames_root / "MoveLeft" / "v_MoveLeft_g08_c01" / "image_00001.jpg"
    redo = frames_root / "MoveRight" / "v_MoveRight_g08_c02"
    stamp = marker.stat().st_mtime_ns
    (redo / "n_frames").unlink()
    (redo / "image_00003.jpg").unlink()  # an interrupted extraction
    capsys.readouterr()
    assert generate_rgb_jpgs.main(["--src_path", str(demo / "videos"), "--dst_path", str(frames_root)]) == 0
    total = len(all_videos(demo / "videos"))
    assert f"1 done, {total - 1} skipped" in capsys.readouterr().out
    assert marker.stat().st_mtime_ns == stamp
    assert (redo / "n_frames").read_text().strip() == str(FRAMES) and (redo / "image_00003.jpg").is_file()


def test_frames_short_side_resize(demo, tmp_path):
    source = tmp_path / "videos" / "MoveLeft"
    source.mkdir(parents=True)
    shutil.copy(demo / "videos" / "MoveLeft" / "v_MoveLeft_g01_c01.avi", source)
    out = tmp_path / "jpg"
    assert generate_rgb_jpgs.main(["--src_path", str(tmp_path / "videos"), "--dst_path", str(out),
                                   "--short_side", "32", "--jpeg_quality", "80"]) == 0
    image = cv2.imread(str(out / "MoveLeft" / "v_MoveLeft_g01_c01" / "image_00001.jpg"))
    assert image.shape == (32, 43, 3)  # 64x86 scaled by 0.5


def test_frames_bad_videos_are_reported(demo, tmp_path, capsys):
    videos = tmp_path / "videos" / "MoveLeft"
    videos.mkdir(parents=True)
    good = demo / "videos" / "MoveLeft" / "v_MoveLeft_g01_c01.avi"
    shutil.copy(good, videos / "good.avi")
    (videos / "garbage.avi").write_bytes(np.random.default_rng(0).bytes(4000))
    (videos / "empty.avi").write_bytes(b"")
    data = good.read_bytes()
    (videos / "truncated.avi").write_bytes(data[:len(data) // 2])
    args = ["--src_path", str(tmp_path / "videos"), "--dst_path", str(tmp_path / "jpg")]
    capsys.readouterr()
    assert generate_rgb_jpgs.main(args) == 0
    captured = capsys.readouterr()
    assert "2 done, 0 skipped (already complete), 1 with warnings, 2 failed" in captured.out
    assert "garbage.avi" in captured.err and "empty.avi" in captured.err
    assert re.search(r"truncated\.avi: decoded \d+ of the 12 frames the header declares, up to .* s: the file "
                     r"is truncated", captured.err)
    jpg = tmp_path / "jpg" / "MoveLeft"
    assert sorted(p.name for p in jpg.iterdir()) == ["good", "truncated"]  # failed videos leave no folder
    assert 0 < int((jpg / "truncated" / "n_frames").read_text()) < FRAMES
    # Failed videos are retried (not skipped) and --strict turns the problems into status 1.
    assert generate_rgb_jpgs.main(args + ["--strict", "true"]) == 1
    assert "2 failed" in capsys.readouterr().out


def test_frames_missing_root_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert generate_rgb_jpgs.main(["--src_path", str(missing), "--dst_path", str(tmp_path / "jpg")]) == 2
    assert str(missing) in capsys.readouterr().err
    (tmp_path / "empty_root" / "SomeClass").mkdir(parents=True)
    assert generate_rgb_jpgs.main(["--src_path", str(tmp_path / "empty_root"), "--dst_path", str(tmp_path / "j")]) == 2
    assert "no videos" in capsys.readouterr().err


# --- flow ------------------------------------------------------------------------------------

def test_flow_value_mapping():
    flow = np.array([-25.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0], np.float32)
    expected = np.rint((np.clip(flow, -20, 20) + 20) * 255 / 40).astype(np.uint8)
    np.testing.assert_array_equal(flow_to_uint8(flow), expected)
    np.testing.assert_array_equal(expected, [0, 0, 64, 128, 191, 255, 255])
    inner = np.linspace(-20, 20, 101, dtype=np.float32)
    assert np.abs(uint8_to_flow(flow_to_uint8(inner)) - inner).max() <= 20 / 255 + 1e-4  # half a quantisation step


@pytest.mark.parametrize("method", ["tvl1", "dis", "farneback"])
def test_flow_sign_of_a_known_shift(method):
    first = textured_image(0)
    shifted = np.roll(first, (1, 3), axis=(0, 1))  # content moves 3 px right and 1 px down
    flow = compute_flow(first, shifted, method)[12:-12, 12:-12]
    assert np.median(flow[..., 0]) == pytest.approx(3.0, abs=0.4)
    assert np.median(flow[..., 1]) == pytest.approx(1.0, abs=0.4)


def test_flow_tool_writes_the_mapped_shift(tmp_path):
    folder = tmp_path / "jpg" / "Shift" / "v_Shift_g01_c01"
    folder.mkdir(parents=True)
    first = textured_image(1)
    for index, image in enumerate([first, np.roll(first, 4, axis=1), np.roll(first, (-2, 4), axis=(0, 1))], 1):
        cv2.imwrite(str(folder / f"image_{index:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_GRAY2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 100])
    out = tmp_path / "flow"
    assert convert_rgb_to_flow.main(["--src_path", str(tmp_path / "jpg"), "--dst_path", str(out),
                                     "--method", "farneback"]) == 0
    flow_dir = out / "Shift" / "v_Shift_g01_c01"
    assert (flow_dir / "n_frames").read_text().strip() == "2"  # frames counted without an n_frames file
    expected = {("x", 1): 4, ("y", 1): 0, ("x", 2): 0, ("y", 2): -2}
    for (axis, index), shift in expected.items():
        image = cv2.imread(str(flow_dir / f"flow_{axis}_{index:05d}.jpg"), cv2.IMREAD_UNCHANGED)
        assert image.ndim == 2 and image.shape == (HEIGHT, WIDTH)
        assert np.median(image[12:-12, 12:-12]) == pytest.approx((shift + 20) * 255 / 40, abs=3)


def test_flow_outputs_per_video(demo, frames_root, flow_root):
    for relative in all_videos(demo / "videos"):
        folder = flow_root / os.path.splitext(relative)[0]
        assert (folder / "n_frames").read_text().strip() == str(FRAMES - 1)
        for axis in "xy":
            names = sorted(p.name for p in folder.glob(f"flow_{axis}_*.jpg"))
            assert names == [f"flow_{axis}_{i:05d}.jpg" for i in range(1, FRAMES)]
    # The stored flow of a MoveRight video points right around the object (independent check:
    # DIS on the extracted frames, decoded back from the JPEG).
    folder = flow_root / "MoveRight" / "v_MoveRight_g08_c01"
    encoded = cv2.imread(str(folder / "flow_x_00003.jpg"), cv2.IMREAD_GRAYSCALE)
    grey = [cv2.imread(str(frames_root / "MoveRight" / "v_MoveRight_g08_c01" / f"image_{i:05d}.jpg"),
                       cv2.IMREAD_GRAYSCALE) for i in (3, 4)]
    direct = compute_flow(grey[0], grey[1], "dis")[..., 0]
    assert np.abs(uint8_to_flow(encoded) - direct).mean() < 0.3
    moving = np.abs(direct) > 1
    assert moving.sum() > 50 and np.median(uint8_to_flow(encoded)[moving]) > 1


def test_flow_resume_and_corrupt_frames(frames_root, flow_root, tmp_path, capsys):
    stamp = (flow_root / "MoveLeft" / "v_MoveLeft_g08_c01" / "flow_x_00001.jpg").stat().st_mtime_ns
    capsys.readouterr()
    args = ["--src_path", str(frames_root), "--dst_path", str(flow_root), "--method", "dis"]
    assert convert_rgb_to_flow.main(args) == 0
    total = len(video_dirs(frames_root))
    assert f"0 done, {total} skipped" in capsys.readouterr().out
    assert (flow_root / "MoveLeft" / "v_MoveLeft_g08_c01" / "flow_x_00001.jpg").stat().st_mtime_ns == stamp

    broken_root = tmp_path / "jpg"
    shutil.copytree(frames_root / "MoveLeft", broken_root / "MoveLeft")
    corrupt = broken_root / "MoveLeft" / "v_MoveLeft_g08_c01" / "image_00005.jpg"
    corrupt.write_bytes(b"not a jpeg")
    missing = broken_root / "MoveLeft" / "v_MoveLeft_g08_c02" / "image_00007.jpg"
    missing.unlink()
    out = tmp_path / "flow"
    broken_args = ["--src_path", str(broken_root), "--dst_path", str(out), "--method", "dis"]
    assert convert_rgb_to_flow.main(broken_args) == 0
    captured = capsys.readouterr()
    assert str(corrupt) in captured.err and str(missing) in captured.err and "skipped" in captured.err
    assert "2 failed" in captured.out
    for video in ("v_MoveLeft_g08_c01", "v_MoveLeft_g08_c02"):
        assert not list((out / "MoveLeft" / video).iterdir())  # no partial flow, no n_frames
    assert (out / "MoveLeft" / "v_MoveLeft_g01_c01" / "n_frames").is_file()
    assert convert_rgb_to_flow.main(broken_args + ["--strict", "1"]) == 1


# --- annotation JSON -------------------------------------------------------------------------

def test_ucf101_json_structure(demo, frames_root, flow_root, tmp_path):
    lists = demo / "ucfTrainTestlist"
    dst = tmp_path / "ucf101_01.json"
    assert ucf101_json.main(["--annotation_dir", str(lists), "--video_path", str(frames_root),
                             "--split", "1", "--dst_path", str(dst)]) == 0
    data = json.loads(dst.read_text())
    assert data["labels"] == CLASSES
    train = [line.split()[0] for line in (lists / "trainlist01.txt").read_text().splitlines()]
    test = (lists / "testlist01.txt").read_text().splitlines()
    expected = {os.path.splitext(os.path.basename(p))[0]: ("training", p.split("/")[0]) for p in train}
    expected.update({os.path.splitext(os.path.basename(p))[0]: ("validation", p.split("/")[0]) for p in test})
    assert set(data["database"]) == set(expected)
    for video_id, entry in data["database"].items():
        assert entry == {"subset": expected[video_id][0],
                         "annotations": {"label": expected[video_id][1], "segment": [1, FRAMES]}}
    assert "v_MoveLeft_g08_c01" in data["database"]
    flow_dst = tmp_path / "flow.json"
    assert ucf101_json.main(["--annotation_dir", str(lists), "--video_path", str(flow_root),
                             "--dst_path", str(flow_dst)]) == 0
    flow_data = json.loads(flow_dst.read_text())
    assert {e["annotations"]["segment"][1] for e in flow_data["database"].values()} == {FRAMES - 1}


def test_ucf101_json_missing_frame_folder(demo, frames_root, tmp_path, capsys):
    partial = tmp_path / "jpg"
    shutil.copytree(frames_root, partial)
    shutil.rmtree(partial / "MoveRight" / "v_MoveRight_g01_c01")
    (partial / "MoveLeft" / "v_MoveLeft_g08_c02" / "n_frames").unlink()
    args = ["--annotation_dir", str(demo / "ucfTrainTestlist"), "--video_path", str(partial)]
    dst = tmp_path / "out.json"
    capsys.readouterr()
    assert ucf101_json.main(args + ["--dst_path", str(dst)]) == 0
    err = capsys.readouterr().err
    assert str(partial / "MoveRight" / "v_MoveRight_g01_c01") in err and "testlist01.txt:" in err
    assert "v_MoveLeft_g08_c02" in err
    database = json.loads(dst.read_text())["database"]
    assert "v_MoveRight_g01_c01" not in database and "v_MoveLeft_g08_c02" not in database
    assert len(database) == len(CLASSES) * (TRAIN_PER_CLASS + TEST_PER_CLASS) - 2
    strict_dst = tmp_path / "strict.json"
    assert ucf101_json.main(args + ["--dst_path", str(strict_dst), "--strict", "true"]) == 1
    assert not strict_dst.exists()


@pytest.mark.parametrize("bad_line, message", [
    ("Jumping/v_Jumping_g08_c01.avi 1", "class 'Jumping' is not in"),
    ("MoveLeft/v_MoveLeft_g08_c01.avi 2", "index 2 does not match class 'MoveLeft'"),
    ("MoveLeft v_MoveLeft_g08_c01.avi", "expected '<Class>/<video>.avi [index]'"),
])
def test_ucf101_json_bad_list_lines(demo, frames_root, tmp_path, capsys, bad_line, message):
    lists = tmp_path / "lists"
    shutil.copytree(demo / "ucfTrainTestlist", lists)
    with open(lists / "trainlist01.txt", "a", encoding="utf-8") as handle:
        handle.write(bad_line + "\r\n")
    line_number = len((lists / "trainlist01.txt").read_text().splitlines())
    assert ucf101_json.main(["--annotation_dir", str(lists), "--video_path", str(frames_root),
                             "--dst_path", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert f"trainlist01.txt:{line_number}" in err and message in err
    assert not (tmp_path / "x.json").exists()


def _hmdb_fixture(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    listing = {"brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1", "Brushing_Hair_2_brush_hair_h_nm_np1_ba_med_1.avi 2",
                              "unused_brush.avi 0"],
               "cartwheel": ["(Rad)Schlag_die_Bruder_Baxter_cartwheel_f_cm_np1_le_med_0.avi 2",
                             "Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8.avi 1"]}
    frames = tmp_path / "jpg"
    for label, lines in listing.items():
        (splits / f"{label}_test_split1.txt").write_text("".join(line + " \n" for line in lines))
        (splits / f"{label}_test_split2.txt").write_text("".join(line.rsplit(" ", 1)[0] + " 1 \n" for line in lines))
        for index, line in enumerate(lines):
            folder = frames / label / os.path.splitext(line.split()[0])[0]
            folder.mkdir(parents=True)
            (folder / "n_frames").write_text(f"{10 + index}\n")
    return splits, frames


def test_hmdb51_json_structure_and_subsets(tmp_path):
    splits, frames = _hmdb_fixture(tmp_path)
    dst = tmp_path / "hmdb51_1.json"
    assert hmdb51_json.main(["--annotation_dir", str(splits), "--video_path", str(frames),
                             "--split", "1", "--dst_path", str(dst)]) == 0
    data = json.loads(dst.read_text())
    assert data["labels"] == ["brush_hair", "cartwheel"]
    assert data["database"] == {
        "April_09_brush_hair_u_nm_np1_ba_goo_0": {"subset": "training",
                                                  "annotations": {"label": "brush_hair", "segment": [1, 10]}},
        "Brushing_Hair_2_brush_hair_h_nm_np1_ba_med_1": {"subset": "validation",
                                                         "annotations": {"label": "brush_hair", "segment": [1, 11]}},
        "(Rad)Schlag_die_Bruder_Baxter_cartwheel_f_cm_np1_le_med_0": {
            "subset": "validation", "annotations": {"label": "cartwheel", "segment": [1, 10]}},
        "Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8": {
            "subset": "training", "annotations": {"label": "cartwheel", "segment": [1, 11]}},
    }
    dst2 = tmp_path / "hmdb51_2.json"
    assert hmdb51_json.main(["--annotation_dir", str(splits), "--video_path", str(frames),
                             "--split", "2", "--dst_path", str(dst2)]) == 0
    database = json.loads(dst2.read_text())["database"]
    assert len(database) == 5 and {e["subset"] for e in database.values()} == {"training"}


def test_hmdb51_json_bad_inputs(tmp_path, capsys):
    splits, frames = _hmdb_fixture(tmp_path)
    args = ["--annotation_dir", str(splits), "--video_path", str(frames), "--dst_path", str(tmp_path / "x.json")]
    assert hmdb51_json.main(args + ["--split", "3"]) == 2
    assert "_test_split3.txt" in capsys.readouterr().err
    with open(splits / "cartwheel_test_split1.txt", "a", encoding="utf-8") as handle:
        handle.write("strange_video.avi 3\n")
    assert hmdb51_json.main(args) == 2
    assert "cartwheel_test_split1.txt:3" in capsys.readouterr().err


# --- n_frames --------------------------------------------------------------------------------

def test_generate_n_frames(frames_root, flow_root, tmp_path, capsys):
    rgb = tmp_path / "rgb"
    shutil.copytree(frames_root, rgb)
    flow = tmp_path / "flow"
    shutil.copytree(flow_root, flow)
    for marker in list(rgb.glob("*/*/n_frames")) + list(flow.glob("*/*/n_frames")):
        marker.unlink()
    assert generate_n_frames.main(["--video_path", str(rgb)]) == 0
    assert generate_n_frames.main(["--video_path", str(flow), "--kind", "flow"]) == 0
    assert {p.read_text().strip() for p in rgb.glob("*/*/n_frames")} == {str(FRAMES)}
    assert {p.read_text().strip() for p in flow.glob("*/*/n_frames")} == {str(FRAMES - 1)}
    assert len(list(rgb.glob("*/*/n_frames"))) == len(video_dirs(frames_root))

    odd = tmp_path / "odd"
    gap = odd / "A" / "gap"
    gap.mkdir(parents=True)
    for index in (1, 2, 4):
        (gap / f"image_{index:05d}.jpg").write_bytes(b"")
    (odd / "A" / "empty").mkdir()
    capsys.readouterr()
    assert generate_n_frames.main(["--video_path", str(odd)]) == 0
    err = capsys.readouterr().err
    assert "missing [3]" in err and "no flow_x_*.jpg files" in err
    assert (gap / "n_frames").read_text().strip() == "3" and not (odd / "A" / "empty" / "n_frames").exists()
    assert generate_n_frames.main(["--video_path", str(odd), "--strict", "true"]) == 1


CLI_MODULES = [
    "src.tools.data.generate_rgb_jpgs", "src.tools.data.convert_rgb_to_flow", "src.tools.data.ucf101_json",
    "src.tools.predict", "src.tools.data.hmdb51_json", "src.tools.data.generate_n_frames", "src.tools.convert.pt2ckpt",
    "src.tools.convert.pdparams2ckpt", "src.tools.cluster", "src.applications.tabletennis", "src.demo",
    "src.demo.make_demo_dataset", "src.demo.make_bmn_demo", "src.demo.runner", "src.applications.proposals",
    "src.infer.mindir_runner", "src.tools.analysis.flops", "src.tools.data.extract_features",
    "src.tools.eval_proposals", "src.infer.onnx_runner", "src.tools.data.count_frames"]
SAME_PROGRAM = {"src.demo.runner": "src.demo"}  # the module behind `python -m src.demo`


def test_every_module_with_a_parser_has_its_help_checked():
    found = set()
    for folder, _, files in os.walk(os.path.join(REPO_ROOT, "src")):
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py"):
                continue
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
            if re.search(r"^def build_parser\(", source, re.M):
                module = os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".")
                found.add(module[:-len(".__main__")] if module.endswith(".__main__") else module)
    assert found - set(CLI_MODULES) == set()


@pytest.mark.parametrize("module", CLI_MODULES)
def test_cli_help(module):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {SAME_PROGRAM.get(module, module)} ")
    options = re.split(r"\n  (?=-)", result.stdout.split("\noptions:", 1)[-1])
    assert not [block for block in options if block.count("(default") > 1], "a default shown twice"
