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

Localizer (BMN) folders hold one (feat_dim, tscale) feature window per row and per video its id,
name and duration (seconds covered by the features) plus the split's ground truth for the
proposal metric. ``meta["task"]`` names the task (:mod:`src.tasks`) that wrote the folder and
scores its results; what each task writes is in ``src/tasks/<task>/offline.py``.

Inference programs write output k of ``00_data/<name>.bin`` to ``<output>/result_Files/<name>_k.bin``
and the mean latency to ``<output>/time_Result/test_perform_static.txt``.
"""
import glob
import json
import os
import re
from typing import List, Sequence

import numpy as np

from src.utils.io import read_json

__all__ = ["DATA_FOLDER", "META_FILE", "LABELS_FILE", "RESULT_FOLDER", "TIME_FOLDER", "TIME_FILE",
           "BinBatchWriter", "load_bin", "write_meta", "read_meta", "result_file", "read_latency",
           "default_preprocess_path", "stream_meta", "result_folder", "locate_meta"]

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
                             f"row {self.buffer.shape[1:]} (the task's input_shape); check spatial_size / "
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
    return read_json(path)


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


def default_preprocess_path(cfg, stream: str) -> str:
    """``./preprocess_Result/<dataset>_<stream>``: where preprocess.py writes when no folder is given."""
    return os.path.join(".", "preprocess_Result", f"{cfg.dataset}_{stream}")


def stream_meta(cfg, task: str, stream: str, shape, batches: List[dict], videos: List[dict], views: int) -> dict:
    """The meta.json fields every task writes (tasks add their own: labels, ground truth ...)."""
    return {"format": FORMAT, "task": task, "model": cfg.model, "dataset": cfg.dataset, "stream": stream,
            "split": "val", "input_shape": list(shape), "batch_size": int(shape[0]), "views_per_video": views,
            "num_videos": len(videos), "num_files": len(batches), "data_folder": DATA_FOLDER,
            "batches": batches, "videos": videos, "config": dict(cfg)}


def result_folder(output_path: str) -> str:
    """The folder of the ``*_0.bin`` results: ``<output_path>/result_Files`` or ``output_path`` itself."""
    nested = os.path.join(output_path, RESULT_FOLDER)
    if os.path.isdir(nested):
        return nested
    if os.path.isdir(output_path) and any(name.endswith("_0.bin") for name in os.listdir(output_path)):
        return output_path
    raise FileNotFoundError(f"no {RESULT_FOLDER}/ in {output_path}; pass the --output_path of the inference "
                            f"run (ascend_310_infer/out/main or python -m src.infer.mindir_runner)")


def locate_meta(output_path: str, pre_result_path: str, stream: str = "") -> dict:
    """The meta.json describing ``output_path``'s results.

    Looked up in ``pre_result_path/<stream>/`` (joint preprocessing), ``pre_result_path/``, then
    ``output_path/`` (run_infer_310.sh copies it there). ``stream``, when given, must match.
    """
    candidates = []
    if pre_result_path:
        candidates += [os.path.join(pre_result_path, stream)] if stream else []
        candidates.append(pre_result_path)
    candidates.append(output_path)
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, META_FILE)):
            meta = read_meta(folder)
            if stream and meta.get("stream") != stream:
                raise ValueError(f"{os.path.join(folder, META_FILE)} describes the {meta.get('stream')} stream, not "
                                 f"{stream}; pass the {stream} folders")
            return meta
    raise FileNotFoundError(f"no {META_FILE} in {' or '.join(candidates)}; pass --pre_result_path (the "
                            f"preprocess.py output folder)")
