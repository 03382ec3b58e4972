"""The shared data layer: annotation/list/video sources, create_video_dataset, sharding, bad inputs."""
import json
import os

import cv2
import numpy as np
import pytest

from src.config import load_config
from src.data.annotations import AnnotationError, load_list_file
from src.data.dataset import build_video_source, create_video_dataset, dataset_from_source
from src.data.pipelines import frames_needed
from src.data.readers import FrameReadError
from src.models import build_model_from_config
from src.models.builder import load_network
from src.models.weights import save_checkpoint_atomic
from src.options import stream_config
from src.tasks import task_of

CLASSES = ["MoveLeft", "MoveRight"]
FRAMES = 12
H, W = 36, 48


def _frame(video_seed: int, index: int) -> np.ndarray:
    """A frame whose pixels encode the video and the frame index (to check which frames were read)."""
    image = np.full((H, W, 3), (video_seed * 20) % 256, np.uint8)
    image[:, :, 1] = index * 10
    return image


def _write_video_frames(root, label, video_id, seed, frames=FRAMES, flow=False):
    folder = os.path.join(root, label, video_id)
    os.makedirs(folder, exist_ok=True)
    for i in range(frames):
        if flow:
            cv2.imwrite(os.path.join(folder, f"flow_x_{i + 1:05d}.jpg"), np.full((H, W), 100 + i, np.uint8))
            cv2.imwrite(os.path.join(folder, f"flow_y_{i + 1:05d}.jpg"), np.full((H, W), 50, np.uint8))
        else:
            cv2.imwrite(os.path.join(folder, f"image_{i + 1:05d}.jpg"), cv2.cvtColor(_frame(seed, i), cv2.COLOR_RGB2BGR))
    with open(os.path.join(folder, "n_frames"), "w") as handle:
        handle.write(str(frames))
    return folder


@pytest.fixture()
def frame_dataset(tmp_path):
    """6 videos per class: 4 training, 2 validation; RGB and flow folders; annotation JSON."""
    rgb_root, flow_root = tmp_path / "jpg", tmp_path / "flow"
    database = {}
    seed = 0
    for label in CLASSES:
        for k in range(6):
            video_id = f"v_{label}_g{k + 1:02d}_c01"
            _write_video_frames(str(rgb_root), label, video_id, seed)
            _write_video_frames(str(flow_root), label, video_id, seed, frames=FRAMES - 1, flow=True)
            database[video_id] = {"subset": "training" if k < 4 else "validation",
                                  "annotations": {"label": label, "segment": [1, FRAMES]}}
            seed += 1
    annotation = tmp_path / "demo_01.json"
    annotation.write_text(json.dumps({"labels": CLASSES, "database": database}))
    return tmp_path


def _cfg(root, **overrides):
    values = dict(video_path=str(root / "jpg"), annotation_path=str(root / "demo_01.json"), num_classes=2,
                  spatial_size=32, resize_short=36, train_sample_duration=8, test_sample_duration=8,
                  batch_size=2, num_workers=1, seed=3)
    values.update(overrides)
    return load_config("", values)


def test_train_items_have_clip_layout(frame_dataset):
    source = build_video_source(_cfg(frame_dataset), "train")
    assert len(source) == 8 and source.class_names == CLASSES
    imgs, label = source[0]
    assert imgs.shape == (3, 8, 32, 32) and imgs.dtype == np.float32
    assert -1.0 <= imgs.min() and imgs.max() <= 1.0
    assert label == 0


def test_test_items_hold_every_view(frame_dataset):
    cfg = _cfg(frame_dataset, num_val_samples=2, test_crop="three")
    source = build_video_source(cfg, "val")
    imgs, label, index = source[1]
    assert imgs.shape == (6, 3, 8, 32, 32)
    assert int(index) == 1 and len(source) == 4


