"""Offline-inference batches: the validation split as raw float32 ``.bin`` files plus a meta JSON.

Layout of a preprocessed folder (one stream)::

    <folder>/00_data/<dataset>_<stream>_000000.bin   batch_size rows in the exported model's input
                                                     layout, raw float32, C order, no header
    <folder>/meta.json     batches (file, valid rows, (video, view) of each row), videos (index, id,
                           label / duration), input shape, classes, the configuration used
    <folder>/labels.npy    int64 label of every video in video order (recognizers)

A video's V views (clips x crops) are consecutive rows and may straddle two files; every file holds
exactly ``batch_size`` rows, the last one zero padded (``valid`` says how many rows are real), so
the folder feeds a model exported with the same ``batch_size`` as it is. Joint RGB + flow
preprocessing (``test_mode joint``) reads both streams on the same clips, like joint evaluation,
and writes ``<folder>/rgb/`` and ``<folder>/flow/``, each a complete one-stream folder.

BMN folders hold one (feat_dim, tscale) feature window per row and per video its id, name and
duration (seconds covered by the features) plus the split's ground truth for the proposal metric.

Inference programs write output k of ``00_data/<name>.bin`` to ``<output>/result_Files/<name>_k.bin``
and the mean latency to ``<output>/time_Result/test_perform_static.txt``.
"""
import glob
import json
import os
import re
from typing import Dict, List, Sequence

import numpy as np
from tqdm import tqdm

from src.data.bmn_data import build_bmn_source
from src.data.dataset import build_video_source, dataset_from_source
from src.engine.builders import output_classes
from src.engine.exporter import inference_input_shape

__all__ = ["DATA_FOLDER", "META_FILE", "LABELS_FILE", "RESULT_FOLDER", "TIME_FOLDER", "TIME_FILE",
           "BinBatchWriter", "load_bin", "write_meta", "read_meta", "result_file", "read_latency",
           "default_preprocess_path", "preprocess_recognizer", "preprocess_bmn", "preprocess"]

DATA_FOLDER = "00_data"
META_FILE = "meta.json"
LABELS_FILE = "labels.npy"
RESULT_FOLDER = "result_Files"
TIME_FOLDER = "time_Result"
TIME_FILE = "test_perform_static.txt"
FORMAT = "raw float32, C order, no header (ndarray.tofile); one file per batch of batch_size rows"


class BinBatchWriter:
    """Collects rows into batches of exactly ``batch_shape[0]`` rows and writes each as one ``.bin``.

    ``add(rows, video)`` appends a video's views; ``close()`` writes the zero-padded last batch and
    returns the batch records ``{"file", "valid", "rows": [[video, view], ...]}``.
    """

    def __init__(self, folder: str, prefix: str, batch_shape: Sequence[int]):
        self.folder = folder
        self.prefix = prefix
        self.buffer = np.zeros(tuple(batch_shape), dtype=np.float32)
        self.rows: List[List[int]] = []
        self.batches: List[dict] = []
        os.makedirs(folder, exist_ok=True)
        stale = glob.glob(os.path.join(folder, "*.bin"))
        if stale:  # a previous run's files would be fed to the model too
            print(f"removing {len(stale)} .bin files of a previous run from {folder}")
            for path in stale:
                os.remove(path)

    def add(self, rows: np.ndarray, video: int) -> None:
        if rows.shape[1:] != self.buffer.shape[1:]:
            raise ValueError(f"video {video}: rows of shape {rows.shape[1:]} do not match the model input "
                             f"row {self.buffer.shape[1:]} (exporter.inference_input_shape); check spatial_size / "
                             f"test_sample_duration / test_num_segments (BMN: feat_dim / tscale and the model's "
                             f"registered layout)")
        for view, row in enumerate(rows):
            self.buffer[len(self.rows)] = row
            self.rows.append([int(video), view])
            if len(self.rows) == len(self.buffer):
                self._flush()

    def _flush(self) -> None:
        valid = len(self.rows)
        self.buffer[valid:] = 0.0
        name = f"{self.prefix}_{len(self.batches):06d}.bin"
        self.buffer.tofile(os.path.join(self.folder, name))
        self.batches.append({"file": name, "valid": valid, "rows": self.rows})
        self.rows = []

    def close(self) -> List[dict]:
        if self.rows:
            self._flush()
        return self.batches


def load_bin(path: str, shape: Sequence[int], dtype=np.float32, hint: str = "") -> np.ndarray:
    """A raw ``.bin`` file as an array of ``shape``; a size mismatch is an error naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist{'; ' + hint if hint else ''}")
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    actual = os.path.getsize(path)
    if actual != expected:
        raise ValueError(f"{path} holds {actual} bytes but shape {tuple(shape)} of {np.dtype(dtype).name} needs "
                         f"{expected} bytes{'; ' + hint if hint else ''}")
    return np.fromfile(path, dtype=dtype).reshape(shape)


def write_meta(folder: str, meta: dict) -> str:
    path = os.path.join(folder, META_FILE)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1, default=str)
    return path


def read_meta(folder: str) -> dict:
    path = os.path.join(folder, META_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; run preprocess.py (or scripts/run_preprocess.sh) to "
                                f"write the batches and their meta.json")
    with open(path, "r", encoding="utf-8") as handle:
        return json.load(handle)


def result_file(result_dir: str, input_name: str, output: int = 0) -> str:
    """``result_Files/<stem>_<output>.bin`` of input ``<stem>.bin``, the inference programs' naming."""
    return os.path.join(result_dir, f"{os.path.splitext(input_name)[0]}_{output}.bin")


