"""Export a network to MINDIR / AIR / ONNX and check the file against the network.

Every exported file that can be run here is run on a random input and compared with the
network's own outputs: MINDIR by reloading it, ONNX with onnxruntime when it is installed
(``requirements-dev.txt``). A difference above the tolerance is an error, not a warning: the file
would give other answers than the network.

``file_name`` is any path the file system takes (spaces, other characters, a folder that does not
exist yet), with or without the format's suffix: MindSpore accepts only ``[0-9a-zA-Z@_-.:/\\]`` in
the name it writes, so the file is written and checked in a temporary folder, then moved to its
name (a file that fails its check is not left behind).
"""
import os
import shutil
import tempfile

import mindspore as ms
import numpy as np

from src.utils.runtime import DeviceUnavailableError, writable_folder

__all__ = ["export_network", "run_onnx", "EXPORT_TOLERANCE"]

_SUFFIX = {"MINDIR": ".mindir", "AIR": ".air", "ONNX": ".onnx"}
# Relative to the largest output magnitude: kernels of two runtimes round differently.
EXPORT_TOLERANCE = 1e-3


def _as_arrays(outputs):
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [out.asnumpy() if hasattr(out, "asnumpy") else np.asarray(out) for out in outputs]


def run_onnx(path: str, sample: np.ndarray):
    """Outputs of the ONNX file ``path`` on ``sample`` (onnxruntime, CPU); None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: sample})


def _max_difference(path: str, expected, got) -> float:
    if len(got) != len(expected):
        raise RuntimeError(f"{path} has {len(got)} outputs, the network {len(expected)}")
    for index, (want, have) in enumerate(zip(expected, got)):
        if want.shape != have.shape:
            raise RuntimeError(f"{path}: output {index} has shape {have.shape}, the network's {want.shape}")
    difference = max(float(np.abs(want - have).max()) for want, have in zip(expected, got))
    scale = max(1.0, max(float(np.abs(want).max()) for want in expected))
    if difference > EXPORT_TOLERANCE * scale:
        raise RuntimeError(f"{path} computes other outputs than the network it was exported from (max abs "
                           f"difference {difference:.3e}, tolerance {EXPORT_TOLERANCE * scale:.3e}); an operator "
                           f"of the model is not exported faithfully to this format")
    return difference


def export_network(net, input_shape, file_name: str, file_format: str, device_target: str, seed: int = 0):
    """Export ``net`` and check the file: returns ``(path, max abs output difference)``.

    The difference is None where the file cannot be run here (AIR; ONNX without onnxruntime).
    """
    if file_format == "AIR" and device_target != "Ascend":
        raise DeviceUnavailableError(f"file_format AIR needs an Ascend device (device_target Ascend with the "
                                     f"Ascend toolkit), not {device_target}: on CPU/GPU export MINDIR or ONNX")
    suffix = _SUFFIX[file_format]
    path = os.fspath(file_name)
    path = path if path.lower().endswith(suffix.lower()) else path + suffix
    writable_folder(os.path.dirname(os.path.abspath(path)), "file_name", path)
    sample = np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32)
    net.set_train(False)
    with tempfile.TemporaryDirectory(prefix="export_") as staging:
        staged = os.path.join(staging, "net")
        ms.export(net, ms.Tensor(sample), file_name=staged, file_format=file_format)
        if file_format == "MINDIR":
            got = _as_arrays(ms.nn.GraphCell(ms.load(staged + suffix))(ms.Tensor(sample)))
        elif file_format == "ONNX":
            got = run_onnx(staged + suffix, sample)
        else:
            got = None
        difference = None
        if got is not None:
            difference = _max_difference(path, _as_arrays(net(ms.Tensor(sample))), _as_arrays(got))
        base = path[:-len(suffix)]
        for entry in os.listdir(staging):  # the file, and a MINDIR's weights folder when it has one
            rest = entry[len("net"):]
            shutil.move(os.path.join(staging, entry), path if rest == suffix else base + rest)
    return path, difference