def test_frames_read_are_the_sampled_frames(frame_dataset):
    cfg = _cfg(frame_dataset, normalize="meanstd", mean=[0, 0, 0], std=[1, 1, 1], flip=False,
               train_crop="center", resize_short=0, spatial_size=32)
    source = build_video_source(cfg, "val")
    imgs, _, _ = source[0]  # centre clip of 12 frames: frames 2..9, green channel = 10 * index
    green = imgs[0, 1, :, 10, 10] * 255
    np.testing.assert_allclose(green, np.arange(2, 10) * 10, atol=3)


def test_draws_are_reproducible_and_change_between_epochs(frame_dataset):
    first = build_video_source(_cfg(frame_dataset), "train")
    second = build_video_source(_cfg(frame_dataset), "train")
    np.testing.assert_array_equal(first[0][0], second[0][0])
    assert first[0][0].tobytes() == first[0][0].tobytes()  # an item depends on its epoch, not on earlier draws
    # the same video in later epochs (keys epoch * len + index) takes new crops / flips
    assert len({first[epoch * len(first)][0].tobytes() for epoch in range(6)}) > 1


def test_flow_stream(frame_dataset):
    cfg = _cfg(frame_dataset, mode="flow", video_path=str(frame_dataset / "flow"))
    source = build_video_source(cfg, "val")
    imgs, _, _ = source[0]
    assert imgs.shape == (1, 2, 8, 32, 32)
    assert source.records[0].num_frames == FRAMES - 1


def test_joint_source_reads_both_streams_on_the_same_clips(frame_dataset):
    cfg = _cfg(frame_dataset, video_path_joint_flow=str(frame_dataset / "flow"))
    source = build_video_source(cfg, "val", joint=True)
    assert source.column_names() == ["imgs_rgb", "imgs_flow", "label", "index"]
    rgb, flow, label, index = source[0]
    assert rgb.shape == (1, 3, 8, 32, 32) and flow.shape == (1, 2, 8, 32, 32)
    # both streams sample on the shorter (flow) length: 11 frames -> centre clip 1..8
    green = (rgb[0, 1, :, 10, 10] + 1) * 127.5
    np.testing.assert_allclose(green, np.arange(1, 9) * 10, atol=3)
    flow_x = (flow[0, 0, :, 10, 10] + 1) * 127.5
    np.testing.assert_allclose(flow_x, 100 + np.arange(1, 9), atol=3)


def test_create_video_dataset_batches_and_drops_remainder_on_train(frame_dataset):
    cfg = _cfg(frame_dataset, batch_size=3)
    train = create_video_dataset(cfg, "train")
    assert train.get_dataset_size() == 2  # 8 videos, batch 3, remainder dropped
    imgs, labels = next(train.create_tuple_iterator(output_numpy=True))
    assert imgs.shape == (3, 3, 8, 32, 32) and labels.dtype == np.int32
    val = create_video_dataset(cfg, "val")
    assert sum(batch[1].shape[0] for batch in val.create_tuple_iterator(output_numpy=True)) == 4


def test_two_worker_processes_give_the_same_shapes(frame_dataset):
    cfg = _cfg(frame_dataset, num_workers=2, batch_size=2)
    batches = list(create_video_dataset(cfg, "train").create_tuple_iterator(output_numpy=True))
    assert len(batches) == 4 and all(b[0].shape == (2, 3, 8, 32, 32) for b in batches)


def test_shards_are_disjoint_and_cover_the_split(frame_dataset):
    cfg = _cfg(frame_dataset, batch_size=1)
    source = build_video_source(cfg, "val")
    seen = []
    for rank in range(2):
        dataset = dataset_from_source(cfg, source, "val", rank_id=rank, group_size=2, batch_size=1)
        seen.append({int(b[2][0]) for b in dataset.create_tuple_iterator(output_numpy=True)})
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] | seen[1] == set(range(len(source)))


