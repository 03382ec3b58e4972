"""Run an exported ONNX file over folders of ``.bin`` batches with ONNX Runtime (CPU).

    python -m src.infer.onnx_runner --onnx_path F --input_path D[,D2] --output_path O [--num_threads N]

The same contract as the C++ program ``ascend_310_infer/out/main`` and ``src.infer.mindir_runner``
(every ``.bin`` in name order; output k of ``name.bin`` to ``O/result_Files/name_k.bin``, the mean
latency to ``O/time_Result/test_perform_static.txt``), so ``postprocess.py`` scores its results the
same way. Export the file with the batch size the batches were written with
(``python export.py ... --file_format ONNX --batch_size N``, ``python preprocess.py ... --batch_size N``).
"""
import argparse
import os
import sys
from typing import List, Sequence, Tuple

import numpy as np

from src.infer.bins import run_over_batches
from src.utils.command import USER_ERRORS, UserError, report_user_error, tool_parser

__all__ = ["onnx_session", "onnx_inputs", "run_onnx_file", "main"]

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
           "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8,
           "tensor(int8)": np.int8, "tensor(bool)": np.bool_}


def onnx_session(onnx_path: str, num_threads: int = 0):
    """An ONNX Runtime CPU session of ``onnx_path`` with ``num_threads`` intra-op threads (0: every core)."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError("running ONNX files needs onnxruntime: pip install onnxruntime") from None
    if not os.path.isfile(onnx_path):
        raise FileNotFoundError(f"ONNX file {onnx_path} does not exist; export it with export.py --file_format ONNX")
    options = onnxruntime.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    return onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


def onnx_inputs(session, onnx_path: str) -> List[Tuple[str, Tuple[int, ...], type]]:
    """``(name, shape, dtype)`` of every input of an ONNX Runtime session of ``onnx_path``."""
    inputs = []
    for value in session.get_inputs():
        if value.type not in _DTYPES:
            raise ValueError(f"{onnx_path}: input {value.name} has the type {value.type}, which .bin inputs cannot "
                             f"hold (supported: {', '.join(_DTYPES)})")
        if not all(isinstance(dim, int) and dim > 0 for dim in value.shape):
            raise ValueError(f"{onnx_path}: input {value.name} has the dynamic shape {value.shape}; export the model "
                             f"with a fixed batch_size (the batch size of the .bin files)")
        inputs.append((value.name, tuple(value.shape), _DTYPES[value.type]))
    return inputs


def run_onnx_file(onnx_path: str, input_paths: Sequence[str], output_path: str, num_threads: int = 0) -> float:
    """Run every batch and write results + latency (see the module docstring); returns the mean ms."""
    session = onnx_session(onnx_path, num_threads)
    inputs = onnx_inputs(session, onnx_path)
    names = [name for name, _, _ in inputs]
    return run_over_batches(lambda arrays: session.run(None, dict(zip(names, arrays))), inputs, onnx_path,
                            input_paths, output_path)


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("src.infer.onnx_runner", __doc__)
    parser.add_argument("--onnx_path", required=True, help="exported .onnx file")
    parser.add_argument("--input_path", required=True, help="folder of .bin batches (one per model input, comma separated)")
    parser.add_argument("--output_path", default=".", help="folder receiving result_Files/ and time_Result/")
    parser.add_argument("--num_threads", type=int, default=0, help="ONNX Runtime's CPU threads (0 = every core)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_onnx_file(args.onnx_path, [path for path in args.input_path.split(",") if path], args.output_path,
                      args.num_threads)
    except USER_ERRORS as err:
        return report_user_error(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
