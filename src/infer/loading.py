"""The networks the inference commands run (prediction, features, proposals): the configured backend's
network (:func:`src.infer.backends.inference_network`), MindSpore's CPU threads following
``num_threads`` also in commands that set up no runtime, and one log line naming what runs."""
import os

from src.infer.backends import OnnxNetwork, inference_network
from src.utils.runtime import get_logger, set_cpu_threads

__all__ = ["load_inference_network", "backend_line"]


def _shown(path: str) -> str:
    """``path`` relative to the working folder when it lies inside it, else absolute."""
    relative = os.path.relpath(os.path.abspath(path))
    return path if relative.startswith(os.pardir) else relative


def backend_line(net, cfg, checkpoint: str = "") -> str:
    """``inference: onnxruntime (<ONNX file>)`` or ``inference: mindspore (<checkpoint>)`` for ``net``
    made by :func:`inference_network` from ``cfg`` and ``checkpoint``."""
    if isinstance(net, OnnxNetwork):
        if net.fixed_shape is not None:  # the file of onnx_path
            return f"inference: onnxruntime ({_shown(cfg.onnx_path)})"
        return f"inference: onnxruntime ({_shown(net.cache_stem)}-<input shape>.onnx)"
    return f"inference: mindspore ({_shown(checkpoint)})" if checkpoint else "inference: mindspore"


def load_inference_network(cfg, checkpoint: str, mode: str = None, features: bool = False):
    """:func:`inference_network` of ``cfg`` (``backend``, ``onnx_path``, ``num_threads``), after giving
    MindSpore's CPU kernels ``cfg.num_threads`` threads (it builds, and on ONNX Runtime exports, the
    network), logging the line of :func:`backend_line`."""
    set_cpu_threads(cfg.num_threads)
    net = inference_network(cfg, checkpoint, mode, features)
    get_logger().info(backend_line(net, cfg, checkpoint))
    return net
