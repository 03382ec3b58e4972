"""Export a trained network to MINDIR / AIR / ONNX with its inference input shape, which the
model's task defines (``Task.input_shape``; the layouts are listed in README.md):

* I3D, 3D-ResNet: ``(N, C, T, H, W)``; TSN / PP-TSN: ``(N, S, C, H, W)``;
* BMN: ``(N, feat_dim, tscale)`` -> (confidence map, start, end).
"""
import mindspore as ms
import numpy as np

from src.engine.builders import load_network
from src.tasks import task_of

__all__ = ["export_network", "export_from_config"]

_SUFFIX = {"MINDIR": ".mindir", "AIR": ".air", "ONNX": ".onnx"}


def _first_output(outputs) -> np.ndarray:
    return (outputs[0] if isinstance(outputs, (tuple, list)) else outputs).asnumpy()


def export_network(net, input_shape, file_name: str, file_format: str, device_target: str, seed: int = 0):
    """Export ``net``; for MINDIR reload the file and return the max abs output difference."""
    if file_format == "AIR" and device_target != "Ascend":
        raise RuntimeError("AIR export needs an Ascend device (device_target Ascend with the Ascend "
                           "toolkit); on CPU/GPU export MINDIR or ONNX")
    sample = ms.Tensor(np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32))
    net.set_train(False)
    ms.export(net, sample, file_name=file_name, file_format=file_format)
    path = file_name + _SUFFIX[file_format]
    if file_format != "MINDIR":
        return path, None
    reloaded = ms.nn.GraphCell(ms.load(path))
    difference = float(np.abs(_first_output(reloaded(sample)) - _first_output(net(sample))).max())
    return path, difference


def export_from_config(cfg):
    """Build the network, load ``checkpoint_path`` and export it (see :func:`export_network`);
    returns ``(path, reload difference or None, input shape)``."""
    if not cfg.checkpoint_path:
        raise ValueError("set --checkpoint_path to the checkpoint to export")
    task = task_of(cfg)
    net = load_network(cfg, cfg.checkpoint_path)
    shape = task.input_shape(cfg, cfg.batch_size)
    name = cfg.file_name or task.checkpoint_prefix(cfg)
    return export_network(net, shape, name, cfg.file_format, cfg.device_target, cfg.seed) + (shape,)
