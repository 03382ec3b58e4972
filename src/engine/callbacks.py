"""Training callbacks: progress and timing, precise BN statistics, atomic checkpoints kept N at a time,
per-epoch evaluation."""
import glob
import json
import os
import time
from typing import Callable, Dict, List, Optional

import mindspore as ms
import numpy as np
from mindspore.train import Callback
from tqdm import tqdm

from src.engine.precise_bn import adapting_batch_norms, recompute_bn_statistics
from src.models.weights import save_checkpoint_atomic
from src.utils.plots import plot_training_curves

__all__ = ["applied_learning_rate", "TrainMonitor", "PreciseBNUpdater", "CheckpointKeeper", "EpochEvaluator", "checkpoint_name"]


def checkpoint_name(prefix: str, epoch: int, steps_per_epoch: int) -> str:
    """``<prefix>-<epoch>_<steps>.ckpt``, the model zoo's naming (epochs 1-based)."""
    return f"{prefix}-{epoch}_{steps_per_epoch}.ckpt"


def _loss_value(outputs) -> float:
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    return float(outputs.asnumpy()) if hasattr(outputs, "asnumpy") else float(outputs)


def applied_learning_rate(optimizer) -> float:
    """The learning rate of the optimizer's latest step, read from its own schedule and step counter
    (a resumed run restores the counter, so the value continues the schedule)."""
    rate = optimizer.learning_rate
    values = getattr(rate, "learning_rate", rate).asnumpy().reshape(-1)  # a per-step schedule wraps its values
    step = int(optimizer.global_step.asnumpy().reshape(-1)[0])
    return float(values[min(max(step - 1, 0), len(values) - 1)])


class TrainMonitor(Callback):
    """Progress bar per epoch; logs loss, the optimizer's lr, step time and clips/s; keeps the history."""

    def __init__(self, logger, steps_per_epoch: int, batch_size: int, optimizer, group_size: int = 1,
                 show_progress: bool = True):
        super().__init__()
        self.logger = logger
        self.steps_per_epoch = steps_per_epoch
        self.clips_per_step = batch_size * group_size
        self.optimizer = optimizer
        self.show_progress = show_progress
        self.history: List[Dict] = []
        self._bar: Optional[tqdm] = None
        self._losses: List[float] = []

    def on_train_epoch_begin(self, run_context):
        self._losses = []
        self._epoch_start = self._step_start = time.time()
        self._step_times: List[float] = []
        epoch = run_context.original_args().cur_epoch_num
        self._bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {epoch}", leave=False,
                         disable=not self.show_progress)

    def on_train_step_end(self, run_context):
        args = run_context.original_args()
        loss = _loss_value(args.net_outputs)
        now = time.time()
        self._step_times.append(now - self._step_start)
        self._step_start = now
        if not np.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at epoch {args.cur_epoch_num} step {args.cur_step_num}; "
                                     f"lower --lr or check the input data")
        self._losses.append(loss)
        self._bar.set_postfix(loss=f"{loss:.4f}", lr=f"{applied_learning_rate(self.optimizer):.2e}")
        self._bar.update(1)

    def on_train_epoch_end(self, run_context):
        args = run_context.original_args()
        self._bar.close()
        elapsed = time.time() - self._epoch_start
        # The first step of a run includes graph compilation: report the steady state too.
        steady = self._step_times[1:] or self._step_times
        step_time = float(np.mean(steady))
        record = {"epoch": args.cur_epoch_num, "loss": float(np.mean(self._losses)),
                  "lr": applied_learning_rate(self.optimizer), "epoch_seconds": round(elapsed, 2),
                  "step_seconds": round(step_time, 4), "clips_per_second": round(self.clips_per_step / step_time, 2)}
        self.history.append(record)
        self.logger.info(f"epoch {record['epoch']}: loss {record['loss']:.4f}, lr {record['lr']:.3e}, "
                         f"{record['epoch_seconds']:.1f} s, {record['step_seconds'] * 1000:.0f} ms/step, "
                         f"{record['clips_per_second']:.1f} clips/s")


