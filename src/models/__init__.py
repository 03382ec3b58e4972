"""Networks of the zoo, behind one factory (``create_model``)."""
from .registry import build_model_from_config, create_model, list_models, register_model
from . import i3d  # noqa: F401
from . import resnet3d, tsn  # noqa: F401
from . import bmn  # noqa: F401

__all__ = ["build_model_from_config", "create_model", "list_models", "register_model"]