def read_latency(output_dir: str):
    """Mean latency (ms) from ``time_Result/test_perform_static.txt``, or None when absent."""
    path = os.path.join(output_dir, TIME_FOLDER, TIME_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as handle:
        found = re.search(r"([0-9.]+)\s*ms", handle.read())
    return float(found.group(1)) if found else None


def default_preprocess_path(cfg) -> str:
    stream = "bmn" if cfg.model == "bmn" else (cfg.test_mode or cfg.mode)
    return os.path.join(".", "preprocess_Result", f"{cfg.dataset}_{stream}")


def _common_meta(cfg, stream: str, shape, batches: List[dict], videos: List[dict], views: int) -> dict:
    return {"format": FORMAT, "model": cfg.model, "dataset": cfg.dataset, "stream": stream, "split": "val",
            "input_shape": list(shape), "batch_size": int(shape[0]), "views_per_video": views,
            "num_videos": len(videos), "num_files": len(batches), "data_folder": DATA_FOLDER,
            "batches": batches, "videos": videos, "config": dict(cfg)}


def preprocess_recognizer(cfg, out_dir: str) -> Dict[str, str]:
    """Write the validation split of a recognizer; returns ``{stream: folder}``.

    The stream is ``test_mode`` or ``mode``; ``joint`` writes RGB and flow on the same clips.
    Batches hold ``cfg.batch_size`` rows: export the model with the same ``batch_size``.
    """
    sampling = cfg.test_mode or cfg.mode
    joint = sampling == "joint"
    cfg = cfg.copy()
    if not joint:
        cfg.mode = sampling
    source = build_video_source(cfg, "val", joint=joint)
    streams = [stream["modality"] for stream in source.streams]
    folders = {stream: os.path.join(out_dir, stream) if joint else out_dir for stream in streams}
    shapes, writers = {}, {}
    for stream in streams:
        stream_cfg = cfg.copy()
        stream_cfg.mode = stream
        shapes[stream] = inference_input_shape(stream_cfg, cfg.batch_size)
        writers[stream] = BinBatchWriter(os.path.join(folders[stream], DATA_FOLDER),
                                         f"{cfg.dataset}_{stream}", shapes[stream])
    dataset = dataset_from_source(cfg, source, "val", batch_size=1)
    views = 0
    for *stream_views, _, index in tqdm(dataset.create_tuple_iterator(output_numpy=True), total=len(source),
                                        desc=f"preprocess {cfg.dataset} {sampling}"):
        for stream, batch in zip(streams, stream_views):
            writers[stream].add(batch[0], int(index[0]))
        views = len(stream_views[0][0])
    videos = [{"index": i, "id": record.video_id, "label": int(record.label)}
              for i, record in enumerate(source.records)]
    labels = np.array([video["label"] for video in videos], dtype=np.int64)
    for stream in streams:
        meta = _common_meta(cfg, stream, shapes[stream], writers[stream].close(), videos, views)
        meta.update(sampling=sampling, num_classes=output_classes(cfg), class_names=source.class_names)
        written = sum(batch["valid"] for batch in meta["batches"])
        if written != views * len(videos):
            raise RuntimeError(f"{written} rows written for {len(videos)} videos x {views} views; the data "
                               f"pipeline yielded a video twice or not at all")
        write_meta(folders[stream], meta)
        np.save(os.path.join(folders[stream], LABELS_FILE), labels)
    return folders


def preprocess_bmn(cfg, out_dir: str) -> Dict[str, str]:
    """Write the validation feature windows of BMN (one (feat_dim, tscale) row per video)."""
    source = build_bmn_source(cfg, "val")
    shape = inference_input_shape(cfg, cfg.batch_size)
    writer = BinBatchWriter(os.path.join(out_dir, DATA_FOLDER), f"{cfg.dataset}_bmn", shape)
    for index in tqdm(range(len(source)), desc=f"preprocess {cfg.dataset} bmn"):
        features, _ = source[index]
        writer.add(features[None], index)
    videos = [dict(source.video_info(index), index=index) for index in range(len(source))]
    meta = _common_meta(cfg, "bmn", shape, writer.close(), videos, 1)
    meta["ground_truth"] = source.ground_truth
    write_meta(out_dir, meta)
    return {"bmn": out_dir}


def preprocess(cfg, out_dir: str = "") -> Dict[str, str]:
    """The validation split of ``cfg.model`` as .bin batches in ``out_dir`` (default: see config)."""
    out_dir = out_dir or cfg.pre_result_path or default_preprocess_path(cfg)
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {cfg.batch_size}")
    if cfg.model == "bmn":
        return preprocess_bmn(cfg, out_dir)
    return preprocess_recognizer(cfg, out_dir)
