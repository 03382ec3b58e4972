"""BMN data: the real ActivityNet annotation files, targets, datasets and bad inputs."""
import csv
import json
import os

import numpy as np
import pytest

from src.config import load_config
from src.data.bmn_data import BMNDataError, _build_source, bmn_targets, build_bmn_source, create_bmn_dataset, \
    load_feature_file, read_annotation_database, unusable_index
from src.models import build_model_from_config
from src.tasks.localization.evaluation import evaluate_localizer

ANET_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "activitynet")
ANNOTATIONS = os.path.join(ANET_DIR, "anet_anno_action.json")
VIDEO_INFO = os.path.join(ANET_DIR, "video_info_new.csv")
real_files = pytest.mark.skipif(not os.path.isfile(ANNOTATIONS), reason="real ActivityNet annotations not present")


def write_csv_features(path, values):
    np.savetxt(path, values, fmt="%.5f", delimiter=",", header=",".join(f"f{i}" for i in range(values.shape[1])),
               comments="")


@pytest.fixture(scope="module")
def real_setup(tmp_path_factory):
    """Features for a few real training / validation videos (the rest have none)."""
    folder = tmp_path_factory.mktemp("anet_features")
    database = json.load(open(ANNOTATIONS))
    with open(VIDEO_INFO, newline="") as handle:
        subsets = {row["video"]: row["subset"] for row in csv.DictReader(handle)}
    train = sorted(v for v in database if subsets[v] == "training" and database[v]["annotations"])[:6]
    val = sorted(v for v in database if subsets[v] == "validation" and database[v]["annotations"])[:3]
    rng = np.random.default_rng(0)
    for name in train + val:
        write_csv_features(folder / f"{name}.csv", rng.normal(size=(100, 400)).astype(np.float32))
    return folder, database, train, val


def anet_config(feature_path, **overrides):
    values = {"model": "bmn", "annotation_path": ANNOTATIONS, "video_info_path": VIDEO_INFO,
              "feature_path": str(feature_path), "num_workers": 1, "batch_size": 4, "eval_batch_size": 2}
    values.update(overrides)
    return load_config("", values)


@real_files
def test_real_annotation_files_parse_with_counted_problems(real_setup):
    folder, database, train, val = real_setup
    report_counts = {}
    sources = {}
    for split in ("train", "val"):
        sources[split], report = _build_source(ANNOTATIONS, VIDEO_INFO, str(folder), split, 100, 400)
        for problem, count in report.counts.items():
            report_counts[problem] = report_counts.get(problem, 0) + count
    assert sorted(v.name for v in sources["train"].videos) == train
    assert sorted(v.name for v in sources["val"].videos) == val
    # independent counts from the raw file: segments past the video and with end <= start
    past = sum(1 for v in database.values() for a in v["annotations"]
               if a["segment"][0] < 0 or a["segment"][1] > v["duration_second"])
    empty = sum(1 for v in database.values() for a in v["annotations"]
                if min(a["segment"][1], v["duration_second"]) <= max(a["segment"][0], 0))
    assert report_counts["segments running past the video, clipped to it"] == past > 0
    assert report_counts["segments with end <= start (dropped)"] == empty > 0
    skipped = [count for problem, count in report_counts.items() if problem.startswith("videos without a feature")]
    assert sum(skipped) == 9649 + 4728 - len(train) - len(val) - report_counts.get(
        "training videos without a usable segment (skipped)", 0)
    # the ground truth keeps every annotated validation video, for the metric
    assert len(sources["val"].ground_truth) == 4728
    info = sources["val"].video_info(0)
    entry = database[info["name"]]
    assert info["id"] == info["name"][2:] and info["name"] in val
    feature_seconds = entry["feature_frame"] / entry["duration_frame"] * entry["duration_second"]
    assert info["duration"] == pytest.approx(feature_seconds)


