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
import time
from typing import Callable, List, Sequence, Tuple

import numpy as np

from src.utils.io import read_json
from src.utils.progress import progress

__all__ = ["DATA_FOLDER", "META_FILE", "LABELS_FILE", "RESULT_FOLDER", "TIME_FOLDER", "TIME_FILE",
           "BinBatchWriter", "load_bin", "write_meta", "read_meta", "result_file", "read_latency",
           "default_preprocess_path", "stream_meta", "result_folder", "locate_meta", "list_inputs",
           "run_over_batches"]

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


def list_inputs(folders: Sequence[str]) -> List[List[str]]:
    files = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"input folder {folder} does not exist; run preprocess.py first")
        files.append(sorted(glob.glob(os.path.join(folder, "*.bin"))))
        if not files[-1]:
            raise FileNotFoundError(f"no .bin file in {folder}")
        if len(files[-1]) != len(files[0]):
            raise ValueError(f"{folder} holds {len(files[-1])} .bin files but {folders[0]} holds {len(files[0])}; "
                             f"the input folders must pair up file by file")
    return files


def run_over_batches(forward: Callable[[List[np.ndarray]], List[np.ndarray]], inputs: Sequence[Tuple[str, tuple, type]],
                     model_path: str, input_paths: Sequence[str], output_path: str) -> float:
    """The inference programs' contract: every ``.bin`` of the input folders (one folder per model
    input, paired file by file in name order) through ``forward`` (arrays in, arrays out); output k of
    ``name.bin`` goes to ``result_Files/name_k.bin`` (float32) and the mean latency to
    ``time_Result/test_perform_static.txt``. ``inputs`` are the model's ``(name, shape, dtype)``.
    Returns the mean milliseconds per batch."""
    if len(input_paths) != len(inputs):
        raise ValueError(f"{model_path} has {len(inputs)} input(s) but {len(input_paths)} input folder(s) were "
                         f"given; pass one folder per input, separated by commas")
    files = list_inputs(input_paths)
    result_dir = os.path.join(output_path, RESULT_FOLDER)
    time_dir = os.path.join(output_path, TIME_FOLDER)
    os.makedirs(result_dir, exist_ok=True)
    os.makedirs(time_dir, exist_ok=True)
    total_ms = 0.0
    for paths in progress(list(zip(*files)), desc=f"infer {os.path.basename(model_path)}"):
        arrays = [load_bin(path, shape, dtype, hint=f"input {name} of {model_path} has shape {shape}; "
                                                    f"preprocess with the batch size and input size the model "
                                                    f"was exported with")
                  for path, (name, shape, dtype) in zip(paths, inputs)]
        start = time.perf_counter()
        outputs = forward(arrays)
        total_ms += (time.perf_counter() - start) * 1000.0
        for k, output in enumerate(outputs):
            output.astype(np.float32, copy=False).tofile(result_file(result_dir, os.path.basename(paths[0]), k))
    mean_ms = total_ms / len(files[0])
    report = f"NN inference cost average time: {mean_ms:.3f} ms of infer_count {len(files[0])}\n"
    with open(os.path.join(time_dir, TIME_FILE), "w", encoding="utf-8") as handle:
        handle.write(report)
    print(report, end="")
    return mean_ms
