"""Tasks of the zoo (see :mod:`src.tasks.base`): ``recognition`` (I3D, 3D-ResNet, TSN, PP-TSN) and
``localization`` (BMN). ``task_of(cfg)`` is the engine's only way to a task."""
from .base import Task, get_task, list_tasks, register_task, task_of
from . import localization, recognition  # noqa: F401  (registers the tasks)

__all__ = ["Task", "get_task", "list_tasks", "register_task", "task_of"]