class PreciseBNUpdater(Callback):
    """At each epoch end, before checkpoints and evaluation, recompute the BatchNorm statistics
    of ``net`` from ``num_batches`` batches of ``dataset`` (see :mod:`src.engine.precise_bn`)."""

    def __init__(self, net, dataset, num_batches: int, logger):
        super().__init__()
        self.net = net
        self.dataset = dataset
        self.num_batches = num_batches
        self.logger = logger

    def on_train_epoch_end(self, run_context):
        start = time.time()
        used = recompute_bn_statistics(self.net, self.dataset.create_tuple_iterator(num_epochs=1), self.num_batches)
        self.logger.info(f"precise BN: statistics of {len(adapting_batch_norms(self.net))} BatchNorms from "
                         f"{used} batches, {time.time() - start:.1f} s")


class CheckpointKeeper(Callback):
    """Every ``frequency`` epochs, save the whole training cell (network + optimizer state + epoch)
    atomically as ``<prefix>-<epoch>_<steps>.ckpt`` and keep the newest ``keep`` of them."""

    def __init__(self, train_cell, folder: str, prefix: str, steps_per_epoch: int, frequency: int = 1,
                 keep: int = 5, logger=None):
        super().__init__()
        self.train_cell = train_cell
        self.folder = folder
        self.prefix = prefix
        self.steps_per_epoch = steps_per_epoch
        self.frequency = max(1, frequency)
        self.keep = max(1, keep)
        self.logger = logger
        os.makedirs(folder, exist_ok=True)

    def on_train_epoch_end(self, run_context):
        args = run_context.original_args()
        epoch = args.cur_epoch_num
        if epoch % self.frequency and epoch != args.epoch_num:
            return
        path = os.path.join(self.folder, checkpoint_name(self.prefix, epoch, self.steps_per_epoch))
        save_checkpoint_atomic(self.train_cell, path, append_dict={"epoch_num": epoch,
                                                                   "step_num": epoch * self.steps_per_epoch})
        pattern = os.path.join(self.folder, f"{self.prefix}-*_{self.steps_per_epoch}.ckpt")
        saved = sorted(glob.glob(pattern), key=os.path.getmtime)
        for old in saved[:-self.keep]:
            os.remove(old)
        if self.logger:
            self.logger.info(f"saved {path}")


class EpochEvaluator(Callback):
    """Evaluate after each epoch, keep the best network as ``<prefix>_best.ckpt``, write the
    history JSON and the loss/metric curve PNG."""

    def __init__(self, evaluate: Optional[Callable[[], Dict]], metric_name: str, net, monitor: TrainMonitor,
                 folder: str, prefix: str, logger):
        super().__init__()
        self.evaluate = evaluate
        self.metric_name = metric_name
        self.net = net
        self.monitor = monitor
        self.folder = folder
        self.prefix = prefix
        self.logger = logger
        self.best = -np.inf

    def on_train_epoch_end(self, run_context):
        record = self.monitor.history[-1]
        if self.evaluate is not None:
            metrics = self.evaluate()
            self.net.set_train(True)
            value = float(metrics[self.metric_name])
            record.update(metric=value, metric_name=self.metric_name, eval=metrics)
            if value > self.best:
                self.best = value
                save_checkpoint_atomic(self.net, os.path.join(self.folder, f"{self.prefix}_best.ckpt"),
                                       append_dict={"epoch_num": record["epoch"]})
            self.logger.info(f"epoch {record['epoch']}: {self.metric_name} {value:.2f} (best {self.best:.2f})")
        with open(os.path.join(self.folder, "history.json"), "w", encoding="utf-8") as handle:
            json.dump(self.monitor.history, handle, indent=1)
        plot_training_curves(self.monitor.history, os.path.join(self.folder, "training_curve.png"))


def restore_training_state(train_cell, checkpoint: str) -> int:
    """Load network + optimizer state into ``train_cell``; returns the epoch to continue after."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"resume checkpoint {checkpoint} does not exist")
    params = ms.load_checkpoint(checkpoint)
    if "epoch_num" not in params:
        raise ValueError(f"{checkpoint} holds no training state (no epoch_num): it is a network-only "
                         f"checkpoint; use it as --checkpoint_path without --resume")
    epoch = int(params.pop("epoch_num").asnumpy())
    params.pop("step_num", None)
    params.pop("learning_rate", None)  # the schedule is rebuilt from the configuration (it may be longer)
    not_loaded, _ = ms.load_param_into_net(train_cell, params)
    missing = [name for name in not_loaded if name != "learning_rate" and not name.startswith(("accu_grads", "scale_sense"))]
    if missing:
        raise ValueError(f"{checkpoint} does not match this training set-up; missing: {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''} (same model, optimizer and classes?)")
    return epoch
