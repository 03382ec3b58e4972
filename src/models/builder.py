"""Networks from the shared configuration: a fresh one with its starting weights (training), or one
with a checkpoint loaded strictly for inference."""
import os

from src.models.fusion import fold_batchnorms
from src.models.registry import build_model_from_config
from src.models.weights import load_checkpoint_strict
from src.options import output_classes, stream_config

__all__ = ["build_network", "load_network"]


def build_network(cfg, for_resume: bool = False):
    """The network of ``cfg.model`` with its starting weights.

    * ``checkpoint_path`` made for ``num_classes`` is loaded strictly (class count and input
      channels are checked and explained); with ``finetune_num_classes`` the classifier is then
      replaced, so a 400-class Kinetics/ImageNet checkpoint fine-tunes to 101 UCF101 classes.
    * ``for_resume``: the network is built directly with its final classes, the caller restores
      network and optimizer state from the training checkpoint.
    """
    if cfg.checkpoint_path and not os.path.isfile(cfg.checkpoint_path):
        raise FileNotFoundError(f"checkpoint {cfg.checkpoint_path} does not exist")
    if for_resume:
        return build_model_from_config(cfg, num_classes=output_classes(cfg))
    net = build_model_from_config(cfg)
    if cfg.checkpoint_path:
        load_checkpoint_strict(net, cfg.checkpoint_path)
    if cfg.finetune_num_classes:
        net.reset_classifier(cfg.finetune_num_classes)
    return net


def load_network(cfg, checkpoint: str, mode: str = None):
    """A network of ``cfg.model`` in eval mode with ``checkpoint`` loaded strictly: of ``cfg.mode``, or
    of the joint-evaluation stream ``mode`` ('rgb' | 'flow'). With ``cfg.fold_bn`` its BatchNorms are
    folded into their convolutions (:mod:`src.models.fusion`): the network is for inference only."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    net = build_model_from_config(stream_config(cfg, mode) if mode else cfg, num_classes=output_classes(cfg))
    load_checkpoint_strict(net, checkpoint)
    net.set_train(False)
    if cfg.fold_bn:
        fold_batchnorms(net)
    return net
