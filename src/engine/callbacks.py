"""Training callbacks: progress and timing, precise BN statistics, atomic checkpoints kept N at a time,
per-epoch evaluation with the best epoch kept, MindInsight scalars, and stops at safe points."""
import glob
import json
import os
import shutil
import time
from typing import Callable, Dict, List, Optional

import mindspore as ms
import numpy as np
from mindspore.train import Callback

from src.data.bad_samples import TooManyBadSamples, count_bad_samples
from src.data.dataset import start_data_at_epoch
from src.engine.precise_bn import adapting_batch_norms, recompute_bn_statistics
from src.models.weights import read_checkpoint, save_checkpoint_atomic
from src.utils.io import write_json_atomically
from src.utils.numbers import checked_number
from src.utils.plots import plot_training_curves
from src.utils.progress import progress
from src.utils.signals import StopRequested

__all__ = ["applied_learning_rate", "TrainMonitor", "PreciseBNUpdater", "CheckpointKeeper", "EpochEvaluator",
           "ScalarSummary", "StopAtSafePoints", "checkpoint_name", "restore_training_state", "read_history",
           "best_so_far", "evaluation_schedule", "HISTORY_FILE", "BadSampleGuard", "TooManyBadSamples"]

HISTORY_FILE = "history.json"
BEST_METRIC_KEY = "best_metric"  # stored in <prefix>_best.ckpt beside epoch_num


def checkpoint_name(prefix: str, epoch: int, steps_per_epoch: int) -> str:
    """``<prefix>-<epoch>_<steps>.ckpt``, the model zoo's naming (epochs 1-based)."""
    return f"{prefix}-{epoch}_{steps_per_epoch}.ckpt"


def _loss_value(outputs) -> float:
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    return float(outputs.asnumpy()) if hasattr(outputs, "asnumpy") else float(outputs)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def applied_learning_rate(optimizer) -> float:
    """The learning rate of the optimizer's latest step, read from its own schedule and step counter
    (a resumed run restores the counter, so the value continues the schedule)."""
    rate = optimizer.learning_rate
    values = getattr(rate, "learning_rate", rate).asnumpy().reshape(-1)  # a per-step schedule wraps its values
    step = int(optimizer.global_step.asnumpy().reshape(-1)[0])
    return float(values[min(max(step - 1, 0), len(values) - 1)])


class TrainMonitor(Callback):
    """Progress bar per epoch (``epoch 3/12``); logs loss, the optimizer's lr, step time, clips/s and
    the estimated end of the run; says when the first step compiles the graph; keeps the history
    (``history``: the records of earlier epochs when resuming, then one per epoch)."""

    def __init__(self, logger, steps_per_epoch: int, batch_size: int, optimizer, group_size: int = 1,
                 show_progress: bool = True, num_epochs: int = 0, history: Optional[List[Dict]] = None,
                 graph_mode: bool = False):
        super().__init__()
        self.logger = logger
        self.steps_per_epoch = steps_per_epoch
        self.clips_per_step = batch_size * group_size
        self.optimizer = optimizer
        self.show_progress = show_progress
        self.num_epochs = num_epochs
        self.graph_mode = graph_mode
        self.history: List[Dict] = list(history or [])
        self._bar = None  # progress bar of the current epoch
        self._losses: List[float] = []
        self._run_start = None
        self._epochs_run = 0
        self._first_step = True

    def on_train_begin(self, run_context):
        self._run_start = time.time()

    def on_train_epoch_begin(self, run_context):
        self._losses = []
        self._epoch_start = self._step_start = time.time()
        self._step_times: List[float] = []
        epoch = run_context.original_args().cur_epoch_num
        self._bar = progress(total=self.steps_per_epoch, desc=f"epoch {epoch}/{self.num_epochs}", leave=False,
                             disable=not self.show_progress)

    def on_train_step_begin(self, run_context):
        if self._first_step:
            what = "compiles the network graph" if self.graph_mode else "builds the network's kernels"
            self.logger.info(f"the first step {what}; this can take a minute before the progress bar moves")

    def on_train_step_end(self, run_context):
        args = run_context.original_args()
        loss = _loss_value(args.net_outputs)
        now = time.time()
        self._step_times.append(now - self._step_start)
        if self._first_step:
            self._first_step = False
            self.logger.info(f"first step done in {now - self._step_start:.1f} s")
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
        now = time.time()
        elapsed = now - self._epoch_start
        # The first step of a run includes graph compilation: report the steady state too.
        steady = self._step_times[1:] or self._step_times
        step_time = float(np.mean(steady))
        record = {"epoch": args.cur_epoch_num, "loss": float(np.mean(self._losses)),
                  "lr": applied_learning_rate(self.optimizer), "epoch_seconds": round(elapsed, 2),
                  "step_seconds": round(step_time, 4), "clips_per_second": round(self.clips_per_step / step_time, 2)}
        self.history.append(record)
        self._epochs_run += 1
        # Each epoch so far took (run time / epochs run), evaluation included; the first one's
        # compilation makes the estimate pessimistic at first.
        remaining = (self.num_epochs - record["epoch"]) * (now - self._run_start) / self._epochs_run
        ends = time.strftime("%H:%M", time.localtime(now + remaining))
        eta = f"; about {_duration(remaining)} left (ends ~{ends})" if remaining > 0 else ""
        self.logger.info(f"epoch {record['epoch']}/{self.num_epochs}: loss {record['loss']:.4f}, "
                         f"lr {record['lr']:.3e}, {record['epoch_seconds']:.1f} s, "
                         f"{record['step_seconds'] * 1000:.0f} ms/step, {record['clips_per_second']:.1f} clips/s{eta}")


