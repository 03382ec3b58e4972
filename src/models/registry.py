"""Model factory: every network is registered by name and built with :func:`create_model`.

A model module registers a builder with ``@register_model("name")``; the builder takes keyword
arguments (``num_classes``, ``in_channels``, ...) and returns an ``nn.Cell``. Entry points never
import model classes directly: they call :func:`build_model_from_config`, which maps the shared
configuration onto the builder's keywords.
"""
from typing import Callable, Dict, List

_MODELS: Dict[str, Callable] = {}
_CONFIG_ADAPTERS: Dict[str, Callable] = {}
_LAYOUTS: Dict[str, str] = {}

# Input layouts: clip models take (B, C, T, H, W); segment models (TSN) take (B, S, C, H, W);
# feature models (BMN) take (B, feat_dim, T).
LAYOUTS = ("NCTHW", "NSCHW", "NCT")


def register_model(name: str, config_adapter: Callable = None, layout: str = "NCTHW"):
    """Register ``builder`` under ``name``.

    ``config_adapter(cfg) -> dict`` turns a :class:`src.config.Config` into the builder's keyword
    arguments; models that need no more than the common keys may omit it. ``layout`` is the
    input layout the data pipeline must produce for this model.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")

    def wrap(builder):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = builder
        _LAYOUTS[name] = layout
        if config_adapter is not None:
            _CONFIG_ADAPTERS[name] = config_adapter
        return builder
    return wrap


def model_layout(name: str) -> str:
    """Input layout of model ``name`` (see :data:`LAYOUTS`)."""
    if name not in _LAYOUTS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _LAYOUTS[name]


def list_models() -> List[str]:
    return sorted(_MODELS)


def create_model(name: str, **kwargs):
    """Build the model registered as ``name`` (like mindcv's ``create_model``)."""
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)


def in_channels_for(cfg) -> int:
    """Input channels of a recognizer for the configured stream (segments stack new_length frames)."""
    per_frame = 2 if cfg.mode == "flow" else 3
    return per_frame * cfg.new_length if model_layout(cfg.model) == "NSCHW" else per_frame


def model_kwargs_from_config(cfg, num_classes: int = None) -> dict:
    """Keyword arguments of ``cfg.model``'s builder, from the shared configuration."""
    adapter = _CONFIG_ADAPTERS.get(cfg.model)
    if adapter is not None:
        kwargs = adapter(cfg)
    else:
        kwargs = {"in_channels": in_channels_for(cfg), "dropout_keep_prob": cfg.dropout_keep_prob}
    kwargs["num_classes"] = cfg.num_classes if num_classes is None else num_classes
    return kwargs


def build_model_from_config(cfg, num_classes: int = None):
    return create_model(cfg.model, **model_kwargs_from_config(cfg, num_classes))
