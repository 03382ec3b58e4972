"""Shared test fixtures: a tiny registered recognizer and a tiny frame-folder dataset."""
import json
import logging
import os

import cv2
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
import pytest

from src.config import load_config
from src.models.blocks import SeededDropout
from src.models.registry import list_models, register_model
from src.utils.runtime import get_logger

TINY_CLASSES = ["MoveLeft", "MoveRight"]


class TinyClipNet(nn.Cell):
    """A small 3D conv net with the recognizer interface, so engine tests run in seconds."""

    def __init__(self, num_classes=2, in_channels=3, dropout_keep_prob=1.0):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, 4, 3, stride=(1, 2, 2), has_bias=True)
        self.bn = nn.BatchNorm3d(4)
        self.pool = ops.ReduceMean(keep_dims=False)
        self.dropout = SeededDropout(1.0 - dropout_keep_prob)
        self.fc = nn.Dense(4, num_classes)

    def reset_classifier(self, num_classes):
        self.fc = nn.Dense(4, num_classes)

    def construct(self, x):
        return self.fc(self.dropout(self.pool(ops.relu(self.bn(self.conv(x))), (2, 3, 4))))


if "tiny3d" not in list_models():
    register_model("tiny3d")(TinyClipNet)


def _write_frames(folder, frames, value_fn, flow=False):
    os.makedirs(folder, exist_ok=True)
    for i in range(frames):
        if flow:
            cv2.imwrite(os.path.join(folder, f"flow_x_{i + 1:05d}.jpg"), value_fn(i)[..., 0])
            cv2.imwrite(os.path.join(folder, f"flow_y_{i + 1:05d}.jpg"), value_fn(i)[..., 1])
        else:
            cv2.imwrite(os.path.join(folder, f"image_{i + 1:05d}.jpg"), value_fn(i))
    with open(os.path.join(folder, "n_frames"), "w") as handle:
        handle.write(str(frames))


@pytest.fixture()
def tiny_frames(tmp_path):
    """Two linearly separable classes (dark / bright frames), RGB + flow, 6 train + 2 val videos each."""
    rng = np.random.default_rng(0)
    database = {}
    for c, label in enumerate(TINY_CLASSES):
        for k in range(8):
            video_id = f"v_{label}_g{k + 1:02d}_c01"
            base = 60 + 130 * c
            _write_frames(str(tmp_path / "jpg" / label / video_id), 10,
                          lambda i: np.clip(base + rng.integers(-20, 20, (24, 32, 3)), 0, 255).astype(np.uint8))
            _write_frames(str(tmp_path / "flow" / label / video_id), 9,
                          lambda i: np.full((24, 32, 2), base, np.uint8), flow=True)
            database[video_id] = {"subset": "training" if k < 6 else "validation",
                                  "annotations": {"label": label, "segment": [1, 10]}}
    (tmp_path / "anno.json").write_text(json.dumps({"labels": TINY_CLASSES, "database": database}))
    return tmp_path


@pytest.fixture()
def tiny_cfg(tiny_frames):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    return load_config("", dict(
        model="tiny3d", dataset="demo", context="py", video_path=str(tiny_frames / "jpg"),
        annotation_path=str(tiny_frames / "anno.json"), num_classes=2, spatial_size=16, resize_short=20,
        train_sample_duration=4, test_sample_duration=4, batch_size=2, num_workers=1, num_epochs=2,
        lr=0.05, save_dir=str(tiny_frames / "out"), dropout_keep_prob=1.0, checkpoints_num_keep=1))


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture()
def zoo_log():
    """Messages of the project's logger during the test. It does not propagate, so pytest's caplog
    sees it only when an earlier test happened to create it before caplog was set up."""
    collect = _Collect()
    logger = get_logger()
    logger.addHandler(collect)
    yield collect.messages
    logger.removeHandler(collect)