def evaluation_schedule(interval: int, num_epochs: int) -> Callable[[int], bool]:
    """Whether an epoch (1-based) is evaluated: every ``interval``-th one and always the last."""
    return lambda epoch: epoch % interval == 0 or epoch >= num_epochs


def _every_epoch(epoch: int) -> bool:
    return True


class PreciseBNUpdater(Callback):
    """At the end of each epoch that ``due(epoch)`` accepts (all by default), before checkpoints and
    evaluation, recompute the BatchNorm statistics of ``net`` from ``num_batches`` batches of
    ``dataset`` (see :mod:`src.engine.precise_bn`)."""

    def __init__(self, net, dataset, num_batches: int, logger, due: Optional[Callable[[int], bool]] = None):
        super().__init__()
        self.net = net
        self.dataset = dataset
        self.num_batches = num_batches
        self.logger = logger
        self.due = due or _every_epoch

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        if not self.due(epoch):
            return
        start = time.time()
        start_data_at_epoch(self.dataset, epoch)  # other batches each epoch, the same ones in a resumed run
        used = recompute_bn_statistics(self.net, self.dataset.create_tuple_iterator(num_epochs=1), self.num_batches)
        self.logger.info(f"precise BN: statistics of {len(adapting_batch_norms(self.net))} BatchNorms from "
                         f"{used} batches, {time.time() - start:.1f} s")


class CheckpointKeeper(Callback):
    """Every ``frequency`` epochs, save the whole training cell (network + optimizer state + epoch)
    atomically as ``<prefix>-<epoch>_<steps>.ckpt`` and keep the newest ``keep`` of them;
    ``last_saved`` is the newest one written."""

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
        self.last_saved: Optional[str] = None
        os.makedirs(folder, exist_ok=True)

    def on_train_epoch_end(self, run_context):
        args = run_context.original_args()
        epoch = args.cur_epoch_num
        if epoch % self.frequency and epoch != args.epoch_num:
            return
        path = os.path.join(self.folder, checkpoint_name(self.prefix, epoch, self.steps_per_epoch))
        save_checkpoint_atomic(self.train_cell, path, append_dict={"epoch_num": epoch,
                                                                   "step_num": epoch * self.steps_per_epoch})
        self.last_saved = path
        pattern = os.path.join(self.folder, f"{self.prefix}-*_{self.steps_per_epoch}.ckpt")
        saved = sorted(glob.glob(pattern), key=os.path.getmtime)
        for old in saved[:-self.keep]:
            os.remove(old)
        if self.logger:
            self.logger.info(f"saved {path}")


