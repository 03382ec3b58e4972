"""Parameter naming rules and strict weight loading shared by every network of the zoo.

* :func:`ms_to_torch_name` maps a MindSpore parameter name onto the PyTorch state-dict key of the
  same tensor. The generic rules cover BatchNorm (``nn.BatchNorm3d`` wraps a ``bn2d`` cell;
  ``gamma/beta/moving_mean/moving_variance`` are PyTorch's ``weight/bias/running_mean/running_var``);
  a network whose layout differs from its PyTorch original declares a class attribute
  ``TORCH_KEY_RENAMES = [(regex, replacement), ...]`` applied afterwards, in order.
* :func:`convert_torch_state_dict` turns a PyTorch state dict into MindSpore parameters for a
  network, all or nothing: any missing, unexpected or mis-shaped tensor raises one ValueError that
  lists every problem.
* :func:`load_checkpoint_strict` loads a MindSpore checkpoint with the same strictness, skipping
  optimizer state and run metadata, and explains the two usual mistakes (a classifier with another
  class count, an rgb checkpoint for a flow network or the reverse); it raises
  :class:`CheckpointMismatchError`, which carries both class counts so that a caller knowing which
  option set the network's classes (:mod:`src.models.builder`) can name the one that fixes it.
  :func:`classifier_classes` / :func:`checkpoint_classes` give the class count of a network / of the
  classifier a checkpoint holds for it.
* :func:`save_checkpoint_atomic` never leaves a half-written checkpoint behind, and a full disk is
  reported naming the folder; :func:`remove_stale_temp_files` clears what a killed writer left.
* :func:`read_checkpoint` reads a checkpoint file or raises :class:`CheckpointReadError` naming it.

Nothing here imports torch: tensors are read through ``.detach().cpu().numpy()`` when they have it,
``numpy.asarray`` otherwise (so PaddlePaddle's pickled NumPy dicts work as well).
"""
import errno
import glob
import os
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, nn

from src.utils.io import atomic_path

from .blocks import RUN_STATE_SUFFIXES

__all__ = ["is_run_state", "learnt_parameters", "ms_to_torch_name", "torch_key_renames", "unwrap_torch_state_dict",
           "convert_torch_state_dict", "load_checkpoint_strict", "save_checkpoint_atomic", "is_training_state_entry",
           "CheckpointReadError", "CheckpointMismatchError", "classifier_classes", "checkpoint_classes",
           "read_checkpoint", "remove_stale_temp_files"]

_BN_RENAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
_TORCH_SKIPPED_SUFFIXES = ("num_batches_tracked",)
_TORCH_WRAPPER_KEYS = ("state_dict", "model")
_TORCH_PREFIX = "module."

# Entries a MindSpore checkpoint may hold besides network weights: optimizer slots, one per
# parameter under these prefixes, and undotted scalars/schedules (global_step, learning_rate,
# beta1_power, scale_sense, epoch_num, ... and whatever ``append_dict`` adds).
_OPTIMIZER_SLOT_PREFIXES = ("moments.", "moment.", "moment1.", "moment2.", "accum.", "stat.", "adam_m.", "adam_v.",
                            "vhat.", "mean_grad.", "mean_square.")


def ms_to_torch_name(ms_name: str, renames: Iterable[Tuple[str, str]] = ()) -> str:
    """PyTorch key of the MindSpore parameter ``ms_name``.

    Drops a ``bn2d`` component, renames BatchNorm parameters, then applies ``renames`` (the
    network's ``TORCH_KEY_RENAMES``): ``Mixed_3b.b0.bn.bn2d.gamma`` -> ``Mixed_3b.b0.bn.weight``.
    """
    parts = [part for part in ms_name.split(".") if part != "bn2d"]
    if parts and parts[-1] in _BN_RENAMES:
        parts[-1] = _BN_RENAMES[parts[-1]]
    name = ".".join(parts)
    for pattern, replacement in renames:
        name = re.sub(pattern, replacement, name)
    return name


def torch_key_renames(net: nn.Cell) -> List[Tuple[str, str]]:
    """The network's ``TORCH_KEY_RENAMES`` (empty when it follows its PyTorch original exactly)."""
    return list(getattr(net, "TORCH_KEY_RENAMES", ()))


def to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    elif isinstance(value, Tensor):
        value = value.asnumpy()
    return np.asarray(value)


def _where(source: Optional[str]) -> str:
    return f" in {source}" if source else ""


