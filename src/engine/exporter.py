"""Export a trained network to MINDIR / AIR / ONNX with its inference input shape.

Input layouts of the exported graphs (batch N = ``batch_size``):

* I3D, 3D-ResNet: ``(N, C, T, H, W)`` float32, C = 3 (rgb) or 2 (flow), T = test_sample_duration;
* TSN / PP-TSN: ``(N, S, C, H, W)`` float32, S = test_num_segments (or num_segments when 0),
  C = 3 or 2 * new_length (flow);
  to score V crops of a video, put them on the batch axis and average the N logits;
* BMN: ``(N, feat_dim, tscale)`` float32 -> (confidence map, start, end).
"""
import os

import mindspore as ms
import numpy as np

from src.data.pipelines import segments_for
from src.engine.evaluator import load_eval_network
from src.models import build_model_from_config
from src.models.registry import in_channels_for, model_layout
from src.models.weights import load_checkpoint_strict

__all__ = ["inference_input_shape", "export_network", "export_from_config"]

_SUFFIX = {"MINDIR": ".mindir", "AIR": ".air", "ONNX": ".onnx"}


def inference_input_shape(cfg, batch_size: int = None):
    """The input shape the exported model expects (see the module docstring)."""
    batch = batch_size or cfg.batch_size
    layout = model_layout(cfg.model)
    if layout == "NCT":
        return (batch, cfg.feat_dim, cfg.tscale)
    channels = in_channels_for(cfg)
    if layout == "NSCHW":
        return (batch, segments_for(cfg, "val"), channels, cfg.spatial_size, cfg.spatial_size)
    return (batch, channels, cfg.test_sample_duration, cfg.spatial_size, cfg.spatial_size)


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
    """Build the network, load ``checkpoint_path`` and export it (see :func:`export_network`)."""
    if not cfg.checkpoint_path:
        raise ValueError("set --checkpoint_path to the checkpoint to export")
    if cfg.model == "bmn":
        if not os.path.isfile(cfg.checkpoint_path):
            raise FileNotFoundError(f"checkpoint {cfg.checkpoint_path} does not exist")
        net = build_model_from_config(cfg)
        load_checkpoint_strict(net, cfg.checkpoint_path)
        name = cfg.file_name or f"bmn_{cfg.dataset}"
    else:
        net = load_eval_network(cfg, cfg.checkpoint_path)
        name = cfg.file_name or f"{cfg.model}_{cfg.dataset}_{cfg.mode}"
    shape = inference_input_shape(cfg)
    return export_network(net, shape, name, cfg.file_format, cfg.device_target, cfg.seed) + (shape,)