class EpochEvaluator(Callback):
    """Evaluate after each epoch that ``due(epoch)`` accepts (all by default), keep the best network
    as ``<prefix>_best.ckpt`` (with its metric, so a resumed run only replaces it by a better epoch),
    write the history JSON and the loss/metric curve PNG.

    ``evaluate`` writes its result files (confusion matrix, results JSON, proposals ...) to
    ``latest_dir``; those of the best epoch are copied to ``best_dir``, so the files beside a run
    are those of the epoch it reports. ``subject`` names the run in the curve's title.
    """

    def __init__(self, evaluate: Optional[Callable[[], Dict]], metric_name: str, net, monitor: TrainMonitor,
                 folder: str, prefix: str, logger, best: float = -np.inf, latest_dir: str = "", best_dir: str = "",
                 subject: str = "", due: Optional[Callable[[int], bool]] = None):
        super().__init__()
        self.evaluate = evaluate
        self.due = due or _every_epoch
        self.metric_name = metric_name
        self.net = net
        self.monitor = monitor
        self.folder = folder
        self.prefix = prefix
        self.logger = logger
        self.best = best
        self.latest_dir = latest_dir
        self.best_dir = best_dir
        self.subject = subject

    def _keep_best_results(self) -> None:
        if not (self.latest_dir and self.best_dir and os.path.isdir(self.latest_dir)):
            return
        for name in os.listdir(self.latest_dir):
            source = os.path.join(self.latest_dir, name)
            if os.path.isfile(source):
                shutil.copyfile(source, os.path.join(self.best_dir, name))

    def on_train_epoch_end(self, run_context):
        record = self.monitor.history[-1]
        if self.evaluate is not None and self.due(record["epoch"]):
            metrics = self.evaluate()
            self.net.set_train(True)
            value = float(metrics[self.metric_name])
            record.update(metric=value, metric_name=self.metric_name, eval=metrics)
            if value > self.best:
                self.best = value
                save_checkpoint_atomic(self.net, os.path.join(self.folder, f"{self.prefix}_best.ckpt"),
                                       append_dict={"epoch_num": record["epoch"], BEST_METRIC_KEY: value})
                self._keep_best_results()
            self.logger.info(f"epoch {record['epoch']}: {self.metric_name} {value:.2f} (best {self.best:.2f})")
        write_json_atomically(os.path.join(self.folder, HISTORY_FILE), self.monitor.history, indent=1)
        plot_training_curves(self.monitor.history, os.path.join(self.folder, "training_curve.png"), self.subject)


class ScalarSummary(Callback):
    """Per epoch, loss, lr and the validation metric (when evaluated) as MindInsight scalars in an
    events file of ``folder`` (step = epoch). Place it after :class:`EpochEvaluator`.

    The file is what ``mindspore.SummaryRecord`` writes, but written by this process: SummaryRecord
    forks a writer process that polls its queue without pause (a whole core for the whole run) and can
    deadlock when forked from the multithreaded training process.
    """

    def __init__(self, folder: str, monitor: TrainMonitor):
        super().__init__()
        # only runs that ask for summaries load these
        from mindspore.train.summary._summary_adapter import get_event_file_name, package_summary_event
        from mindspore.train.summary.enums import WriterPluginEnum
        from mindspore.train.summary.writer import SummaryWriter
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, get_event_file_name("events", "_MS", str(int(time.time()))))
        self._writer = SummaryWriter(self.path)
        self._package = package_summary_event
        self._plugin = WriterPluginEnum.SUMMARY.value
        self.monitor = monitor

    def on_train_epoch_end(self, run_context):
        record = self.monitor.history[-1]
        scalars = {"loss": record["loss"], "lr": record["lr"]}
        if "metric" in record:
            scalars[record["metric_name"]] = record["metric"]
        event = self._package([{"_type": "Scalar", "name": tag, "data": np.array(value, np.float32)}
                               for tag, value in scalars.items()], record["epoch"], time.time())
        self._writer.write(self._plugin, event.SerializeToString())
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class BadSampleGuard(Callback):
    """Watches the run's bad-sample list (:mod:`src.data.bad_samples`): logs how many samples were
    skipped once per epoch, and stops the run (:class:`TooManyBadSamples`) when their share of the
    samples read passes ``max_ratio``. The share is judged from ``MIN_SAMPLES`` samples on, so one
    bad video among the first few does not stop a run."""

    MIN_SAMPLES = 100
    CHECK_EVERY = 20  # steps

    def __init__(self, file: str, max_ratio: float, batch_size: int, logger):
        super().__init__()
        self.file = file
        self.max_ratio = max_ratio
        self.batch_size = batch_size
        self.logger = logger
        self._before = count_bad_samples(file)  # lines of earlier runs in this folder
        self._logged = 0
        self._steps = 0

    def _skipped(self) -> int:
        return count_bad_samples(self.file) - self._before

    def _judge(self) -> None:
        skipped, read = self._skipped(), self._steps * self.batch_size
        if read >= self.MIN_SAMPLES and skipped > self.max_ratio * read:
            raise TooManyBadSamples(f"{skipped} of the {read + skipped} samples read were unreadable, more than "
                                    f"max_bad_sample_ratio {self.max_ratio}; they are listed in {self.file}: repair "
                                    f"or remove them (or raise --max_bad_sample_ratio)")

    def on_train_step_end(self, run_context):
        self._steps += 1
        if self._steps % self.CHECK_EVERY == 0:
            self._judge()

    def on_train_epoch_end(self, run_context):
        skipped = self._skipped()
        if skipped > self._logged:
            self.logger.warning(f"{skipped} unreadable samples skipped so far in this run; listed in {self.file}")
            self._logged = skipped
        self._judge()


