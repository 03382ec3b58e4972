"""Safe defaults on any machine: the device is detected and said, loader workers fit the cores, and
a network whose class count differs from the annotation's is refused before training."""
import multiprocessing

import mindspore as ms
import numpy as np
import pytest

from src.config import load_config
from src.data.annotations import AnnotationError
from src.data.dataset import build_video_source, dataset_from_source, usable_workers
from src.utils import runtime


def test_device_target_defaults_to_auto_and_prefers_ascend_then_gpu(monkeypatch):
    assert load_config("", {}).device_target == "auto"
    for recipe in ("configs/i3d/ucf101_rgb.yaml", "configs/resnet3d/ucf101.yaml", "configs/tsn/ucf101_rgb.yaml",
                   "configs/bmn/activitynet.yaml"):
        assert load_config(recipe).device_target == "auto", recipe  # no recipe pins a device
    available = set()
    monkeypatch.setattr(ms.hal, "is_available", lambda target: target in available)
    assert runtime.resolve_device_target("auto") == "CPU"
    available.add("GPU")
    assert runtime.resolve_device_target("auto") == "GPU"
    available.add("Ascend")
    assert runtime.resolve_device_target("auto") == "Ascend"
    assert runtime.resolve_device_target("CPU") == "CPU"  # an explicit choice is kept


def test_setup_runtime_says_which_device_auto_chose(zoo_log):
    cfg = load_config("", {"device_target": "auto"})
    runtime.setup_runtime(cfg)
    assert cfg.device_target == "CPU"  # this test machine has neither Ascend nor a GPU
    assert "device_target auto: running on CPU" in zoo_log


class _Numbers:
    def __init__(self, count):
        self.count = count

    def column_names(self):
        return ["value", "label"]

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return np.full((2,), index, np.float32), np.int32(index % 2)


def test_too_many_workers_are_lowered_to_the_cores_with_a_note(zoo_log):
    usable_workers.cache_clear()
    cores = multiprocessing.cpu_count()
    cfg = load_config("", {"num_workers": cores + 6, "batch_size": 2, "eval_batch_size": 2})
    # MindSpore refuses num_parallel_workers above the core count; the loader must not pass it on.
    dataset = dataset_from_source(cfg, _Numbers(6), "val")
    assert dataset.get_dataset_size() == 3
    values = sorted(int(v) for batch in dataset.create_tuple_iterator(output_numpy=True) for v in batch[0][:, 0])
    assert values == list(range(6))
    assert f"note: num_workers {cores + 6} lowered to {cores}, the CPU cores of this machine" in zoo_log
    assert usable_workers(0) == 1 and usable_workers(1) == 1


def _frames_cfg(tiny_frames, **overrides):
    return load_config("", dict(model="tiny3d", dataset="demo", video_path=str(tiny_frames / "jpg"),
                                annotation_path=str(tiny_frames / "anno.json"), spatial_size=16,
                                resize_short=20, train_sample_duration=4, test_sample_duration=4,
                                **overrides))


def test_finetuning_head_must_match_the_annotation_classes(tiny_frames):
    # A 101-way fine-tuning head on a 2-class annotation: refused, naming the fix.
    cfg = _frames_cfg(tiny_frames, num_classes=400, finetune_num_classes=101)
    with pytest.raises(AnnotationError, match="has 2 classes but finetune_num_classes is 101; "
                                              "set --finetune_num_classes 2"):
        build_video_source(cfg, "train")
    cfg = _frames_cfg(tiny_frames, num_classes=101)
    with pytest.raises(AnnotationError, match="has 2 classes but num_classes is 101; set --num_classes 2"):
        build_video_source(cfg, "train")
    # The right heads are accepted: fine-tuning a 400-way checkpoint to 2 classes, or 2 classes outright.
    assert len(build_video_source(_frames_cfg(tiny_frames, num_classes=400, finetune_num_classes=2), "train")) == 12
    assert len(build_video_source(_frames_cfg(tiny_frames, num_classes=2), "val")) == 4
