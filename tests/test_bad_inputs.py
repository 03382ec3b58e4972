"""The catalogue of bad inputs: each one is refused with a message that names the file (and the line
or key where there is one) and says what to do. The README's "When something goes wrong" section
lists these cases."""
import json
import os
import pickle
import re
from dataclasses import dataclass
from typing import Callable, List

import cv2
import numpy as np
import pytest

from src.applications.tabletennis import load_video_features, read_labels
from src.config import load_config
from src.data.annotations import load_annotation_json, load_list_file, read_class_index
from src.data.bad_samples import TooManyBadSamples
from src.data.bmn_data import _build_source as _build_bmn_source
from src.data.bmn_data import load_feature_file
from src.data.dataset import build_video_source
from src.data.readers import FlowFrameReader, RGBFrameReader, VideoFileReader
from src.engine.callbacks import best_so_far, read_history, restore_training_state
from src.engine.trainer import train
from src.models.builder import build_network, load_network
from src.models.weights import read_checkpoint, save_checkpoint_atomic
from src.tools.convert.pdparams2ckpt import load_pdparams
from src.tools.data.extract_features import read_feature_csv, read_video_info, row_numbers, write_video_info
from src.utils.cloud import copy_path, prepare_cloud_job
from src.utils.rank_table import load_rank_table, make_rank_table, save_rank_table


@dataclass
class Case:
    """``make(tmp_path, cfg)`` builds the bad input and returns ``(call, expected)``: ``call()`` must
    raise, and its message must hold every pattern of ``expected`` (regular expressions; paths are
    escaped by :func:`path`)."""
    name: str
    make: Callable


def path(value) -> str:
    return re.escape(str(value))


def frame(tmp, name="image_00001.jpg", shape=(24, 32, 3), folder="video"):
    os.makedirs(tmp / folder, exist_ok=True)
    cv2.imwrite(str(tmp / folder / name), np.full(shape, 128, np.uint8))
    return tmp / folder / name


# --- data ---------------------------------------------------------------------------------------

def missing_frame(tmp, cfg):
    frame(tmp)
    return (lambda: RGBFrameReader().read(str(tmp / "video"), np.array([0, 1])),
            [path(tmp / "video" / "image_00002.jpg"), "missing", "extract|template"])


def corrupt_frame(tmp, cfg):
    frame(tmp).write_bytes(b"not a jpeg at all")
    return (lambda: RGBFrameReader().read(str(tmp / "video"), np.array([0])),
            [path(tmp / "video" / "image_00001.jpg"), "corrupt", "re-extract"])