def test_list_file_source(frame_dataset):
    lines = [f"{label}/v_{label}_g{k + 1:02d}_c01 {FRAMES} {c}" for c, label in enumerate(CLASSES) for k in range(3)]
    (frame_dataset / "train_list.txt").write_text("\n".join(lines) + "\n")
    cfg = _cfg(frame_dataset, data_source="list", annotation_path=str(frame_dataset / "train_list.txt"))
    source = build_video_source(cfg, "train")
    assert len(source) == 6 and source[5][1] == 1


def test_video_file_source_with_official_ucf101_lists(tmp_path):
    videos = tmp_path / "videos"
    for label in CLASSES:
        os.makedirs(videos / label)
        writer = cv2.VideoWriter(str(videos / label / f"v_{label}_g01_c01.avi"), cv2.VideoWriter_fourcc(*"MJPG"),
                                 25, (W, H))
        for i in range(FRAMES):
            writer.write(cv2.cvtColor(_frame(1, i), cv2.COLOR_RGB2BGR))
        writer.release()
    lists = tmp_path / "ucfTrainTestlist"
    os.makedirs(lists)
    (lists / "classInd.txt").write_text("1 MoveLeft\n2 MoveRight\n")
    (lists / "trainlist01.txt").write_text("MoveLeft/v_MoveLeft_g01_c01.avi 1\nMoveRight/v_MoveRight_g01_c01.avi 2\n")
    (lists / "testlist01.txt").write_text("MoveRight/v_MoveRight_g01_c01.avi\n")
    cfg = load_config("", dict(data_source="video", video_path=str(videos), num_classes=2,
                               annotation_path=str(lists / "trainlist01.txt"),
                               val_annotation_path=str(lists / "testlist01.txt"), spatial_size=32,
                               resize_short=36, train_sample_duration=8, test_sample_duration=8))
    train = build_video_source(cfg, "train")
    assert [r.label for r in train.records] == [0, 1]
    assert train._frame_count(train.streams[0], 0) == FRAMES  # the container's count, taken as the clip is read
    assert train[1][0].shape == (3, 8, 32, 32)
    val = build_video_source(cfg, "val")
    assert val.records[0].label == 1 and val[0][0].shape == (1, 3, 8, 32, 32)


def test_missing_frame_folder_is_warned_and_skipped(frame_dataset):
    import shutil
    shutil.rmtree(frame_dataset / "jpg" / "MoveLeft" / "v_MoveLeft_g01_c01")
    with pytest.warns(UserWarning, match=r"1 of 8 .*v_MoveLeft_g01_c01"):
        source = build_video_source(_cfg(frame_dataset), "train")
    assert len(source) == 7


def test_corrupt_jpeg_raises_naming_the_file(frame_dataset):
    bad = frame_dataset / "jpg" / "MoveLeft" / "v_MoveLeft_g05_c01" / "image_00006.jpg"
    bad.write_bytes(b"not a jpeg")
    source = build_video_source(_cfg(frame_dataset, test_sample_duration=12), "val")
    with pytest.raises(FrameReadError, match="image_00006.jpg"):
        source[0]


def test_short_videos_are_loop_padded_with_one_counted_warning(frame_dataset):
    with pytest.warns(UserWarning, match=r"8 of 8 train videos have fewer than 16 frames"):
        source = build_video_source(_cfg(frame_dataset, train_sample_duration=16), "train")
    assert source[0][0].shape == (3, 16, 32, 32)


def test_annotation_labels_not_matching_num_classes(frame_dataset):
    with pytest.raises(AnnotationError, match="2 classes but num_classes is 5"):
        build_video_source(_cfg(frame_dataset, num_classes=5), "train")


def test_label_outside_labels_and_empty_split(tmp_path):
    annotation = tmp_path / "a.json"
    annotation.write_text(json.dumps({"labels": ["A"], "database": {
        "v1": {"subset": "training", "annotations": {"label": "B", "segment": [1, 5]}}}}))
    cfg = load_config("", dict(video_path=str(tmp_path), annotation_path=str(annotation), num_classes=1))
    with pytest.raises(AnnotationError, match="label 'B'"):
        build_video_source(cfg, "train")
    annotation.write_text(json.dumps({"labels": ["A"], "database": {}}))
    with pytest.raises(AnnotationError, match="empty"):
        build_video_source(cfg, "train")


