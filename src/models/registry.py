"""Model factory: every network is registered by name and built with :func:`create_model`.

Registering a model
-------------------
``@register_model(name, config_adapter=None, layout="NCTHW", task="recognition", options=())`` on a
builder function. The registration carries everything the engine needs to know, so no code outside
the model's own file ever tests a model name:

* ``layout``: the input the data pipeline produces, one of :data:`LAYOUTS`;
* ``task``: the name of a task in :mod:`src.tasks` (``recognition`` or ``localization``), which
  supplies the loss, the evaluation and the metric that picks the best checkpoint, the dataset,
  the exported input shape and the offline ``.bin`` pre/post-processing;
* ``options``: the model's own configuration keys, declared beside the builder with
  :func:`src.options.option` (name, default, parser with its type and range, help), e.g.
  ``option("model_depth", 50, count(integer), "depth of the 3D-ResNet")``. Registering adds them to
  the configuration (:func:`src.options.add_model_options`): they are set from YAML and
  ``--key value`` overrides, typed and range-checked, and listed by ``python config.py --help``,
  with no edit to ``src/options.py`` or ``src/config.py``. Keys every run shares (data, training,
  evaluation, ...) stay in ``src/options.py``'s ``OPTIONS`` and are read without being declared; a
  model may not declare one of them. Two models may declare the same key only with the same type,
  range and default (then it is one key both read, like ``model_depth`` of resnet3d and tsn); a
  different declaration is a ``ValueError`` at registration, naming the key and both declarations.
* ``config_adapter(cfg) -> dict``: turns a :class:`src.options.Config` into the builder's keyword
  arguments; without one the builder receives ``in_channels``, ``dropout_keep_prob`` and each of
  its ``options`` by its key name.

The model contract
------------------
Every builder accepts ``num_classes`` (localizers accept and ignore it) and returns an ``nn.Cell``.

* Recognizers map their layout's input to logits ``(B, num_classes)`` and provide
  ``reset_classifier(num_classes)`` (a fresh classifier, for fine-tuning) and
  ``forward_features(x) -> (B, num_features)`` (pooled features before the classifier) with the
  attribute ``num_features``.
* Localizers map ``(B, feat_dim, tscale)`` features to ``(confidence_map (B, 2, T, T), start (B, T),
  end (B, T))`` boundary-matching outputs and have the attribute ``tscale``.
* Weight conversion from PyTorch (:mod:`src.models.weights`) maps MindSpore parameter names to
  PyTorch keys by the generic BatchNorm rule; a model whose PyTorch keys differ in more than that
  declares regex renames ``(mindspore_pattern, torch_replacement)`` in a class attribute
  ``TORCH_KEY_RENAMES``.
"""
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from src.options import Option, add_model_options

__all__ = ["LAYOUTS", "register_model", "create_model", "list_models", "model_layout", "model_task",
           "model_options", "in_channels_for", "model_kwargs_from_config", "build_model_from_config"]

# Input layouts: clip models take (B, C, T, H, W); segment models (TSN) take (B, S, C, H, W);
# feature models (BMN) take (B, feat_dim, T).
LAYOUTS = ("NCTHW", "NSCHW", "NCT")


class _Registration(NamedTuple):
    builder: Callable
    layout: str
    task: str
    config_adapter: Optional[Callable]
    options: Tuple[Option, ...]


_MODELS: Dict[str, _Registration] = {}


def register_model(name: str, config_adapter: Callable = None, layout: str = "NCTHW", task: str = "recognition",
                   options: Sequence[Option] = ()):
    """Register the decorated builder under ``name`` with its own configuration keys ``options``
    (see the module docstring)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    options = tuple(options)

    def wrap(builder):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        add_model_options(name, options)  # raises, registering nothing, when a key conflicts
        _MODELS[name] = _Registration(builder, layout, task, config_adapter, options)
        return builder
    return wrap


def _registration(name: str) -> _Registration:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def list_models() -> List[str]:
    return sorted(_MODELS)


def model_layout(name: str) -> str:
    """Input layout of model ``name`` (see :data:`LAYOUTS`)."""
    return _registration(name).layout


def model_task(name: str) -> str:
    """Name of the task model ``name`` was registered with."""
    return _registration(name).task


def model_options(name: str) -> Tuple[Option, ...]:
    """The configuration keys model ``name`` declared when it was registered."""
    return _registration(name).options


def create_model(name: str, **kwargs):
    """Build the model registered as ``name`` (like mindcv's ``create_model``)."""
    return _registration(name).builder(**kwargs)


def in_channels_for(cfg) -> int:
    """Input channels of a recognizer for the configured stream (segments stack new_length frames)."""
    per_frame = 2 if cfg.mode == "flow" else 3
    return per_frame * cfg.new_length if model_layout(cfg.model) == "NSCHW" else per_frame


def model_kwargs_from_config(cfg, num_classes: int = None) -> dict:
    """Keyword arguments of ``cfg.model``'s builder, from the shared configuration."""
    registration = _registration(cfg.model)
    if registration.config_adapter is not None:
        kwargs = registration.config_adapter(cfg)
    else:
        kwargs = {"in_channels": in_channels_for(cfg), "dropout_keep_prob": cfg.dropout_keep_prob}
        kwargs.update((opt.name, cfg[opt.name]) for opt in registration.options)
    kwargs["num_classes"] = cfg.num_classes if num_classes is None else num_classes
    return kwargs


def build_model_from_config(cfg, num_classes: int = None):
    return create_model(cfg.model, **model_kwargs_from_config(cfg, num_classes))
