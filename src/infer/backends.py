"""Inference backends: MindSpore, or the same network exported to ONNX and run by ONNX Runtime.

``backend`` (a configuration key, and ``--backend`` of the tools that infer) is ``mindspore``,
``onnxruntime`` or ``auto``: ONNX Runtime on a CPU when it is installed, MindSpore otherwise (on
Ascend and GPU MindSpore runs the device). On a CPU ONNX Runtime's kernels are the faster ones
(docs/en/benchmarks.md), and its outputs equal MindSpore's to about 5e-7 of the largest output on
every model of the zoo (``tests/test_backends.py``), so ``auto`` changes no answer.

:func:`inference_network` returns either the MindSpore network or an :class:`OnnxNetwork`, which is
called like the cell it came from: a ``Tensor`` (or array) in, a ``Tensor`` or a tuple of them out.

The ONNX file is exported on first use and cached in ``onnx_cache/`` beside the checkpoint (or in
``~/.cache/video_zoo/onnx`` when that folder cannot be written), one file per input shape (the
exporter of MindSpore 2.7 writes fixed shapes). Its name holds a digest of the checkpoint's
*content*, the network's build arguments and the input shape, so a retrained checkpoint under the
same name is exported again and a copy of one is not. ``onnx_path`` runs a given file instead; a
batch of another size is then cut into the file's batches (the last one padded).
"""
import hashlib
import json
import os
from typing import Dict, Optional, Sequence, Tuple

import mindspore as ms
import numpy as np

from src.infer.export import export_network
from src.infer.onnx_runner import onnx_session
from src.models.builder import load_network
from src.models.features import Features
from src.models.registry import model_kwargs_from_config
from src.options import output_classes, stream_config
from src.utils.command import UserError
from src.utils.runtime import get_logger, resolve_device_target, set_cpu_threads, writable_folder

__all__ = ["BACKENDS", "onnxruntime_available", "resolve_backend", "OnnxNetwork", "inference_network",
           "backend_line", "checkpoint_digest"]

BACKENDS = ("auto", "mindspore", "onnxruntime")
CACHE_FOLDER = "onnx_cache"
FALLBACK_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "video_zoo", "onnx")


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device_target: str) -> str:
    """``mindspore`` or ``onnxruntime`` for the configured ``backend`` on ``device_target``."""
    if backend == "onnxruntime":
        if not onnxruntime_available():
            raise UserError("backend onnxruntime: onnxruntime is not installed; pip install onnxruntime, "
                            "or use --backend mindspore")
        return backend
    if backend == "mindspore":
        return backend
    on_cpu = resolve_device_target(device_target) == "CPU"
    return "onnxruntime" if on_cpu and onnxruntime_available() else "mindspore"