def _half_bright_videos(root):
    """One video per class whose frames are dark on the left and bright on the right."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, W // 2:] = 250
    database = {}
    for label in CLASSES:
        folder = os.path.join(root, "jpg", label, f"v_{label}_g01_c01")
        os.makedirs(folder)
        for i in range(FRAMES):
            cv2.imwrite(os.path.join(folder, f"image_{i + 1:05d}.jpg"), frame)
        database[f"v_{label}_g01_c01"] = {"subset": "training", "annotations": {"label": label}}
    (root / "anno.json").write_text(json.dumps({"labels": CLASSES, "database": database}))
    return dict(video_path=str(root / "jpg"), annotation_path=str(root / "anno.json"), num_classes=2,
                train_crop="center", resize_short=0, spatial_size=32, train_sample_duration=8)


def test_a_mirrored_clip_gets_the_label_of_its_mirror_class(tmp_path):
    cfg = load_config("", dict(_half_bright_videos(tmp_path), flip=True, flip_label_pairs=["MoveLeft:MoveRight"]))
    source = build_video_source(cfg, "train")
    seen = set()
    for _ in range(24):  # a fair coin per draw: both outcomes show up
        for index, original in enumerate((0, 1)):
            imgs, label = source[index]
            mirrored = imgs[0, 0, 16, 0] > imgs[0, 0, 16, -1]  # bright side moved to the left
            assert label == (1 - original if mirrored else original)
            seen.add(bool(mirrored))
    assert seen == {True, False}
    # without pairs a mirrored clip keeps its label
    plain = build_video_source(load_config("", dict(_half_bright_videos(tmp_path / "plain"), flip=True)), "train")
    assert {int(plain[0][1]) for _ in range(24)} == {0}


@pytest.mark.parametrize("pairs, message", [(["MoveLeft:Jump"], r"\['Jump'\] are not among"),
                                            (["MoveLeft"], "two different classes"),
                                            (["MoveLeft:MoveLeft"], "two different classes"),
                                            (["MoveLeft:MoveRight", "MoveRight:MoveLeft"], "names a class twice")])
def test_bad_flip_label_pairs_name_the_config_and_the_classes(tmp_path, pairs, message):
    cfg = load_config("", dict(_half_bright_videos(tmp_path), flip_label_pairs=pairs))
    with pytest.raises(AnnotationError, match=message):
        build_video_source(cfg, "train")


def test_list_label_outside_class_index(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 A\n2 B\n")
    (tmp_path / "trainlist01.txt").write_text("A/v_a.avi 3\n")
    with pytest.raises(AnnotationError, match="label 3"):
        load_list_file(str(tmp_path / "trainlist01.txt"), str(tmp_path))


def test_flow_from_video_files_is_refused(tmp_path):
    cfg = load_config("", dict(data_source="video", mode="flow", video_path=str(tmp_path),
                               annotation_path=str(tmp_path / "x.txt")))
    (tmp_path / "x.txt").write_text("A/v.avi 0\n")
    os.makedirs(tmp_path / "A")
    (tmp_path / "A" / "v.avi").write_bytes(b"")
    with pytest.raises(ValueError, match="flow needs precomputed flow frames"):
        build_video_source(cfg, "train")


def test_tsn_tests_on_test_num_segments_and_trains_on_num_segments(frame_dataset):
    cfg = _cfg(frame_dataset, model="tsn", num_segments=3, test_num_segments=5, test_crop="three")
    train_imgs, _ = build_video_source(cfg, "train")[0]
    val_imgs, _, _ = build_video_source(cfg, "val")[0]
    assert train_imgs.shape == (3, 3, 32, 32)
    assert val_imgs.shape == (3, 5, 3, 32, 32)  # three crops x 5 segment centres
    assert task_of(cfg).input_shape(cfg, 2) == (2, 5, 3, 32, 32)
    same = _cfg(frame_dataset, model="tsn", num_segments=3, test_num_segments=0)
    assert build_video_source(same, "val")[0][0].shape == (1, 3, 3, 32, 32)


def test_more_tsn_segments_than_frames_repeat_frames_with_a_counted_warning(frame_dataset):
    cfg = _cfg(frame_dataset, model="tsn", num_segments=3, test_num_segments=20)
    with pytest.warns(UserWarning, match=r"4 of 4 val videos have fewer than 20 frames"):
        source = build_video_source(cfg, "val")
    assert source[0][0].shape == (1, 20, 3, 32, 32)


def test_tsn_joint_source_reads_the_flow_stream_with_its_own_snippet_length(frame_dataset, tmp_path):
    cfg = _cfg(frame_dataset, model="tsn", num_segments=2, new_length=1, new_length_joint_flow=3,
               video_path_joint_flow=str(frame_dataset / "flow"))
    rgb, flow, _, _ = build_video_source(cfg, "val", joint=True)[0]
    assert rgb.shape == (1, 2, 3, 32, 32) and flow.shape == (1, 2, 6, 32, 32)
    # segment centres over the 11 frames both streams have (0-based): rgb frames 2 and 8 of the 11
    # starts; flow snippets of 3 start at 2 and 6 of the 9 starts
    np.testing.assert_allclose((rgb[0, :, 1, 10, 10] + 1) * 127.5, np.array([2, 8]) * 10, atol=3)
    np.testing.assert_allclose((flow[0, :, 0, 10, 10] + 1) * 127.5, 100 + np.array([2, 6]), atol=1)
    flow_cfg = stream_config(cfg, "flow")
    assert (flow_cfg.mode, flow_cfg.new_length, stream_config(cfg, "rgb").new_length) == ("flow", 3, 1)
    checkpoint = str(tmp_path / "flow.ckpt")
    save_checkpoint_atomic(build_model_from_config(flow_cfg), checkpoint)
    assert load_network(cfg, checkpoint, "flow").in_channels == 6


def test_rgb_difference_stream_feeds_tsn_the_differences_of_new_length_plus_one_frames(frame_dataset, tmp_path):
    plain = dict(normalize="meanstd", mean=[0, 0, 0], std=[1, 1, 1], resize_short=0, train_crop="center")
    cfg = _cfg(frame_dataset, model="tsn", mode="rgbdiff", num_segments=2, new_length=3, **plain)
    assert frames_needed(cfg, "train") == 2 * 4 and frames_needed(_cfg(frame_dataset, model="tsn"), "train") == 3
    train_imgs, _ = build_video_source(cfg, "train")[0]
    assert train_imgs.shape == (2, 9, 32, 32)  # 3 differences x RGB per segment
    # the green channel is 10 * frame index and the rest of the frame is still: green differences
    # are 10/255, red and blue 0
    np.testing.assert_allclose(train_imgs[:, 1::3] * 255, 10, atol=3)
    np.testing.assert_allclose(train_imgs[:, 0::3], 0, atol=3 / 255)
    joint = _cfg(frame_dataset, model="tsn", mode="rgbdiff", num_segments=2, new_length=3, new_length_joint_flow=2,
                 video_path_joint_flow=str(frame_dataset / "flow"), **plain)
    rgbdiff, flow, _, _ = build_video_source(joint, "val", joint=True)[0]
    assert rgbdiff.shape == (1, 2, 9, 32, 32) and flow.shape == (1, 2, 4, 32, 32)
    np.testing.assert_allclose(rgbdiff[0, :, 1::3] * 255, 10, atol=3)
    # the network is an RGB TSN of 3 x new_length channels: the joint evaluation's RGB stream loads it
    checkpoint = str(tmp_path / "rgbdiff.ckpt")
    save_checkpoint_atomic(build_model_from_config(joint), checkpoint)
    assert load_network(joint, checkpoint, "rgb").in_channels == 9