def truncated_jpeg(tmp, cfg):
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", image)[1].tobytes()
    os.makedirs(tmp / "video")
    (tmp / "video" / "image_00001.jpg").write_bytes(data[:len(data) // 2])
    return (lambda: RGBFrameReader().read(str(tmp / "video"), np.array([0])),
            [path(tmp / "video" / "image_00001.jpg"), "truncated", "re-extract"])


def frames_of_two_sizes(tmp, cfg):
    frame(tmp, "image_00001.jpg", (24, 32, 3))
    frame(tmp, "image_00002.jpg", (48, 64, 3))
    return (lambda: RGBFrameReader().read(str(tmp / "video"), np.array([0, 1])),
            [path(tmp / "video"), "differ in size", "24x32", "48x64", "re-extract"])


def flow_axes_of_two_sizes(tmp, cfg):
    frame(tmp, "flow_x_00001.jpg", (24, 32))
    frame(tmp, "flow_y_00001.jpg", (20, 32))
    return (lambda: FlowFrameReader().read(str(tmp / "video"), np.array([0])),
            [path(tmp / "video"), "differ in size", "re-extract"])


def not_a_video(tmp, cfg):
    (tmp / "clip.avi").write_bytes(b"\0" * 100)
    return (lambda: VideoFileReader().read(str(tmp / "clip.avi"), np.array([0])),
            [path(tmp / "clip.avi"), "cannot be opened", "check the file"])


def no_video_path(tmp, cfg):
    cfg.video_path = ""
    return lambda: build_video_source(cfg, "train"), ["--video_path"]


def no_video_exists(tmp, cfg):
    cfg.video_path = str(tmp / "elsewhere")
    return (lambda: build_video_source(cfg, "train"),
            [path(tmp / "elsewhere"), "none of the 12", "check --video_path"])


# --- annotations --------------------------------------------------------------------------------

def annotation_missing(tmp, cfg):
    return (lambda: load_annotation_json(str(tmp / "none.json"), "train", str(tmp)),
            [path(tmp / "none.json"), "does not exist", "ucf101_json"])


def annotation_not_json(tmp, cfg):
    (tmp / "a.json").write_text('{"labels": [1,,]}')
    return lambda: load_annotation_json(str(tmp / "a.json"), "train", str(tmp)), [path(tmp / "a.json"), "line 1"]


def annotation_without_keys(tmp, cfg):
    (tmp / "a.json").write_text('{"labels": []}')
    return (lambda: load_annotation_json(str(tmp / "a.json"), "train", str(tmp)),
            [path(tmp / "a.json"), "'database'"])


def annotation_unknown_label(tmp, cfg):
    (tmp / "a.json").write_text(json.dumps({"labels": ["a"], "database": {
        "v1": {"subset": "training", "annotations": {"label": "b", "segment": [1, 5]}}}}))
    return (lambda: load_annotation_json(str(tmp / "a.json"), "train", str(tmp)),
            [path(tmp / "a.json"), "video v1", "'b'", "not in 'labels'"])


def annotation_empty_split(tmp, cfg):
    (tmp / "a.json").write_text(json.dumps({"labels": ["a"], "database": {
        "v1": {"subset": "training", "annotations": {"label": "a", "segment": [1, 5]}}}}))
    return (lambda: load_annotation_json(str(tmp / "a.json"), "val", str(tmp)),
            [path(tmp / "a.json"), "val split", "empty"])


def class_count_differs(tmp, cfg):
    cfg.num_classes = 5
    return lambda: build_video_source(cfg, "train"), [path(cfg.annotation_path), "--num_classes 2"]


# --- list files ---------------------------------------------------------------------------------

def list_file(tmp, *lines):
    (tmp / "list.txt").write_text("".join(line + "\n" for line in lines))
    return str(tmp / "list.txt")


def list_non_integer(tmp, cfg):
    name = list_file(tmp, "a/v1 10 0", "a/v2 ten 1")
    return lambda: load_list_file(name, str(tmp), 2), [path(name) + ":2", "num_frames 'ten'", "not an integer"]


def list_label_too_large(tmp, cfg):
    name = list_file(tmp, "a/v1 10 0", "a/v2 10 1", "a/v3 10 7")
    return (lambda: load_list_file(name, str(tmp), 2),
            [path(name) + ":3", "label 7", "num_classes 2", "fix this line"])


def list_negative_label(tmp, cfg):
    name = list_file(tmp, "a/v1 10 -1")
    return lambda: load_list_file(name, str(tmp)), [path(name) + ":1", "label -1", "outside"]


def list_too_many_columns(tmp, cfg):
    name = list_file(tmp, "a/v1 0 10 1")
    return lambda: load_list_file(name, str(tmp)), [path(name) + ":1", "4 columns", "write 'path num_frames label'"]


def list_missing(tmp, cfg):
    return lambda: load_list_file(str(tmp / "none.txt"), str(tmp)), [path(tmp / "none.txt"), "not found"]


def class_index_bad_line(tmp, cfg):
    (tmp / "classInd.txt").write_text("1 Walk\nRun 2\n")
    return (lambda: read_class_index(str(tmp / "classInd.txt")),
            [path(tmp / "classInd.txt") + ":2", "expected 'index ClassName'"])


def class_index_duplicate_name(tmp, cfg):
    (tmp / "classInd.txt").write_text("1 Walk\n2 Run\n3 Walk\n")
    return (lambda: read_class_index(str(tmp / "classInd.txt")),
            [path(tmp / "classInd.txt"), "lines 1 and 3", "'Walk'", "two labels"])


def class_index_duplicate_index(tmp, cfg):
    (tmp / "classInd.txt").write_text("1 Walk\n2 Run\n2 Jump\n")
    return (lambda: read_class_index(str(tmp / "classInd.txt")),
            [path(tmp / "classInd.txt"), "lines 2 and 3", "index 2"])


# --- features -----------------------------------------------------------------------------------

class RunsCode:
    def __reduce__(self):
        return os.getcwd, ()


def feature_pickle_with_code(tmp, cfg):
    with open(tmp / "v.pkl", "wb") as handle:
        pickle.dump({"image_feature": RunsCode()}, handle)
    return (lambda: load_video_features(str(tmp / "v.pkl"), 8),
            [path(tmp / "v.pkl"), "refusing to load posix.getcwd", "image_feature"])


def feature_pickle_without_features(tmp, cfg):
    with open(tmp / "v.pkl", "wb") as handle:
        pickle.dump({"features": np.zeros((4, 8))}, handle)
    return lambda: load_video_features(str(tmp / "v.pkl"), 8), [path(tmp / "v.pkl"), "no 'image_feature'"]


def feature_pickle_wrong_shape(tmp, cfg):
    with open(tmp / "v.pkl", "wb") as handle:
        pickle.dump({"image_feature": np.zeros((4, 5), np.float32)}, handle)
    return lambda: load_video_features(str(tmp / "v.pkl"), 8), [path(tmp / "v.pkl"), r"expected \(frames, 8\)"]


def labels_file(tmp, payload):
    (tmp / "labels.json").write_text(json.dumps(payload))
    return str(tmp / "labels.json")


GT = {"url": "x/v.mp4", "total_frames": 100, "actions": [{"start_id": 1.0, "end_id": 2.0, "label_ids": [1]}]}


def labels_fps_text(tmp, cfg):
    name = labels_file(tmp, {"fps": "25fps", "gts": [GT]})
    return lambda: read_labels(name), [path(name), r"fps \(frames per second\) must be a number", "'25fps'"]


def labels_ids_not_list(tmp, cfg):
    name = labels_file(tmp, {"fps": 25, "gts": [dict(GT, actions=[dict(GT["actions"][0], label_ids=3)])]})
    return lambda: read_labels(name), [path(name), r"gts\[0\]\.actions\[0\]\.label_ids must be a list"]


def labels_total_frames_text(tmp, cfg):
    name = labels_file(tmp, {"fps": 25, "gts": [dict(GT, total_frames="many")]})
    return lambda: read_labels(name), [path(name), r"gts\[0\]: total_frames must be an integer", "'many'"]


def labels_action_not_object(tmp, cfg):
    name = labels_file(tmp, {"fps": 25, "gts": [dict(GT, actions=[[1.0, 2.0]])]})
    return lambda: read_labels(name), [path(name), r"gts\[0\]\.actions\[0\] must be an object", "start_id"]


def bmn_feature_wrong_shape(tmp, cfg):
    np.save(tmp / "v.npy", np.zeros((10, 3), np.float32))
    return (lambda: load_feature_file(str(tmp / "v.npy"), 100, 400),
            [path(tmp / "v.npy"), r"\(10, 3\)", "set --tscale / --feat_dim"])


def bmn_feature_object_array(tmp, cfg):
    np.save(tmp / "v.npy", np.array([RunsCode()], dtype=object), allow_pickle=True)
    return (lambda: load_feature_file(str(tmp / "v.npy"), 100, 400),
            [path(tmp / "v.npy"), "holds Python objects", "numpy.save"])


# --- numbers: finite, in range, integers where integers are meant --------------------------------

def annotation_json_text(tmp, segment_text):
    (tmp / "a.json").write_text('{"labels": ["a"], "database": {"v1": {"subset": "training", '
                                '"annotations": {"label": "a", "segment": [1, ' + segment_text + ']}}}}')
    return str(tmp / "a.json")


def annotation_infinite_segment(tmp, cfg):
    name = annotation_json_text(tmp, "Infinity")
    return lambda: load_annotation_json(name, "train", str(tmp)), [path(name), "video v1", "segment", "finite"]


def annotation_5000_digit_segment(tmp, cfg):
    name = annotation_json_text(tmp, "9" * 5000)
    return lambda: load_annotation_json(name, "train", str(tmp)), [path(name), "number that cannot be read"]


def annotation_fractional_segment(tmp, cfg):
    name = annotation_json_text(tmp, "7.5")
    return (lambda: load_annotation_json(name, "train", str(tmp)),
            [path(name), "video v1", "segment must be an integer", "7.5"])


def list_implausible_frame_count(tmp, cfg):
    name = list_file(tmp, "MoveLeft/v1 1" + "0" * 30 + " 0")
    return lambda: load_list_file(name, str(tmp)), [path(name) + ":1", "num_frames", "not a plausible"]


def bmn_annotation(tmp, **entry):
    video = dict({"duration_second": 10.0, "duration_frame": 250, "feature_frame": 240, "subset": "training",
                  "annotations": [{"segment": [1.0, 4.0], "label": "a"}]}, **entry)
    (tmp / "anno.json").write_text(json.dumps({"v_a": video}))
    os.makedirs(tmp / "features", exist_ok=True)
    np.save(tmp / "features" / "v_a.npy", np.zeros((16, 8), np.float32))
    return (lambda: _build_bmn_source(str(tmp / "anno.json"), "", str(tmp / "features"), "train", 16, 8),
            str(tmp / "anno.json"))


def bmn_infinite_duration(tmp, cfg):
    call, name = bmn_annotation(tmp, duration_second=float("inf"))
    return call, [path(name), "video v_a", "duration_second", "finite"]


def bmn_infinite_segment(tmp, cfg):
    call, name = bmn_annotation(tmp, annotations=[{"segment": [1.0, float("inf")], "label": "a"}])
    return call, [path(name), "video v_a", "segment", "finite"]


def bmn_negative_feature_frame(tmp, cfg):
    call, name = bmn_annotation(tmp, feature_frame=-240)
    return call, [path(name), "video v_a", "feature_frame", "outside"]


def bmn_feature_npz_under_npy_name(tmp, cfg):
    np.savez(tmp / "v.npz", features=np.zeros((100, 400), np.float32))
    os.rename(tmp / "v.npz", tmp / "v.npy")
    return (lambda: load_feature_file(str(tmp / "v.npy"), 100, 400),
            [path(tmp / "v.npy"), r"\.npz archive under an \.npy name", "numpy.save"])


def video_info_row_infinite_seconds(tmp, cfg):
    write_video_info(str(tmp / "v_x.csv"), {"v_x": {"video": "v_x", "numFrame": "160", "seconds": "inf", "fps": "25",
                                                    "rfps": "25", "subset": "testing", "featureFrame": "160"}})
    [row] = read_video_info(str(tmp / "v_x.csv")).values()
    return lambda: row_numbers(row, str(tmp / "v_x.csv")), [path(tmp / "v_x.csv"), "v_x", "seconds must be a finite"]


def feature_csv_with_nan(tmp, cfg):
    (tmp / "v_x.csv").write_text("f0,f1\n0.5,nan\n0.25,1.0\n")
    return lambda: read_feature_csv(str(tmp / "v_x.csv")), [path(tmp / "v_x.csv"), "NaN or infinite", "--overwrite"]


def labels_infinite_fps(tmp, cfg):
    name = labels_file(tmp, {"fps": float("inf"), "gts": [GT]})
    return lambda: read_labels(name), [path(name), "fps", "finite"]


def labels_huge_total_frames(tmp, cfg):
    name = labels_file(tmp, {"fps": 25, "gts": [dict(GT, total_frames=10 ** 40)]})
    return lambda: read_labels(name), [path(name), r"gts\[0\]", "total_frames", "outside"]


def labels_infinite_action_time(tmp, cfg):
    name = labels_file(tmp, {"fps": 25, "gts": [dict(GT, actions=[dict(GT["actions"][0], end_id=1e999)])]})
    return lambda: read_labels(name), [path(name), r"gts\[0\]\.actions\[0\]", "end_id", "finite"]


def feature_pickle_object_array(tmp, cfg):
    with open(tmp / "v.pkl", "wb") as handle:
        pickle.dump({"image_feature": np.array([1, "a"], dtype=object)}, handle)
    return (lambda: load_video_features(str(tmp / "v.pkl"), 8),
            [path(tmp / "v.pkl"), r"\['image_feature'\]", "array of Python objects"])


def pdparams_object_array(tmp, cfg):
    with open(tmp / "w.pdparams", "wb") as handle:
        pickle.dump({"conv1.weight": np.array([None, 2], dtype=object)}, handle)
    return (lambda: load_pdparams(str(tmp / "w.pdparams")),
            [path(tmp / "w.pdparams"), r"\['conv1.weight'\]", "array of Python objects"])


# --- configuration ------------------------------------------------------------------------------

def yaml_file(tmp, text):
    (tmp / "run.yaml").write_text(text)
    return str(tmp / "run.yaml")


def config_fractional_epochs(tmp, cfg):
    name = yaml_file(tmp, "num_epochs: 2.7\n")
    return lambda: load_config(name), ["'num_epochs'", path(name), "expected an integer"]


def config_infinite_lr(tmp, cfg):
    name = yaml_file(tmp, "lr: .inf\n")
    return lambda: load_config(name), ["'lr'", path(name), "expected a finite number > 0, got inf"]


def config_5000_digit_epochs(tmp, cfg):
    return (lambda: load_config("", {"num_epochs": "9" * 5000}),
            ["'num_epochs'", "command line", r"got '9{19}\.\.\.\(5002 characters\)$"])


def config_negative_lr(tmp, cfg):
    return lambda: load_config("", {"lr": "-1"}), ["'lr'", "command line", "must be > 0"]


def config_unknown_key(tmp, cfg):
    name = yaml_file(tmp, "learning_rate: 0.1\n")
    return lambda: load_config(name), ["'learning_rate'", path(name), "config.py --help"]


def config_bad_boolean(tmp, cfg):
    return lambda: load_config("", {"resume": "maybe"}), ["'resume'", "command line", "true/false"]


def config_zero_batch(tmp, cfg):
    name = yaml_file(tmp, "batch_size: 0\n")
    return lambda: load_config(name), ["'batch_size'", path(name), "must be >= 1"]


def config_momentum_range(tmp, cfg):
    return lambda: load_config("", {"bn_momentum": "1.5"}), ["'bn_momentum'", "must be >= 0 and <= 1"]


def config_not_yaml(tmp, cfg):
    name = yaml_file(tmp, "lr: [0.1\n")
    return lambda: load_config(name), [path(name), "not valid YAML", "line"]


def config_file_missing(tmp, cfg):
    return lambda: load_config(str(tmp / "none.yaml")), [path(tmp / "none.yaml"), "does not exist"]


# --- checkpoints --------------------------------------------------------------------------------

def checkpoint_empty(tmp, cfg):
    save_checkpoint_atomic(build_network(cfg), str(tmp / "ckpts" / "net-1_6.ckpt"))
    (tmp / "ckpts" / "net-2_6.ckpt").write_bytes(b"")
    return (lambda: read_checkpoint(str(tmp / "ckpts" / "net-2_6.ckpt")),
            [path(tmp / "ckpts" / "net-2_6.ckpt"), "empty", "other checkpoints in .*net-1_6.ckpt"])


def checkpoint_garbage_on_resume(tmp, cfg):
    (tmp / "x.ckpt").write_bytes(b"\x08\x01garbage" * 50)
    return (lambda: restore_training_state(None, str(tmp / "x.ckpt")),
            [path(tmp / "x.ckpt"), "cannot be read", "train again or use another checkpoint"])


def checkpoint_without_training_state(tmp, cfg):
    save_checkpoint_atomic(build_network(cfg), str(tmp / "net.ckpt"))
    return (lambda: restore_training_state(None, str(tmp / "net.ckpt")),
            [path(tmp / "net.ckpt"), "without --resume"])


def checkpoint_other_classes(tmp, cfg):
    save_checkpoint_atomic(build_network(cfg), str(tmp / "net.ckpt"))
    cfg.update(num_classes=3, checkpoint_path=str(tmp / "net.ckpt"))
    return lambda: build_network(cfg), [path(tmp / "net.ckpt"), "--finetune_num_classes 3"]


def checkpoint_missing(tmp, cfg):
    return lambda: load_network(cfg, str(tmp / "none.ckpt")), [path(tmp / "none.ckpt"), "does not exist"]


def checkpoint_folder_with_a_bad_one(tmp, cfg):
    from src.tasks.recognition.evaluation import evaluate_checkpoints
    folder = tmp / "ckpts"
    save_checkpoint_atomic(build_network(cfg), str(folder / "a.ckpt"))
    (folder / "b.ckpt").write_bytes(b"")
    return lambda: evaluate_checkpoints(cfg, str(folder), str(tmp / "eval")), []


# --- rank tables and cloud paths ----------------------------------------------------------------

def rank_table_missing(tmp, cfg):
    return lambda: load_rank_table(str(tmp / "hccl.json")), [path(tmp / "hccl.json"), "src.tools.cluster hccl"]


def rank_table_not_json(tmp, cfg):
    (tmp / "hccl.json").write_text('{"version": "1.0",')
    return lambda: load_rank_table(str(tmp / "hccl.json")), [path(tmp / "hccl.json"), "not valid JSON", "line 1"]


def rank_table_wrong_size(tmp, cfg):
    save_rank_table(make_rank_table([("10.0.0.1", [(0, "192.0.0.1"), (1, "192.0.0.2")])]), str(tmp / "hccl.json"))
    return (lambda: load_rank_table(str(tmp / "hccl.json"), expected_size=8),
            [path(tmp / "hccl.json"), "8", "src.tools.cluster hccl"])


def rank_table_not_completed(tmp, cfg):
    table = make_rank_table([("10.0.0.1", [(0, "192.0.0.1")])])
    table["status"] = "pending"
    (tmp / "hccl.json").write_text(json.dumps(table))
    return lambda: load_rank_table(str(tmp / "hccl.json")), [path(tmp / "hccl.json"), "'status'", "regenerate"]


def rank_table_5000_digit_rank_id(tmp, cfg):
    table = make_rank_table([("10.0.0.1", [(0, "192.0.0.1")])])
    table["server_list"][0]["device"][0]["rank_id"] = "1" * 5000
    (tmp / "hccl.json").write_text(json.dumps(table))
    return (lambda: load_rank_table(str(tmp / "hccl.json")),
            [path(tmp / "hccl.json"), r"server_list\[0\]\.device\[0\]\.rank_id must be a string holding an integer "
             r"in 0\.\.1000000", r"\(5002 characters\)"])


def rank_table_device_id_out_of_range(tmp, cfg):
    table = make_rank_table([("10.0.0.1", [(0, "192.0.0.1")])])
    table["server_list"][0]["device"][0]["device_id"] = "16"
    (tmp / "hccl.json").write_text(json.dumps(table))
    return (lambda: load_rank_table(str(tmp / "hccl.json")),
            [path(tmp / "hccl.json"), r"device\[0\]\.device_id must be a string holding an integer in 0\.\.15, "
             r"got '16'", "regenerate"])


def cloud_remote_without_moxing(tmp, cfg):
    return lambda: copy_path("obs://bucket/data", str(tmp)), ["obs://bucket/data", "moxing", "give local paths"]


def cloud_missing_local_input(tmp, cfg):
    return lambda: copy_path(str(tmp / "none"), str(tmp / "cache")), [path(tmp / "none"), "URL arguments"]


def cloud_job_without_data_url(tmp, cfg):
    cfg.update(openI=True, train_url=str(tmp / "out"))
    return lambda: prepare_cloud_job(cfg, "train"), ["--data_url"]


# --- a training run: every input checked before the first step -----------------------------------

def training_empty_validation_split(tmp, cfg):
    data = json.load(open(cfg.annotation_path))
    for entry in data["database"].values():
        entry["subset"] = "training"
    (tmp / "train_only.json").write_text(json.dumps(data))
    cfg.annotation_path = str(tmp / "train_only.json")
    return lambda: train(cfg), [path(tmp / "train_only.json"), "val split", "empty"]


def training_batch_larger_than_split(tmp, cfg):
    cfg.batch_size = 64
    return lambda: train(cfg), ["no full batch of 64", "lower --batch_size"]


CASES: List[Case] = [Case(make.__name__, make) for make in (
    missing_frame, corrupt_frame, truncated_jpeg, frames_of_two_sizes, flow_axes_of_two_sizes, not_a_video,
    no_video_path, no_video_exists,
    annotation_missing, annotation_not_json, annotation_without_keys, annotation_unknown_label,
    annotation_empty_split, class_count_differs,
    list_non_integer, list_label_too_large, list_negative_label, list_too_many_columns, list_missing,
    class_index_bad_line, class_index_duplicate_name, class_index_duplicate_index,
    feature_pickle_with_code, feature_pickle_without_features, feature_pickle_wrong_shape, labels_fps_text,
    labels_ids_not_list, labels_total_frames_text, labels_action_not_object, bmn_feature_wrong_shape,
    bmn_feature_object_array,
    annotation_infinite_segment, annotation_5000_digit_segment, annotation_fractional_segment,
    list_implausible_frame_count, bmn_infinite_duration, bmn_infinite_segment, bmn_negative_feature_frame,
    bmn_feature_npz_under_npy_name, video_info_row_infinite_seconds, feature_csv_with_nan, labels_infinite_fps,
    labels_huge_total_frames, labels_infinite_action_time,
    feature_pickle_object_array, pdparams_object_array,
    config_fractional_epochs, config_infinite_lr, config_5000_digit_epochs, config_negative_lr, config_unknown_key,
    config_bad_boolean, config_zero_batch, config_momentum_range, config_not_yaml, config_file_missing,
    checkpoint_empty, checkpoint_garbage_on_resume, checkpoint_without_training_state, checkpoint_other_classes,
    checkpoint_missing,
    rank_table_missing, rank_table_not_json, rank_table_wrong_size, rank_table_not_completed,
    rank_table_5000_digit_rank_id, rank_table_device_id_out_of_range,
    cloud_remote_without_moxing, cloud_missing_local_input, cloud_job_without_data_url,
    training_empty_validation_split, training_batch_larger_than_split)]


# Case makers with a test of their own instead of a place in CASES.
TESTED_APART = {"checkpoint_folder_with_a_bad_one"}


def test_every_case_defined_here_is_in_the_catalogue():
    """A case written but left out of CASES would never be tried: every ``(tmp, cfg)`` maker of this
    module is in CASES (or tested apart), once."""
    import inspect
    import sys
    module = sys.modules[__name__]
    makers = {name for name, fn in inspect.getmembers(module, inspect.isfunction)
              if fn.__module__ == __name__ and list(inspect.signature(fn).parameters) == ["tmp", "cfg"]}
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "a case is listed twice"
    assert not makers - TESTED_APART - set(names), "defined but never tried"
    assert not TESTED_APART & set(names)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_is_named_with_what_to_do(case, tiny_cfg, tmp_path):
    work = tmp_path / "case"
    work.mkdir()
    call, expected = case.make(work, tiny_cfg)
    assert expected, "a case must say what its message holds"
    with pytest.raises(Exception) as raised:
        call()
    message = str(raised.value)
    for pattern in expected:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    if case.name.startswith("training_"):  # refused before the first step: nothing was trained
        assert not os.path.isdir(os.path.join(tiny_cfg.save_dir, "checkpoints")) or \
            not any(name.endswith(".ckpt") for name in os.listdir(os.path.join(tiny_cfg.save_dir, "checkpoints")))


def test_a_bad_checkpoint_in_a_folder_is_reported_and_the_others_kept(tiny_cfg, tmp_path):
    evaluate, _ = checkpoint_folder_with_a_bad_one(tmp_path, tiny_cfg)
    with pytest.raises(ValueError, match=r"1 of 2 checkpoints .* could not be evaluated \(b\.ckpt; .*summary\.txt.*"
                                         r"--allow_failed_checkpoints True"):
        evaluate()
    lines = (tmp_path / "eval" / "summary.txt").read_text().splitlines()
    assert lines[0].startswith("a.ckpt\ttop1 ")
    assert lines[1].startswith("b.ckpt\tFAILED\t") and "empty" in lines[1]
    tiny_cfg.allow_failed_checkpoints = True  # partial results accepted
    assert [row["checkpoint"] for row in evaluate()] == ["a.ckpt"]


class _Warnings:
    def __init__(self):
        self.messages = []

    def warning(self, message):
        self.messages.append(message)


def test_an_infinite_best_metric_does_not_freeze_the_best_checkpoint(tmp_path):
    history = tmp_path / "history.json"
    history.write_text('[{"epoch": 1, "loss": 0.7, "lr": 0.1, "metric": 50.0}, '
                       '{"epoch": 2, "loss": 0.6, "lr": 0.1, "metric": Infinity}]')
    log = _Warnings()
    assert read_history(str(tmp_path), 2, log) == []
    assert re.search(rf"{path(history)}: epoch 2: metric must be a finite number", log.messages[0])
    best = tmp_path / "best.ckpt"
    save_checkpoint_atomic({"w": np.zeros(1, np.float32)}, str(best),
                           append_dict={"epoch_num": 2, "best_metric": float("inf")})
    assert best_so_far([{"epoch": 1, "metric": 50.0}], str(best), 2, log) == 50.0  # a later epoch can beat it
    assert "not a finite number" in log.messages[1] and str(best) in log.messages[1]


def test_an_unreadable_validation_video_is_listed_and_left_out_of_the_metrics(tiny_cfg, tiny_frames):
    from src.tasks.recognition.evaluation import evaluate_nets
    bad = tiny_frames / "jpg" / "MoveLeft" / "v_MoveLeft_g07_c01"
    for frame_file in bad.glob("*.jpg"):
        frame_file.write_bytes(b"not a jpeg")
    net = build_network(tiny_cfg)
    out = tiny_frames / "eval"
    tiny_cfg.max_bad_sample_ratio = 0.5
    for _ in range(2):  # the list names the video once however often it is evaluated
        metrics = evaluate_nets(tiny_cfg, {"rgb": net}, str(out))
    assert metrics["unreadable_videos"] == 1 and metrics["num_videos"] == 3
    [listed] = (out / "bad_samples_val.tsv").read_text().splitlines()
    assert listed.startswith(f"{bad}\t") and "is unreadable or corrupt" in listed and "re-extract" in listed
    scored = [row["video"] for row in json.loads((out / "results.json").read_text())["predictions"]]
    assert len(scored) == 3 and bad.name not in scored
    tiny_cfg.max_bad_sample_ratio = 0.05
    with pytest.raises(TooManyBadSamples, match=rf"1 of the 4 validation videos are unreadable, more than "
                                                rf"max_bad_sample_ratio 0.05; they are listed in "
                                                rf"{path(out / 'bad_samples_val.tsv')}"):
        evaluate_nets(tiny_cfg, {"rgb": net}, str(out))


# Bad inputs and faults whose tests run a whole command or need that command's fixtures, so they sit
# beside it; with the catalogue above and tests/test_faults.py they cover every case the README's
# troubleshooting guide lists.
TESTED_BESIDE_THEIR_COMMAND = {
    "a folder with unreadable, frameless, one-frame or sound-only videos (predict)": [
        "test_predict.py::test_a_folder_with_unusable_videos_predicts_the_others",
        "test_predict.py::test_a_folder_read_for_flow_skips_audio_only_frameless_and_one_frame_videos"],
    "feature extraction and proposals: a video too short, --strict, kill -9 and Ctrl-C then rerun": [
        "test_feature_shards.py::test_strict_stops_at_the_first_unusable_video_and_the_default_skips_it",
        "test_feature_shards.py::test_proposals_with_strict_stop_at_the_first_unusable_video",
        "test_feature_shards.py::test_a_killed_run_resumes_to_the_features_of_one_run",
        "test_feature_shards.py::test_ctrl_c_exits_130_and_the_rerun_completes",
        "test_feature_shards.py::test_proposals_rerun_after_a_kill_and_merge_over_shards"],
    "unreadable table-tennis features (tabletennis infer)": [
        "test_bmn_tabletennis.py::test_infer_skips_unreadable_features_and_says_so"],
    "variable frame rate, truncated files, same-stem videos, mmaction2 flow list counts": [
        "test_real_inputs.py::test_feature_extraction_takes_seconds_from_the_decoded_time_stamps",
        "test_real_inputs.py::test_truncated_file_is_called_truncated",
        "test_real_inputs.py::test_same_named_videos_with_two_extensions_are_refused",
        "test_real_inputs.py::test_flow_list_counts_are_read_as_rgb_or_flow_counts_by_what_the_folder_holds"],
    "broken files while training, too many of them, listed counts larger than the folders": [
        "test_scale.py::test_training_on_a_dataset_with_broken_files_lists_them_and_trains_on_the_rest",
        "test_scale.py::test_too_many_bad_samples_stop_the_run_naming_the_list",
        "test_scale.py::test_listed_frame_counts_are_checked_against_the_folders_before_the_first_step"],
    "a ground truth without video_info, a checkpoint of other classes (long-video commands)": [
        "test_bmn_pipeline.py::test_an_unusable_ground_truth_is_refused_before_any_feature_is_extracted",
        "test_bmn_pipeline.py::test_features_of_a_checkpoint_with_other_classes_than_its_config"],
    "mmaction2 BMN checkpoints with bm_mask": [
        "test_bmn_convert.py::test_mmaction2_checkpoint_converts_and_reports_every_problem"],
}


def test_the_cases_tested_beside_their_command_are_there():
    import ast
    for case, tests in TESTED_BESIDE_THEIR_COMMAND.items():
        for test in tests:
            module, name = test.split("::")
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), module), encoding="utf-8") as handle:
                defined = {node.name for node in ast.parse(handle.read()).body if isinstance(node, ast.FunctionDef)}
            assert name in defined, f"{case}: {test} is gone"
