"""The task interface and the task registry.

A *task* is what the engine needs to know about a kind of model beyond its network: how its data
is read, what it is trained to minimise, how it is scored, what the exported graph takes and how
offline-inference batches are written and scored. Models name their task when they register
(:func:`src.models.registry.register_model`); the engine only ever calls :func:`task_of`, so a new
model of an existing task is a model file plus a config, and a new kind of model is one task class.
"""
from typing import Callable, Dict, List, Sequence, Tuple

from src.models.registry import model_task
from src.utils.runtime import RunContext

__all__ = ["Task", "register_task", "get_task", "task_of", "list_tasks", "summary_line"]


class Task:
    """Base class of the tasks; every method takes the resolved configuration ``cfg``."""

    #: registry name (``register_model(..., task=name)``)
    name: str = ""
    #: the validation metric (higher is better) that picks ``<prefix>_best.ckpt`` during training
    best_metric: str = ""
    #: metrics shown in one-line summaries (checkpoint folders, demo tables)
    summary_keys: Tuple[str, ...] = ()

    def checkpoint_prefix(self, cfg) -> str:
        """File-name prefix of checkpoints and exported graphs."""
        raise NotImplementedError

    def create_dataset(self, cfg, split: str, rank_id: int = 0, group_size: int = 1):
        """The batched ``mindspore.dataset`` of ``split`` ('train' | 'val'): training columns on
        train, whatever :meth:`epoch_evaluator` consumes otherwise."""
        raise NotImplementedError

    def loss_network(self, cfg, net):
        """``net`` + loss as one cell taking every training column of :meth:`create_dataset`."""
        raise NotImplementedError

    def epoch_evaluator(self, cfg, net, out_dir: str) -> Callable[[], Dict]:
        """A callable scoring ``net`` on the validation split (writing its results to ``out_dir``)
        and returning metrics that include :attr:`best_metric`. The split is read here, so a missing
        or empty one is an error before training starts."""
        raise NotImplementedError

    def evaluate_checkpoints(self, cfg, out_dir: str, run: RunContext = RunContext()) -> Dict:
        """eval.py: load the configured checkpoint(s) and score them on the validation split, split
        across the ranks of ``run``: every rank scores its shard, rank 0 writes the results of all
        of them to ``out_dir`` and the other ranks write nothing there."""
        raise NotImplementedError

    def input_shape(self, cfg, batch_size: int) -> Tuple[int, ...]:
        """The input shape of the exported inference graph."""
        raise NotImplementedError

    def write_offline_batches(self, cfg, out_dir: str) -> Dict[str, str]:
        """Write the validation split as ``.bin`` batches (:mod:`src.infer.bins`); returns
        ``{stream: folder}``."""
        raise NotImplementedError

    def score_offline_results(self, cfg, meta: dict) -> Dict:
        """Score an inference program's results described by ``meta`` (from :meth:`write_offline_batches`)."""
        raise NotImplementedError


_TASKS: Dict[str, Task] = {}


def register_task(task_class):
    """Class decorator: register one instance of ``task_class`` under its ``name``."""
    if not task_class.name or task_class.name in _TASKS:
        raise ValueError(f"task name {task_class.name!r} is empty or registered twice")
    _TASKS[task_class.name] = task_class()
    return task_class


def list_tasks() -> List[str]:
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    return _TASKS[name]


def task_of(cfg_or_model) -> Task:
    """The task of a configuration's model, or of a model name."""
    model = cfg_or_model if isinstance(cfg_or_model, str) else cfg_or_model.model
    return get_task(model_task(model))


def summary_line(metrics: Dict, keys: Sequence[str]) -> str:
    """``key value`` pairs of ``metrics`` for ``keys`` in two decimals."""
    return "  ".join(f"{key} {metrics[key]:.2f}" for key in keys)