def unwrap_torch_state_dict(state_dict: Mapping, source: Optional[str] = None) -> Dict[str, object]:
    """The bare tensor mapping of a PyTorch checkpoint.

    Unwraps ``{'state_dict': ...}`` / ``{'model': ...}``, strips a DataParallel ``module.`` prefix
    and drops ``num_batches_tracked`` counters.
    """
    for key in _TORCH_WRAPPER_KEYS:
        if key in state_dict and isinstance(state_dict[key], Mapping):
            state_dict = state_dict[key]
            break
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"expected a state dict (name -> tensor){_where(source)}, got {type(state_dict).__name__}")
    tensors = {}
    for key, value in state_dict.items():
        if key.startswith(_TORCH_PREFIX):
            key = key[len(_TORCH_PREFIX):]
        if key.endswith(_TORCH_SKIPPED_SUFFIXES):
            continue
        tensors[key] = value
    return tensors


def _format_report(title: str, missing: Sequence[str], unexpected: Sequence[str],
                   mismatched: Sequence[str], hints: Sequence[str]) -> str:
    lines = [title]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if items:
            lines.append(f"  {label} ({len(items)}):")
            lines.extend(f"    {item}" for item in items)
    lines.extend(f"  hint: {hint}" for hint in hints)
    return "\n".join(lines)


def _classifier(net: nn.Cell) -> Optional[Parameter]:
    """The classifier's weight: the last weight of at least 2 dimensions (classes, ...)."""
    weights = [p for p in net.get_parameters() if len(p.shape) >= 2]
    return weights[-1] if weights else None


def classifier_classes(net: nn.Cell) -> Optional[int]:
    """The classes a recognizer predicts (its classifier's rows); None for a network without one."""
    classifier = _classifier(net)
    return int(classifier.shape[0]) if classifier is not None and hasattr(net, "reset_classifier") else None


def checkpoint_classes(net: nn.Cell, path: str) -> Optional[int]:
    """The classes of the classifier that the checkpoint ``path`` holds for the recognizer ``net``
    (read without loading the rest); None when ``net`` has no classifier or the file lacks it."""
    classifier = _classifier(net)
    if classifier is None or not hasattr(net, "reset_classifier"):
        return None
    entry = read_checkpoint(path, names=(classifier.name,)).get(classifier.name)
    return int(entry.shape[0]) if entry is not None and len(entry.shape) >= 2 else None


def _shape_hints(net: nn.Cell, file_shapes: Mapping[str, tuple]) -> List[str]:
    """Explain a mismatch of the first convolution (input channels) or the classifier (classes).

    The first parameter with at least 3 dimensions is the stem's filter (out, in, ...); the last
    weight of the network is the classifier (classes, ...). Both are found by position, so the
    check holds for every model of the zoo.
    """
    params = list(net.get_parameters())
    hints = []
    stem = next((p for p in params if len(p.shape) >= 3), None)
    if stem is not None and stem.name in file_shapes:
        file_shape = file_shapes[stem.name]
        if len(file_shape) == len(stem.shape) and file_shape[1] != stem.shape[1]:
            hints.append(f"checkpoint expects {file_shape[1]} input channels, network has {stem.shape[1]}: "
                         f"set --mode to the checkpoint's stream (rgb = 3 channels, flow = 2 per frame; "
                         f"pt2ckpt: --in_channels {file_shape[1]})")
    classifier = _classifier(net)
    if classifier is not None and classifier.name in file_shapes:
        file_classes, net_classes = file_shapes[classifier.name][0], classifier.shape[0]
        if file_classes != net_classes:
            hints.append(f"checkpoint has {file_classes} classes, network has {net_classes}: set "
                         f"--finetune_num_classes {net_classes} with --num_classes {file_classes} to fine-tune "
                         f"from it, or --num_classes {file_classes} to use it as it is")
    return hints


def is_run_state(name: str) -> bool:
    """Whether a parameter holds how far a training has run (the dropout's draw counter), not a weight."""
    return name.endswith(RUN_STATE_SUFFIXES)


def learnt_parameters(net: nn.Cell) -> List[Parameter]:
    """The network's weights and statistics without its run state: what checkpoints from elsewhere hold
    and converters map (a checkpoint without the run state starts it from zero)."""
    return [param for param in net.get_parameters() if not is_run_state(param.name)]


