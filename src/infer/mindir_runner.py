"""Run a MINDIR over folders of ``.bin`` batches: the Python stand-in of ``ascend_310_infer/out/main``.

    python -m src.infer.mindir_runner --mindir_path F --input_path D[,D2] --output_path O
                                      [--device_target CPU] [--device_id 0]

Same contract as the C++ program: every ``.bin`` of the input folder (raw float32, C order, one
batch per file) is fed to the model in name order, reshaped to the graph's input shape (its byte
size must match exactly); output k of ``name.bin`` goes to ``O/result_Files/name_k.bin`` (float32)
and the mean latency to ``O/time_Result/test_perform_static.txt``. A model with several inputs
takes one comma-separated folder per input, paired file by file in name order.
"""
import argparse
import glob
import os
import sys
import time
from typing import List, Sequence, Tuple

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.train import mind_ir_pb2

from src.infer.bins import RESULT_FOLDER, TIME_FILE, TIME_FOLDER, load_bin, result_file
from src.utils.command import tool_parser
from src.utils.progress import progress

__all__ = ["graph_inputs", "run_mindir", "main"]

_DTYPES = {"FLOAT": np.float32, "FLOAT16": np.float16, "DOUBLE": np.float64, "INT32": np.int32,
           "INT64": np.int64, "UINT8": np.uint8, "INT8": np.int8, "BOOL": np.bool_}


def graph_inputs(mindir_path: str) -> List[Tuple[str, Tuple[int, ...], type]]:
    """``(name, shape, dtype)`` of every input of the MINDIR graph, read from its protobuf."""
    model = mind_ir_pb2.ModelProto()
    with open(mindir_path, "rb") as handle:
        model.ParseFromString(handle.read())
    inputs = []
    for value in model.graph.input:
        tensor = value.tensor[0]
        type_name = mind_ir_pb2.TensorProto.DataType.Name(tensor.data_type)
        if type_name not in _DTYPES:
            raise ValueError(f"{mindir_path}: input {value.name} has data type {type_name}, which .bin inputs "
                             f"cannot hold (supported: {', '.join(_DTYPES)})")
        shape = tuple(int(dim) for dim in tensor.dims)
        if any(dim < 1 for dim in shape):
            raise ValueError(f"{mindir_path}: input {value.name} has the dynamic shape {shape}; export the model "
                             f"with a fixed batch_size (the batch size of the .bin files)")
        inputs.append((value.name, shape, _DTYPES[type_name]))
    return inputs


def _list_inputs(folders: Sequence[str]) -> List[List[str]]:
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


def run_mindir(mindir_path: str, input_paths: Sequence[str], output_path: str) -> float:
    """Run every batch and write results + latency (see the module docstring); returns the mean ms."""
    if not os.path.isfile(mindir_path):
        raise FileNotFoundError(f"MINDIR {mindir_path} does not exist; export it with export.py")
    inputs = graph_inputs(mindir_path)
    if len(input_paths) != len(inputs):
        raise ValueError(f"{mindir_path} has {len(inputs)} input(s) but {len(input_paths)} input folder(s) were "
                         f"given; pass one folder per input, separated by commas")
    files = _list_inputs(input_paths)
    net = nn.GraphCell(ms.load(mindir_path))
    result_dir = os.path.join(output_path, RESULT_FOLDER)
    time_dir = os.path.join(output_path, TIME_FOLDER)
    os.makedirs(result_dir, exist_ok=True)
    os.makedirs(time_dir, exist_ok=True)
    total_ms = 0.0
    for paths in progress(list(zip(*files)), desc=f"infer {os.path.basename(mindir_path)}"):
        tensors = [ms.Tensor(load_bin(path, shape, dtype, hint=f"input {name} of {mindir_path} has shape {shape}; "
                                      f"preprocess with the batch size and input size the model was exported with"))
                   for path, (name, shape, dtype) in zip(paths, inputs)]
        start = time.perf_counter()
        outputs = net(*tensors)
        outputs = [output.asnumpy() for output in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]
        total_ms += (time.perf_counter() - start) * 1000.0
        for k, output in enumerate(outputs):
            output.astype(np.float32, copy=False).tofile(result_file(result_dir, os.path.basename(paths[0]), k))
    mean_ms = total_ms / len(files[0])
    report = f"NN inference cost average time: {mean_ms:.3f} ms of infer_count {len(files[0])}\n"
    with open(os.path.join(time_dir, TIME_FILE), "w", encoding="utf-8") as handle:
        handle.write(report)
    print(report, end="")
    return mean_ms


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("src.infer.mindir_runner", __doc__)
    parser.add_argument("--mindir_path", required=True, help="exported .mindir file")
    parser.add_argument("--input_path", required=True, help="folder of .bin batches (one per model input, comma separated)")
    parser.add_argument("--output_path", default=".", help="folder receiving result_Files/ and time_Result/")
    parser.add_argument("--device_target", default="CPU", choices=["Ascend", "GPU", "CPU"])
    parser.add_argument("--device_id", type=int, default=0)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    ms.set_context(mode=ms.GRAPH_MODE)
    if args.device_target == "CPU":
        ms.set_device("CPU")
    else:
        ms.set_device(args.device_target, args.device_id)
    run_mindir(args.mindir_path, [path for path in args.input_path.split(",") if path], args.output_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
