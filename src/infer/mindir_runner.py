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
import os
import sys
from typing import List, Sequence, Tuple

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.train import mind_ir_pb2

from src.infer.bins import run_over_batches
from src.utils.command import tool_parser

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


def run_mindir(mindir_path: str, input_paths: Sequence[str], output_path: str) -> float:
    """Run every batch and write results + latency (see the module docstring); returns the mean ms."""
    if not os.path.isfile(mindir_path):
        raise FileNotFoundError(f"MINDIR {mindir_path} does not exist; export it with export.py")
    net = nn.GraphCell(ms.load(mindir_path))

    def forward(arrays):
        outputs = net(*[ms.Tensor(array) for array in arrays])
        return [output.asnumpy() for output in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]

    return run_over_batches(forward, graph_inputs(mindir_path), mindir_path, input_paths, output_path)


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