class StopAtSafePoints(Callback):
    """Raise :class:`src.utils.signals.StopRequested` after a step, or after an epoch's checkpoint
    and evaluation, once ``signals`` (:class:`src.utils.signals.StopSignals`) caught a stop signal.
    Place it last."""

    def __init__(self, signals):
        super().__init__()
        self.signals = signals

    def _check(self, where: str) -> None:
        try:
            self.signals.check()
        except StopRequested as stop:
            stop.where = where
            raise

    def on_train_epoch_begin(self, run_context):
        # MindSpore's runtime can hold its own SIGINT handler (Ctrl-C becomes SIGTERM) from an epoch's end
        # into the next epoch's first step: a Ctrl-C right after a checkpoint was once reported as SIGTERM
        self.signals.install()

    def on_train_step_begin(self, run_context):
        self.signals.install()

    def on_train_step_end(self, run_context):
        self.signals.install()
        args = run_context.original_args()
        step = (args.cur_step_num - 1) % args.batch_num + 1
        self._check(f"during epoch {args.cur_epoch_num}/{args.epoch_num}, after step {step}/{args.batch_num} "
                    f"(this epoch is trained again on resume)")

    def on_train_epoch_end(self, run_context):
        args = run_context.original_args()
        self._check(f"after epoch {args.cur_epoch_num}/{args.epoch_num}")


def restore_training_state(train_cell, checkpoint: str) -> int:
    """Load network + optimizer state into ``train_cell``; returns the epoch to continue after."""
    params = read_checkpoint(checkpoint)
    if "epoch_num" not in params:
        raise ValueError(f"{checkpoint} holds no training state (no epoch_num): it is a network-only "
                         f"checkpoint; use it as --checkpoint_path without --resume")
    epoch = int(params.pop("epoch_num").asnumpy())
    params.pop("step_num", None)
    params.pop("learning_rate", None)  # the schedule is rebuilt from the configuration (it may be longer)
    current = train_cell.parameters_dict().get("learning_rate")
    if current is not None:  # kept as built (listed, so MindSpore does not warn that it was not loaded)
        params["learning_rate"] = current
    not_loaded, _ = ms.load_param_into_net(train_cell, params)
    missing = [name for name in not_loaded
               if name != "learning_rate" and not name.startswith(("accu_grads", "scale_sense"))]
    if missing:
        raise ValueError(f"{checkpoint} does not match this training set-up; missing: {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''} (same model, optimizer and classes?)")
    return epoch


def read_history(folder: str, up_to_epoch: int, logger=None) -> List[Dict]:
    """The records of ``<folder>/history.json`` for epochs 1..``up_to_epoch`` (a resumed run continues
    them; later records belong to epochs it trains again). Missing or unreadable: none, with a warning."""
    path = os.path.join(folder, HISTORY_FILE)
    if not os.path.isfile(path):
        if logger:
            logger.warning(f"no {path}: the history of epochs 1..{up_to_epoch} is not known")
        return []
    try:
        with open(path, "r", encoding="utf-8") as handle:
            records = json.load(handle)
        kept = [record for record in records if int(record["epoch"]) <= up_to_epoch]
        for record in kept:  # a metric of inf would keep any later epoch from becoming the best
            if record.get("metric") is not None:
                checked_number(record["metric"], f"{path}: epoch {record['epoch']}", "metric")
        return kept
    except (ValueError, TypeError, KeyError) as err:
        if logger:
            logger.warning(f"{path} cannot be read ({err}); the history restarts at epoch {up_to_epoch + 1}")
        return []


def best_so_far(history: List[Dict], best_checkpoint: str, up_to_epoch: int, logger=None) -> float:
    """The best validation metric of epochs 1..``up_to_epoch``: from the history, else from the metric
    stored in ``best_checkpoint``; -inf when neither knows it."""
    values = [float(record["metric"]) for record in history if record.get("metric") is not None]
    if os.path.isfile(best_checkpoint):
        stored = read_checkpoint(best_checkpoint, names=("epoch_num", BEST_METRIC_KEY))
        epoch = int(stored["epoch_num"].asnumpy()) if "epoch_num" in stored else None
        if BEST_METRIC_KEY in stored and epoch is not None and epoch <= up_to_epoch:
            stored_best = float(stored[BEST_METRIC_KEY].asnumpy())
            if np.isfinite(stored_best):
                values.append(stored_best)
            elif logger:
                logger.warning(f"{best_checkpoint}: its {BEST_METRIC_KEY} is {stored_best}, not a finite number; "
                               f"it is ignored, so the next evaluated epoch replaces that checkpoint")
        elif epoch is not None and epoch > up_to_epoch and logger:
            logger.warning(f"{best_checkpoint} holds epoch {epoch}, after the resumed epoch {up_to_epoch}: "
                           f"it is replaced once a resumed epoch beats epochs 1..{up_to_epoch}")
    return max(values) if values else -np.inf