@real_files
def test_real_files_disagreements_between_csv_and_json_are_reported(real_setup):
    from src.data.bmn_data import DataReport
    report = DataReport()
    database = read_annotation_database(ANNOTATIONS, VIDEO_INFO, report)
    assert len(database) == 19228
    assert {entry["subset"] for entry in database.values()} == {"training", "validation", "testing"}
    assert report.counts["videos whose CSV frame counts / seconds differ from the JSON (JSON used)"] > 0


@real_files
def test_datasets_batches_columns_and_metadata(real_setup):
    folder, _, train, val = real_setup
    cfg = anet_config(folder)
    train_set = create_bmn_dataset(cfg, "train")
    batches = list(train_set.create_tuple_iterator(output_numpy=True))
    assert len(batches) == 1  # 6 videos, batch 4, drop_remainder
    features, gt_iou_map, gt_start, gt_end = batches[0]
    assert features.shape == (4, 400, 100) and gt_iou_map.shape == (4, 100, 100)
    assert gt_start.shape == gt_end.shape == (4, 100)
    assert gt_iou_map.max() <= 1.0 and gt_iou_map.max() > 0.5
    val_set = create_bmn_dataset(cfg, "validation")
    indices = [idx for _, batch in val_set.create_tuple_iterator(output_numpy=True) for idx in batch]
    assert indices == [0, 1, 2]  # in order, last batch kept
    assert sorted(val_set.video_source.video_info(i)["name"] for i in indices) == val
    shards = [sum(b[0].shape[0] for b in create_bmn_dataset(anet_config(folder, batch_size=1), "train", rank, 2)
                  .create_tuple_iterator(output_numpy=True)) for rank in (0, 1)]
    assert shards == [3, 3]


def test_targets_by_hand():
    iou_map, start, end = bmn_targets(np.array([[0.25, 0.75]]), 4)
    # proposal (duration 1, start 1) = [0.25, 0.75]: exact; (0, 1) = [0.25, 0.5]: 0.5; (3, 0) = [0, 1]: 0.5
    assert iou_map[1, 1] == pytest.approx(1.0)
    assert iou_map[0, 1] == pytest.approx(0.5)
    assert iou_map[3, 0] == pytest.approx(0.5)
    # start region [-0.125, 0.625]; anchor of step 0 = [-0.125, 0.375] inside it -> 1; step 2 =
    # [0.375, 0.875] overlaps it by 0.25 of 0.5 -> 0.5
    np.testing.assert_allclose(start, [1.0, 1.0, 0.5, 0.0])
    # end region [0.375, 1.125]: step 1 anchor [0.125, 0.625] -> 0.5, steps 2, 3 inside -> 1
    np.testing.assert_allclose(end, [0.0, 0.5, 1.0, 1.0])


# --- bad inputs ------------------------------------------------------------------------------------

TSCALE, DIM = 8, 4


@pytest.fixture()
def paddle_layout(tmp_path):
    """PaddleVideo label JSON (subset per video) and .npy features, with problems on purpose."""
    features = tmp_path / "features"
    features.mkdir()
    good = np.random.default_rng(0).normal(size=(TSCALE, DIM)).astype(np.float32)
    labels = {}

    def add(name, subset, segments, array=good):
        labels[name] = {"duration_second": 10.0, "duration_frame": 250, "feature_frame": 250, "subset": subset,
                        "annotations": [{"segment": s, "label": "x"} for s in segments]}
        if array is not None:
            np.save(features / f"{name}.npy", array)

    add("good", "train", [[1.0, 4.0]])
    nan = good.copy()
    nan[2, 1] = np.nan
    add("nan_values", "train", [[1.0, 4.0]], nan)
    add("wrong_shape", "train", [[1.0, 4.0]], good[:5])
    add("past_end", "train", [[6.0, 12.5]])
    add("end_before_start", "train", [[5.0, 3.0]])
    add("no_annotations", "train", [])
    add("no_features", "train", [[1.0, 2.0]], array=None)
    add("val_nan", "validation", [[1.0, 2.0]], nan)
    add("val_good", "validation", [[1.0, 2.0]])
    path = tmp_path / "label.json"
    path.write_text(json.dumps(labels))
    return load_config("", {"model": "bmn", "annotation_path": str(path), "video_info_path": "",
                            "feature_path": str(features), "tscale": TSCALE, "feat_dim": DIM, "num_workers": 1,
                            "batch_size": 2, "eval_batch_size": 1})