def _match(net: nn.Cell, file_arrays: Mapping[str, object], key_of: Mapping[str, str],
           allow_missing_prefixes: Sequence[str] = ()) -> Tuple[List[str], List[str], List[str], Dict[str, tuple]]:
    """Compare network parameters (ms name -> file key) with the file's arrays.

    Returns missing / unexpected / mismatch descriptions and the file shape of every mismatched
    parameter (keyed by MindSpore name).
    """
    missing, mismatched, file_shapes = [], [], {}
    used = set()
    for param in net.get_parameters():
        key = key_of.get(param.name)
        if key is None:  # not mapped: run state, which other tools' files do not have
            continue
        if key not in file_arrays:
            if not param.name.startswith(tuple(allow_missing_prefixes)) and not is_run_state(param.name):
                missing.append(key if key == param.name else f"{key} (network parameter {param.name})")
            continue
        used.add(key)
        file_shape = tuple(np.shape(file_arrays[key]))
        if file_shape != tuple(param.shape):
            file_shapes[param.name] = file_shape
            mismatched.append(f"{key}: file {file_shape}, network {tuple(param.shape)}")
    unexpected = sorted(key for key in file_arrays if key not in used)
    return missing, unexpected, mismatched, file_shapes


def convert_torch_state_dict(net: nn.Cell, state_dict: Mapping, source: Optional[str] = None) -> Dict[str, Parameter]:
    """MindSpore parameters (name -> Parameter) of ``net`` from a PyTorch state dict.

    Every network parameter must find its key (:func:`ms_to_torch_name` with the network's
    ``TORCH_KEY_RENAMES``) with the same shape, and every tensor of the file must be used;
    otherwise a ValueError lists all missing, unexpected and mis-shaped entries (``source`` names
    the file in the message). Nothing is converted partially.
    """
    tensors = unwrap_torch_state_dict(state_dict, source)
    renames = torch_key_renames(net)
    key_of = {param.name: ms_to_torch_name(param.name, renames) for param in learnt_parameters(net)}
    missing, unexpected, mismatched, file_shapes = _match(net, tensors, key_of)
    if missing or unexpected or mismatched:
        hints = _shape_hints(net, file_shapes)
        raise ValueError(_format_report(
            f"PyTorch weights{_where(source)} do not fit {type(net).__name__}:", missing, unexpected, mismatched, hints))
    return {name: Parameter(Tensor(to_numpy(tensors[key]).astype(np.float32)), name=name)
            for name, key in key_of.items()}


def is_training_state_entry(name: str) -> bool:
    """True for checkpoint entries that are not network weights (optimizer slots, step counters,
    learning rates, metadata written with ``append_dict``: any name without a dot; run state such as a
    loss's draw counter, ``uniform.draws``)."""
    return name.startswith(_OPTIMIZER_SLOT_PREFIXES) or "." not in name or is_run_state(name)


class CheckpointReadError(ValueError):
    """A checkpoint file that is missing, empty or not a MindSpore checkpoint."""


class CheckpointMismatchError(ValueError):
    """A checkpoint whose parameters do not fit the network. ``file_classes`` / ``net_classes`` are the
    classifier's class counts when they differ (else None); ``classifier_only`` is True when the
    classifier is all that differs."""

    def __init__(self, message: str, source: Optional[str] = None, file_classes: Optional[int] = None,
                 net_classes: Optional[int] = None, classifier_only: bool = False):
        super().__init__(message)
        self.source = source
        self.file_classes = file_classes
        self.net_classes = net_classes
        self.classifier_only = classifier_only


