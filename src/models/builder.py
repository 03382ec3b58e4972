"""Networks from the shared configuration: a fresh one with its starting weights (training), or one
with a checkpoint loaded strictly for inference.

A checkpoint whose classifier has another class count than the network is refused with the option
that fixes it, which depends on the option that set the network's classes: ``num_classes`` for the
checkpoint a training starts (or fine-tunes) from, ``finetune_num_classes`` when set, else
``num_classes``, for a checkpoint evaluated, exported or resumed. What was loaded is logged, with the
classifier's replacement when fine-tuning."""
import os

from src.models.fusion import fold_batchnorms
from src.models.registry import build_model_from_config
from src.models.weights import CheckpointMismatchError, checkpoint_classes, classifier_classes, load_checkpoint_strict
from src.options import output_classes, stream_config
from src.utils.runtime import get_logger

__all__ = ["build_network", "load_network"]


def _check_exists(checkpoint: str) -> None:
    if not os.path.isfile(checkpoint):
        state = "is a folder, not a checkpoint file" if os.path.isdir(checkpoint) else "does not exist"
        raise FileNotFoundError(f"checkpoint {checkpoint} {state}: set --checkpoint_path to a .ckpt file (train.py "
                                f"writes them to <save_dir>/checkpoints/)")


def _start_classes_fix(cfg, checkpoint: str, file_classes: int) -> str:
    """The network a training starts from ``checkpoint`` is built with ``num_classes``."""
    said = f"checkpoint {checkpoint} has {file_classes} classes, but --num_classes is {cfg.num_classes}"
    if cfg.finetune_num_classes:
        return (f"{said}: set --num_classes {file_classes}, the checkpoint's classes (--finetune_num_classes "
                f"{cfg.finetune_num_classes} then replaces its classifier)")
    return (f"{said}: to fine-tune it to {cfg.num_classes} classes set --num_classes {file_classes} "
            f"--finetune_num_classes {cfg.num_classes} (or --num_classes {file_classes} alone to keep its classifier)")


def _load_classes_fix(cfg, checkpoint: str, file_classes: int, net_classes: int) -> str:
    """A network that loads ``checkpoint`` as it is (evaluation, export, resume) is built with
    ``finetune_num_classes`` when set, else ``num_classes``."""
    if cfg.finetune_num_classes:
        said = (f"checkpoint {checkpoint} has {file_classes} classes, but --finetune_num_classes "
                f"{cfg.finetune_num_classes} makes a network of {net_classes}")
        if file_classes == cfg.num_classes:
            return f"{said}: set --finetune_num_classes 0 (the checkpoint has --num_classes {file_classes}, not fine-tuned)"
        return f"{said}: set --finetune_num_classes {file_classes}"
    return (f"checkpoint {checkpoint} has {file_classes} classes, but --num_classes is {net_classes}: "
            f"set --num_classes {file_classes}")


def _load(net, checkpoint: str, explain) -> None:
    """``load_checkpoint_strict``; a classifier of another class count is explained by ``explain``
    (file classes, network classes -> message) in one line."""
    try:
        load_checkpoint_strict(net, checkpoint)
    except CheckpointMismatchError as err:
        if not err.classifier_only:
            raise
        raise CheckpointMismatchError(explain(err.file_classes, err.net_classes), checkpoint, err.file_classes,
                                      err.net_classes, True) from err


def build_network(cfg, for_resume: bool = False):
    """The network of ``cfg.model`` with its starting weights.

    * ``checkpoint_path`` made for ``num_classes`` is loaded strictly (class count and input
      channels are checked and explained); with ``finetune_num_classes`` the classifier is then
      replaced, so a 400-class Kinetics/ImageNet checkpoint fine-tunes to 101 UCF101 classes.
    * ``for_resume``: the network is built directly with its final classes (checked against the
      checkpoint's classifier); the caller restores network and optimizer state from the training
      checkpoint.
    """
    logger = get_logger()
    if cfg.checkpoint_path:
        _check_exists(cfg.checkpoint_path)
    if for_resume:
        net = build_model_from_config(cfg, num_classes=output_classes(cfg))
        net_classes = classifier_classes(net)
        file_classes = checkpoint_classes(net, cfg.checkpoint_path) if cfg.checkpoint_path else None
        if file_classes is not None and file_classes != net_classes:
            raise CheckpointMismatchError(_load_classes_fix(cfg, cfg.checkpoint_path, file_classes, net_classes),
                                          cfg.checkpoint_path, file_classes, net_classes, True)
        if net_classes is not None:
            logger.info(f"resuming {cfg.checkpoint_path} ({net_classes} classes)")
        return net
    net = build_model_from_config(cfg)
    loaded_classes = classifier_classes(net)
    if cfg.checkpoint_path:
        _load(net, cfg.checkpoint_path, lambda file_classes, _: _start_classes_fix(cfg, cfg.checkpoint_path, file_classes))
    said = [f"loaded {cfg.checkpoint_path}" + (f" ({loaded_classes} classes)" if loaded_classes else "")] \
        if cfg.checkpoint_path else []
    if cfg.finetune_num_classes:
        net.reset_classifier(cfg.finetune_num_classes)
        said.append(f"classifier replaced: {loaded_classes} -> {cfg.finetune_num_classes} classes")
    if said:
        logger.info("; ".join(said))
    return net


def load_network(cfg, checkpoint: str, mode: str = None):
    """A network of ``cfg.model`` in eval mode with ``checkpoint`` loaded strictly: of ``cfg.mode``, or
    of the joint-evaluation stream ``mode`` ('rgb' | 'flow'). With ``cfg.fold_bn`` its BatchNorms are
    folded into their convolutions (:mod:`src.models.fusion`): the network is for inference only."""
    _check_exists(checkpoint)
    net = build_model_from_config(stream_config(cfg, mode) if mode else cfg, num_classes=output_classes(cfg))
    _load(net, checkpoint, lambda file_classes, net_classes: _load_classes_fix(cfg, checkpoint, file_classes,
                                                                                net_classes))
    net.set_train(False)
    if cfg.fold_bn:
        fold_batchnorms(net)
    return net
