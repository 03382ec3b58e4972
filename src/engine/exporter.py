"""Export a trained network (``export.py``) with its inference input shape, which the model's task
defines (``Task.input_shape``; the layouts are listed in docs/en/deployment.md):

* I3D, 3D-ResNet: ``(N, C, T, H, W)``; TSN / PP-TSN: ``(N, S, C, H, W)``;
* BMN: ``(N, feat_dim, tscale)`` -> (confidence map, start, end).

The file is written and checked against the checkpoint's outputs by :mod:`src.infer.export`.
"""
from src.infer.export import export_network
from src.models.builder import load_network
from src.tasks import task_of

__all__ = ["export_from_config"]


def export_from_config(cfg):
    """Build the network, load ``checkpoint_path`` and export it (see :func:`export_network`);
    returns ``(path, checked difference or None, input shape)``."""
    if not cfg.checkpoint_path:
        raise ValueError("set --checkpoint_path to the checkpoint to export")
    task = task_of(cfg)
    net = load_network(cfg, cfg.checkpoint_path)
    shape = task.input_shape(cfg, cfg.batch_size)
    name = cfg.file_name or task.checkpoint_prefix(cfg)
    return export_network(net, shape, name, cfg.file_format, cfg.device_target, cfg.seed) + (shape,)