def read_checkpoint(path: str, names: Optional[Sequence[str]] = None) -> Dict[str, Parameter]:
    """The entries (name -> Parameter) of the checkpoint file ``path``; only ``names`` when given.

    A missing, empty (a writer killed, a full disk) or unreadable file raises
    :class:`CheckpointReadError` naming it and the earlier checkpoints beside it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointReadError(f"checkpoint {path} does not exist")
    folder = os.path.dirname(os.path.abspath(path))
    others = sorted(name for name in os.listdir(folder) if name.endswith(".ckpt") and name != os.path.basename(path))
    fallback = (f"; other checkpoints in {folder}: {', '.join(others[-3:])}" if others
                else "; train again or use another checkpoint")
    if os.path.getsize(path) == 0:
        raise CheckpointReadError(f"checkpoint {path} is empty (0 bytes): its writer was killed or the disk was "
                                  f"full{fallback}")
    choice = (lambda name: name in names) if names is not None else None
    try:
        return ms.load_checkpoint(path, choice_func=choice)
    except (ValueError, RuntimeError, TypeError, OSError) as err:
        raise CheckpointReadError(f"checkpoint {path} cannot be read ({str(err).splitlines()[0]}): it is truncated, "
                                  f"corrupt or not a MindSpore .ckpt{fallback}") from err


def load_checkpoint_strict(net: nn.Cell, ckpt_path_or_dict, allow_missing_prefixes: Sequence[str] = ()) -> Dict[str, object]:
    """Load a MindSpore checkpoint (path or name -> Parameter/Tensor/array dict) into ``net``.

    Raises ValueError naming the file and listing every missing, unexpected or mis-shaped
    parameter, with a hint when the classifier's class count or the stem's input channels differ.
    Network parameters whose names start with one of ``allow_missing_prefixes`` may be absent
    (they keep their initial values). Optimizer state and metadata entries of the file are not
    loaded; they are returned (name -> Parameter) so a caller can resume from them.
    """
    if isinstance(ckpt_path_or_dict, (str, os.PathLike)):
        source = os.fspath(ckpt_path_or_dict)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"checkpoint {source} does not exist")
        entries = read_checkpoint(source)
    else:
        source, entries = None, dict(ckpt_path_or_dict)
    net_names = {param.name for param in net.get_parameters()}
    weights = {name: value for name, value in entries.items()
               if name in net_names or not is_training_state_entry(name)}
    extras = {name: value for name, value in entries.items() if name not in weights}
    missing, unexpected, mismatched, file_shapes = _match(
        net, weights, {name: name for name in net_names}, allow_missing_prefixes)
    if missing or unexpected or mismatched:
        hints = _shape_hints(net, file_shapes)
        classifier = _classifier(net)
        file_classes = net_classes = None
        if classifier is not None and classifier.name in file_shapes:
            file_classes, net_classes = file_shapes[classifier.name][0], classifier.shape[0]
        classes_differ = file_classes is not None and file_classes != net_classes
        # the classifier's weight (and its bias) is all that differs
        layer = classifier.name.rsplit(".", 1)[0] if classifier is not None else None
        classifier_only = classes_differ and not missing and not unexpected and all(
            name.rsplit(".", 1)[0] == layer for name in file_shapes)
        raise CheckpointMismatchError(
            _format_report(f"checkpoint{_where(source)} does not fit {type(net).__name__}:", missing, unexpected,
                           mismatched, hints),
            source, file_classes if classes_differ else None, net_classes if classes_differ else None,
            classifier_only)
    params = {name: value if isinstance(value, Parameter) else Parameter(Tensor(to_numpy(value)), name=name)
              for name, value in weights.items()}
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    not_loaded = [name for name in not_loaded
                  if not name.startswith(tuple(allow_missing_prefixes)) and not is_run_state(name)]
    if not_loaded:
        raise ValueError(f"checkpoint{_where(source)}: parameters not loaded: {', '.join(not_loaded)}")
    return extras


# Temporary names of a checkpoint being written: ours (``.<name>.<pid>.tmp.ckpt``) and the one
# MindSpore writes first and renames onto ours (the same with ``.tmp`` in place of ``.ckpt``).
_TEMP_PATTERNS = (".*.tmp.ckpt", ".*.tmp.tmp")


def remove_stale_temp_files(folder: str) -> List[str]:
    """Delete the temporary files of checkpoint writes that never finished (a killed or crashed run)
    in ``folder``; returns their paths. Call it only while no other process writes there."""
    stale = sorted(path for pattern in _TEMP_PATTERNS for path in glob.glob(os.path.join(folder, pattern)))
    for path in stale:
        os.remove(path)
    return stale


def save_checkpoint_atomic(params_or_net, path: str, append_dict: Optional[dict] = None) -> str:
    """Save a network (or a name -> Parameter dict / parameter list) to ``path`` atomically.

    The checkpoint is written to a temporary file in the same folder and moved over ``path`` with
    ``os.replace``, so a crash never leaves a truncated file under the final name; on any failure the
    temporary files are removed. A full disk, or a folder that became read-only, raises OSError naming
    the folder.
    """
    path = os.fspath(path)
    if not path.endswith(".ckpt"):
        raise ValueError(f"checkpoint file names end with .ckpt, got {path}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    save_obj = params_or_net
    if isinstance(params_or_net, Mapping):
        save_obj = [{"name": name, "data": value if isinstance(value, Tensor) else Tensor(np.asarray(value))}
                    for name, value in params_or_net.items()]
    try:
        with atomic_path(path, suffix=".ckpt") as tmp_path:
            try:
                ms.save_checkpoint(save_obj, tmp_path, append_dict=append_dict)
            finally:  # MindSpore's own first name for it
                if os.path.exists(tmp_path[:-len(".ckpt")] + ".tmp"):
                    os.remove(tmp_path[:-len(".ckpt")] + ".tmp")
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(err.errno, f"no space left on the disk of {folder} while writing "
                                     f"{os.path.basename(path)}; the checkpoints already there are intact. Free "
                                     f"space (or lower checkpoints_num_keep), then resume from the newest "
                                     f"checkpoint of {folder}") from err
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OSError(err.errno, f"cannot write {os.path.basename(path)} into {folder} ({err.strerror}); the "
                                     f"checkpoints already there are intact. Make the folder writable, then resume "
                                     f"from the newest checkpoint of {folder}") from err
        raise
    return path