def checkpoint_digest(path: str) -> str:
    """SHA-256 of a file's content (in 1 MiB reads)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _to_array(x) -> np.ndarray:
    return x.asnumpy() if hasattr(x, "asnumpy") else np.ascontiguousarray(x, dtype=np.float32)


class OnnxNetwork:
    """A network run by ONNX Runtime, called like the MindSpore cell it came from.

    Made from a cell (``cell`` with ``cache_stem``, the path prefix of its exported files: each new
    input shape is exported once, checked against the cell, and reused), or from one exported file
    (``onnx_path``: its input shape is fixed, other batch sizes are cut into its batches).
    """

    def __init__(self, cell=None, cache_stem: str = "", onnx_path: str = "", num_threads: int = 0):
        if (cell is None) == (not onnx_path):
            raise ValueError("OnnxNetwork takes a cell with its cache_stem, or an onnx_path")
        self.cell, self.cache_stem, self.onnx_path, self.num_threads = cell, cache_stem, onnx_path, num_threads
        self.num_features = getattr(cell, "num_features", None)  # a Features cell's width
        self.fixed_shape: Optional[Tuple[int, ...]] = None
        self._sessions: Dict[Tuple[int, ...], object] = {}
        if onnx_path:
            session = onnx_session(onnx_path, num_threads)
            shape = session.get_inputs()[0].shape
            if not all(isinstance(dim, int) for dim in shape):
                raise UserError(f"{onnx_path} has the input shape {shape}; the zoo's exports have fixed shapes")
            self.fixed_shape = tuple(shape)
            self._sessions[self.fixed_shape] = session

    training = False  # an exported graph is an inference graph

    def set_train(self, mode: bool = True):
        """Nothing to switch (kept for the cell's interface)."""
        return self

    def _session_for(self, shape: Tuple[int, ...]):
        if shape not in self._sessions:
            path = f"{self.cache_stem}-{'x'.join(map(str, shape))}.onnx"
            if not os.path.isfile(path):
                get_logger().info(f"exporting the network for input {list(shape)} to {path} (once)")
                export_network(self.cell, shape, path, "ONNX", "CPU")
            self._sessions[shape] = onnx_session(path, self.num_threads)
        return self._sessions[shape]

    def run(self, array: np.ndarray) -> Sequence[np.ndarray]:
        """The outputs (arrays) of one float32 input array."""
        if self.fixed_shape is None:
            session = self._session_for(tuple(array.shape))
            return session.run(None, {session.get_inputs()[0].name: array})
        return self._run_fixed(array)

    def _run_fixed(self, array: np.ndarray) -> Sequence[np.ndarray]:
        batch, rest = self.fixed_shape[0], self.fixed_shape[1:]
        if tuple(array.shape[1:]) != rest:
            raise UserError(f"the ONNX file takes inputs of shape {list(self.fixed_shape)}, this data gives "
                            f"{list(array.shape)}: export it with the configuration the data is read with")
        session = self._sessions[self.fixed_shape]
        name = session.get_inputs()[0].name
        chunks = []
        for first in range(0, len(array), batch):
            part = array[first:first + batch]
            padded = np.concatenate([part, np.repeat(part[-1:], batch - len(part), axis=0)])
            chunks.append([output[:len(part)] for output in session.run(None, {name: padded})])
        return [np.concatenate(outputs) for outputs in zip(*chunks)]

    def __call__(self, x):
        outputs = [ms.Tensor(output) for output in self.run(_to_array(x))]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _cache_stem(cfg, checkpoint: str, build: dict) -> str:
    """Path prefix of a checkpoint's exported files: beside it, named by its content and build."""
    key = json.dumps(build, sort_keys=True, default=str)
    digest = hashlib.sha256((checkpoint_digest(checkpoint) + key).encode()).hexdigest()[:16]
    name = f"{os.path.splitext(os.path.basename(checkpoint))[0]}-{digest}"
    for folder in (os.path.join(os.path.dirname(os.path.abspath(checkpoint)), CACHE_FOLDER), FALLBACK_CACHE):
        try:
            return os.path.join(writable_folder(folder, "checkpoint_path"), name)
        except UserError:
            continue
    raise UserError(f"no folder to cache the ONNX export of {checkpoint} in: make {CACHE_FOLDER}/ beside it or "
                    f"{FALLBACK_CACHE} writable, or use --backend mindspore")


def _shown(path: str) -> str:
    """``path`` relative to the working folder when it lies inside it, else absolute."""
    relative = os.path.relpath(os.path.abspath(path))
    return path if relative.startswith(os.pardir) else relative


def backend_line(net, checkpoint: str = "") -> str:
    """``inference: onnxruntime (<ONNX file>)`` or ``inference: mindspore (<checkpoint>)``."""
    if isinstance(net, OnnxNetwork):
        shown = _shown(net.onnx_path) if net.onnx_path else f"{_shown(net.cache_stem)}-<input shape>.onnx"
        return f"inference: onnxruntime ({shown})"
    return f"inference: mindspore ({_shown(checkpoint)})" if checkpoint else "inference: mindspore"


def inference_network(cfg, checkpoint: str, mode: str = None, features: bool = False):
    """The network of ``cfg.model`` with ``checkpoint`` loaded, for inference on ``cfg.backend``:
    :func:`src.models.builder.load_network`'s network (or its :class:`Features` when ``features``),
    or that network run by ONNX Runtime. ``cfg.onnx_path`` runs that file instead of the checkpoint.
    MindSpore's CPU kernels get ``cfg.num_threads`` threads first (it builds the network, and exports
    it for ONNX Runtime); one log line says what runs."""
    set_cpu_threads(cfg.num_threads)
    backend = resolve_backend(cfg.backend, cfg.device_target)
    if cfg.onnx_path:
        if backend != "onnxruntime":
            raise UserError(f"onnx_path {cfg.onnx_path} is run by ONNX Runtime: set --backend onnxruntime (backend "
                            f"{cfg.backend} runs MindSpore here)")
        if features:
            raise UserError(f"onnx_path {cfg.onnx_path} holds a network's outputs, not its features: give the "
                            f"checkpoint instead (its features are exported and cached on first use)")
        net = OnnxNetwork(onnx_path=cfg.onnx_path, num_threads=cfg.num_threads)
    else:
        net = load_network(cfg, checkpoint, mode)
        if features:
            net = Features(net)
            net.set_train(False)
        if backend == "onnxruntime":
            stream = stream_config(cfg, mode) if mode else cfg
            build = dict(model_kwargs_from_config(stream, output_classes(cfg)), model=cfg.model, fold_bn=cfg.fold_bn,
                         head="features" if features else "outputs")
            net = OnnxNetwork(net, _cache_stem(cfg, checkpoint, build), num_threads=cfg.num_threads)
    get_logger().info(backend_line(net, checkpoint))
    return net