def test_bad_videos_are_skipped_with_counts(paddle_layout):
    source, report = _build_source(paddle_layout.annotation_path, "", paddle_layout.feature_path, "train", TSCALE, DIM)
    assert [v.name for v in source.videos] == ["good", "nan_values", "wrong_shape", "past_end"]
    assert source.videos[3].segments.tolist() == [[6.0, 10.0]]
    counts = report.counts
    assert counts["segments running past the video, clipped to it"] == 1
    assert counts["segments with end <= start (dropped)"] == 1
    assert counts["training videos without a usable segment (skipped)"] == 2
    assert report.examples["training videos without a usable segment (skipped)"] == ["end_before_start",
                                                                                    "no_annotations"]
    assert any(problem.startswith("videos without a feature file") for problem in counts)


def test_bad_feature_files_never_stop_a_training_epoch(paddle_layout, zoo_log):
    source = build_bmn_source(paddle_layout, "train")
    items = [source[i] for i in range(len(source))]
    assert all(np.isfinite(item[0]).all() and item[0].shape == (DIM, TSCALE) for item in items)
    assert any(message.startswith("skipping training video nan_values") for message in zoo_log), zoo_log
    assert any(message.startswith("skipping training video wrong_shape") for message in zoo_log), zoo_log


def test_an_unusable_feature_file_gets_no_proposals_and_counts_as_zero_recall(paddle_layout, zoo_log, tmp_path):
    source = build_bmn_source(paddle_layout, "val")
    index = [video.name for video in source.videos].index("val_nan")
    features, carried = source[index]
    assert carried == unusable_index(index) and features.shape == (DIM, TSCALE) and not features.any()
    assert any(m.startswith("val_nan gets no proposals (it counts as zero recall)") and "holds NaN" in m
               for m in zoo_log), zoo_log
    cfg = paddle_layout.copy()
    cfg.update(num_sample=2, context="py")
    summary = evaluate_localizer(cfg, build_model_from_config(cfg), "val", out_dir=str(tmp_path))
    assert summary["num_videos"] == 1 and summary["missing_videos"] == 1  # val_good scored, val_nan zero recall
    with pytest.raises(BMNDataError, match=r"shape \(5, 4\), expected \(tscale, feat_dim\) = \(8, 4\)"):
        load_feature_file(os.path.join(paddle_layout.feature_path, "wrong_shape.npy"), TSCALE, DIM)


def test_annotations_without_subset_need_video_info(tmp_path):
    path = tmp_path / "anno.json"
    path.write_text(json.dumps({"v_a": {"duration_second": 5.0, "annotations": []}}))
    with pytest.raises(BMNDataError, match="video_info_path"):
        read_annotation_database(str(path))


def test_csv_and_json_mismatches_are_reported(tmp_path):
    path = tmp_path / "anno.json"
    entry = {"duration_second": 5.0, "duration_frame": 150, "feature_frame": 144, "annotations": []}
    path.write_text(json.dumps({"v_a": entry, "v_only_json": entry}))
    info = tmp_path / "info.csv"
    info.write_text("video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
                    "v_a,150,6.0,30,30,training,144\nv_only_csv,10,1,30,30,validation,10\n")
    from src.data.bmn_data import DataReport
    report = DataReport()
    database = read_annotation_database(str(path), str(info), report)
    assert list(database) == ["v_a"] and database["v_a"]["subset"] == "training"
    assert sorted(report.examples) == sorted(report.counts)
    assert sum(report.counts.values()) == 3  # only-json, only-csv, seconds differ
