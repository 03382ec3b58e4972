"""The configuration's keys: typed options, the keys every run shares, the keys models declare.

Where keys are declared
-----------------------
* :data:`OPTIONS` below holds the keys every run shares: run and device, data, training,
  evaluation, export, offline inference, the localization data and task, the cloud.
* A model's own settings live with the model: ``register_model(name, ..., options=[option(...)])``
  (:mod:`src.models.registry`) declares them beside the builder, e.g. ``model_depth`` in
  ``src/models/resnet3d.py``. The registry hands them to :func:`add_model_options`; the table every
  loader reads (:func:`option_table`) is :data:`OPTIONS` followed by every registered model's keys,
  so a model's key is typed, set from YAML or ``--key value`` and listed by ``python config.py
  --help`` like any other, and a new model never edits :mod:`src.config` or this file. Every run
  carries every model's keys at their defaults (one YAML file may set keys of several models, e.g. a
  feature extractor's and BMN's), and a model reads ``cfg.<key>`` like any other key.
* Two models may declare the same key name only with the same setting (type, range and default):
  it is then one key that both read (``model_depth`` of resnet3d, tsn and pptsn), and its help joins
  their texts. A declaration that differs, or a model key named like a shared key, is a
  ``ValueError`` when the model is registered, naming the key and both declarations.

This module imports no other module of ``src``: the models import it to declare their keys, and
:mod:`src.config`, which reads configurations, imports the models.

Declaring a key
---------------
``option(name, default, parse, help)``; ``parse`` turns a YAML or command-line value into the
typed value or raises :class:`ConfigError`. The parsers here say in their errors what they accept:
:func:`integer`, :func:`number` (a finite float), :func:`parse_bool`, :func:`choice`,
:func:`list_of`, :func:`optional`, and the ranges :func:`in_range`, :func:`positive`,
:func:`non_negative`, :func:`count` (>= 1) and :func:`fraction` ([0, 1]). ``float``, ``int`` and
``bool`` given as ``parse`` mean :func:`number`, :func:`integer` and :func:`parse_bool`.

Checks
------
Booleans accept true/false/1/0/yes/no in any case, so ``--distributed False`` really is False.
Integers are never truncated (2.7 is an error), numbers are finite (``nan``, ``inf`` and ``-inf``
are errors everywhere) and ranges are checked.
"""
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import yaml

from src.utils.numbers import shown_value

__all__ = ["Config", "ConfigError", "Option", "OPTIONS", "option", "option_table", "add_model_options",
           "parse_bool", "integer", "number", "choice", "list_of", "optional", "in_range", "positive",
           "non_negative", "count", "fraction", "output_classes", "appearance_modality", "stream_config"]


class ConfigError(ValueError):
    """A configuration file or command-line value that cannot be used."""


def accepts(parse: Callable) -> str:
    """What ``parse`` accepts, in words (its ``accepts`` attribute, else its name)."""
    return getattr(parse, "accepts", None) or {"str": "a string"}.get(parse.__name__, parse.__name__)


def parse_bool(value) -> bool:
    """Read a boolean the way people write one: true/false, True/False, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "on"):
        return True
    if text in ("false", "0", "no", "n", "off"):
        return False
    raise ConfigError(f"expected a boolean (true/false/1/0), got {shown_value(value)}")


parse_bool.accepts = "a boolean (true/false/1/0)"


def integer(value) -> int:
    """An integer as written: 3, "3" or 3.0; 2.7, "2.7" and booleans are errors (never truncated)."""
    if isinstance(value, bool):
        raise ConfigError(f"expected an integer, got {shown_value(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"expected an integer, got {shown_value(value)}")
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"expected an integer, got {shown_value(value)}") from None


integer.__name__ = "int"
integer.accepts = "an integer"


def number(value) -> float:
    """A finite float: 0.1, "1e-3", 2; ``nan``, ``inf``, ``-inf`` and booleans are errors."""
    try:
        if isinstance(value, bool):
            raise ValueError
        result = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    except (TypeError, ValueError):
        result = math.nan
    if not math.isfinite(result):
        raise ConfigError(f"expected a finite number, got {shown_value(value)}")
    return result


number.__name__ = "float"
number.accepts = "a finite number"


def list_of(item_type: Callable) -> Callable:
    """A list (YAML list, or "a,b,c" / "[a, b]" on the command line) of ``item_type`` values."""
    item_type = _PARSERS.get(item_type, item_type)

    def parse(value):
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            text = str(value).strip().strip("[]()")
            items = [part.strip().strip("'\"") for part in text.split(",") if part.strip()]
        return [item_type(item) for item in items]
    parse.__name__ = f"list[{item_type.__name__}]"
    parse.accepts = f"a list whose items are each {accepts(item_type)}"
    return parse


def optional(item_type: Callable) -> Callable:
    """``item_type``, or None written as empty, none or null."""
    item_type = _PARSERS.get(item_type, item_type)

    def parse(value):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return item_type(value)
    parse.__name__ = f"optional[{item_type.__name__}]"
    parse.accepts = f"{accepts(item_type)}, or empty"
    return parse


def choice(*choices: str, renamed: Optional[Dict[str, str]] = None) -> Callable:
    """One of ``choices``; ``renamed`` maps a value's former name to its name now."""
    def parse(value):
        text = (renamed or {}).get(str(value), str(value))
        if text not in choices:
            raise ConfigError(f"expected one of {list(choices)}, got {shown_value(value)}")
        return text
    parse.__name__ = "|".join(choices)
    parse.accepts = f"one of {list(choices)}"
    return parse


def in_range(parse: Callable, low=None, high=None, low_open=False) -> Callable:
    """``parse`` followed by a check that the value (each item of a list) lies in [low, high]
    (``low_open``: above ``low``). A value ``parse`` refuses is reported with the range, e.g.
    "expected a finite number > 0, got 'nan'"; one outside it as "must be > 0, got -1.0"."""
    parse = _PARSERS.get(parse, parse)
    bounds = " and ".join(text for text, bound in ((f"{'>' if low_open else '>='} {low}", low), (f"<= {high}", high))
                          if bound is not None)
    accepted = f"{accepts(parse)} {bounds}"

    def check(value):
        try:
            parsed = parse(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected {accepted}, got {shown_value(value)}") from None
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if item is None:
                continue
            if (low is not None and (item <= low if low_open else item < low)) or (high is not None and item > high):
                raise ConfigError(f"must be {bounds}, got {shown_value(item)}")
        return parsed
    check.__name__ = parse.__name__
    check.accepts = accepted
    return check


def positive(parse: Callable) -> Callable:
    return in_range(parse, 0, low_open=True)


def non_negative(parse: Callable) -> Callable:
    return in_range(parse, 0)


def count(parse: Callable) -> Callable:
    """Sizes and counts that cannot be zero."""
    return in_range(parse, 1)


def fraction(parse: Callable, low_open: bool = False) -> Callable:
    return in_range(parse, 0, 1, low_open=low_open)


# Python's own types as parsers would take nan for a float and "False" for True.
_PARSERS: Dict[Any, Callable] = {float: number, int: integer, bool: parse_bool}


@dataclass(frozen=True)
class Option:
    """One configuration key: its name, default, parser (value -> typed value) and help text."""
    name: str
    default: Any
    parse: Callable
    help: str

    @property
    def accepts(self) -> str:
        return accepts(self.parse)

    def setting(self) -> str:
        """Type, range and default in words; two declarations of a key must agree on it."""
        return f"{self.parse.__name__}: {self.accepts} (default {self.default!r})"


def option(name: str, default, parse: Callable, help_text: str) -> Option:
    """Declare a key; ``default`` must be a value ``parse`` accepts."""
    if not name.isidentifier():
        raise ValueError(f"option name {name!r} is not an identifier (it is also --{name} and cfg.{name})")
    parse = _PARSERS.get(parse, parse)
    try:
        parse(default)
    except (TypeError, ValueError) as err:
        raise ValueError(f"option {name!r}: its default {default!r} is not accepted: {err}") from err
    return Option(name, default, parse, help_text)


INTS, FLOATS, STRS = list_of(integer), list_of(number), list_of(str)
OPT_STR, OPT_INT = optional(str), optional(integer)

# The keys every run shares: run, data, training, evaluation, export and runtime. A model's own keys
# are declared with the model (register_model(..., options=[...])). Sections only group them for the reader.
OPTIONS: List[Option] = [
    # --- run / device -------------------------------------------------------------------------
    option("model", "i3d", str, "registered model name (src/models): i3d, resnet3d, tsn, pptsn, bmn"),
    option("mode", "rgb", choice("rgb", "rgbdiff", "flow"),
           "input stream of a recognizer: RGB frames, differences of consecutive RGB frames (TSN's RGB "
           "difference; new_length + 1 frames per segment give new_length differences) or optical flow"),
    option("dataset", "ucf101", str, "dataset name: ucf101, hmdb51, kinetics400, demo, activitynet, tabletennis"),
    option("seed", 1, in_range(integer, 0, 2 ** 32 - 1), "seed for mindspore, dataset, numpy and random"),
    option("context", "gr", choice("gr", "py"), "gr = graph mode, py = PyNative"),
    option("device_target", "auto", choice("auto", "Ascend", "GPU", "CPU"),
           "device kind; auto = Ascend, else GPU, else CPU: the first this MindSpore installation can use"),
    option("device_id", 0, non_negative(integer),
           "device index (ignored under a distributed launcher, which sets DEVICE_ID)"),
    option("distributed", False, parse_bool, "data-parallel training over mindspore.communication"),
    option("num_workers", 2, non_negative(integer),
           "python worker processes of the data pipeline (1 = no multiprocessing)"),
    option("amp_level", "O0", choice("O0", "O1", "O2", "O3"), "automatic mixed precision level"),
    option("sink_mode", False, parse_bool, "data sink mode of Model.train"),
    option("save_dir", "./output", str, "folder for checkpoints, logs, curves and results (one training at a "
           "time: a second one into the same folder is refused while the first runs)"),
    option("summary_dir", "", str, "also write loss, lr and validation metrics per epoch as MindInsight scalars "
           "(mindspore.SummaryRecord's events files) into this folder (empty = off)"),
    # --- data ---------------------------------------------------------------------------------
    option("video_path", "", str, "root of frame folders (or of video files when data_source=video)"),
    option("video_path_joint_flow", "", str, "flow frame root of joint evaluation (video_path is the RGB root)"),
    option("annotation_path_joint_flow", "", str, "flow annotation of joint evaluation (default: annotation_path)"),
    option("annotation_path", "", str, "Kinetics-style annotation JSON, or a list file"),
    option("val_annotation_path", "", str, "separate list file of the validation split (list sources only)"),
    option("data_source", "frames", choice("frames", "list", "video"),
           "frames = frame folders + annotation JSON; list = 'path num_frames label' list files; "
           "video = decode video files on the fly"),
    option("rgb_template", "image_{:05d}.jpg", str, "file name of RGB frame i (mmaction2 rawframes: img_{:05d}.jpg)"),
    option("flow_template", "flow_{}_{:05d}.jpg", str,
           "file name of flow frame i, {} = x or y (mmaction2: {}_{:05d}.jpg)"),
    option("frame_start_index", 1, in_range(integer, 0, 1),
           "number in the file name of a folder's first frame (0 or 1)"),
    option("num_classes", 101, count(integer), "classes of the checkpoint / network"),
    option("spatial_size", 224, count(integer), "crop size fed to the network"),
    option("resize_short", 256, non_negative(integer), "short side frames are resized to before cropping (0 = keep)"),
    option("train_sample_duration", 64, count(integer), "frames per training clip"),
    option("test_sample_duration", 64, count(integer), "frames per test clip"),
    option("frame_interval", 1, count(integer), "temporal stride between the frames of a clip (TSN: of a snippet)"),
    option("num_val_samples", 1, count(integer), "clips sampled uniformly per video at test time"),
    option("num_segments", 3, count(integer), "TSN segments per training sample"),
    option("test_num_segments", 0, non_negative(integer), "TSN segments per test view (e.g. 25; 0 = num_segments)"),
    option("new_length", 1, count(integer), "frames per TSN segment (5 stacked flow pairs for flow TSN)"),
    option("new_length_joint_flow", 0, non_negative(integer),
           "frames per TSN segment of the flow stream in joint evaluation "
           "(0 = new_length)"),
    option("train_crop", "random", choice("random", "multiscale", "center"), "training spatial crop"),
    option("test_crop", "center", choice("center", "three", "ten"), "test-time crops per clip"),
    option("flip", True, parse_bool, "random horizontal flip when training"),
    option("flip_label_pairs", [], STRS, "classes a horizontal flip turns into each other, as 'A:B' "
           "(MoveLeft:MoveRight, 'Pushing something from left to right:...'); a mirrored clip gets the other label"),
    option("normalize", "minus_one_to_one", choice("minus_one_to_one", "meanstd", renamed={"i3d": "minus_one_to_one"}),
           "minus_one_to_one = x/127.5 - 1 (I3D's; formerly 'i3d'); meanstd = (x/255 - mean) / std"),
    option("mean", [0.485, 0.456, 0.406], FLOATS, "per-channel mean for normalize=meanstd (flow: one value)"),
    option("std", [0.229, 0.224, 0.225], positive(FLOATS), "per-channel std for normalize=meanstd"),
    # --- model: what every recognizer reads (a model's own keys live in its file) -------------
    option("dropout_keep_prob", 0.5, fraction(number, low_open=True),
           "keep probability of the dropout before the classifier"),
    # --- checkpoints / fine-tuning ------------------------------------------------------------
    option("checkpoint_path", "", str, "checkpoint to start from (pretrained, fine-tune source or resume)"),
    option("finetune_num_classes", 0, non_negative(integer), "replace the classifier with this many classes (0 = no)"),
    option("finetune_prefixes", [], STRS, "train only parameters whose names start with one of these"),
    option("resume", False, parse_bool, "resume epoch, optimizer state, history and best metric from "
           "checkpoint_path (an epoch checkpoint of save_dir/checkpoints)"),
    option("checkpoint_frequency", 1, count(integer), "save a checkpoint every N epochs"),
    option("checkpoints_num_keep", 5, count(integer), "epoch checkpoints kept (the best one is kept apart)"),
    # --- optimisation -------------------------------------------------------------------------
    option("optimizer", "adam", choice("adam", "sgd"), "optimizer"),
    option("lr", 0.001, positive(number), "base learning rate"),
    option("lr_scheduler", "step", choice("step", "cosine"), "learning-rate schedule"),
    option("lr_de_rate", 0.1, positive(number), "step decay factor"),
    option("lr_de_epochs", [], non_negative(INTS), "epochs after which the step schedule multiplies lr by lr_de_rate"),
    option("warmup_epochs", 0, non_negative(integer), "linear warm-up epochs"),
    option("warmup_start_factor", 0.0, fraction(number),
           "share of lr the warm-up ramp starts from (0: its first step gets lr / warm-up steps; PP-TSN: 0.5)"),
    option("momentum", 0.9, fraction(number), "SGD momentum"),
    option("nesterov", False, parse_bool, "SGD with Nesterov momentum"),
    option("weight_decay", 0.0, non_negative(number), "weight decay"),
    option("clip_grad_norm", 0.0, non_negative(number),
           "clip the gradients to this global L2 norm before each update "
           "(0 = off; TSN's Caffe solvers: 40 RGB, 20 flow)"),
    option("batch_size", 8, count(integer), "batch size per device"),
    option("label_smoothing", 0.0, fraction(number),
           "recognizers: train towards (1 - e) * one-hot + e / classes instead of the one-hot label"),
    option("mixup_alpha", 0.0, non_negative(number),
           "recognizers: mixup of training batches with a Beta(alpha, alpha) weight (0 = off; PP-TSN: 0.2)"),
    option("start_epoch", 0, non_negative(integer), "first epoch (set from the checkpoint when resuming)"),
    option("num_epochs", 40, count(integer), "training epochs"),
    option("no_eval", False, parse_bool, "skip evaluation after each epoch"),
    option("eval_interval", 1, count(integer),
           "evaluate (and recompute precise BN statistics) every this many epochs; the last epoch always"),
    option("precise_bn_batches", 0, non_negative(integer),
           "recompute BatchNorm statistics from this many training batches "
           "before each epoch's checkpoint and evaluation (PreciseBN; 0 = keep the moving averages)"),
    option("max_steps_per_epoch", 0, non_negative(integer), "cap on steps per epoch (0 = whole epoch); for smoke runs"),
    option("max_bad_sample_ratio", 0.05, fraction(number),
           "stop training when more than this share of the samples read were unreadable (they are skipped and "
           "listed in the run folder's bad_samples.tsv)"),
    # --- evaluation ---------------------------------------------------------------------------
    option("test_mode", "", choice("", "rgb", "rgbdiff", "flow", "joint"), "eval stream; empty = same as mode"),
    option("rgb_path", "", str, "RGB checkpoint (joint evaluation), or a folder of checkpoints"),
    option("flow_path", "", str, "flow checkpoint for joint evaluation"),
    option("joint_fusion", "logits_sum", choice("logits_sum", "softmax_avg"),
           "joint rule: sum of the two streams' logits, or weighted average of softmax scores"),
    option("rgb_weight", 0.5, fraction(number), "RGB weight of softmax_avg fusion (flow gets 1 - rgb_weight)"),
    option("eval_batch_size", 1, count(integer), "videos per evaluation batch"),
    option("allow_failed_checkpoints", False, parse_bool, "eval.py over a folder of checkpoints: exit 0 with the "
           "others' results when some cannot be evaluated (by default such a run exits non-zero)"),
    option("fold_bn", True, parse_bool, "fold BatchNorm into the preceding convolutions of networks loaded for "
           "inference (eval, export, prediction): same outputs, one operator fewer per BatchNorm"),
    option("backend", "auto", choice("auto", "mindspore", "onnxruntime"),
           "what runs inference (eval, prediction, features, proposals): MindSpore, or the network exported to "
           "ONNX and run by ONNX Runtime; auto = ONNX Runtime on a CPU when installed (same answers, faster)"),
    option("onnx_path", "", str, "an exported ONNX file that backend onnxruntime runs instead of exporting the "
           "checkpoint (its input shape must be the data's)"),
    option("num_threads", 0, non_negative(integer),
           "CPU threads of MindSpore's kernels and of ONNX Runtime (0 = the libraries' default: every core)"),
    # --- export -------------------------------------------------------------------------------
    option("file_name", "", str, "exported file name (default: <model>_<dataset>_<mode>)"),
    option("file_format", "MINDIR", choice("MINDIR", "AIR", "ONNX"), "export format"),
    # --- offline inference (310) --------------------------------------------------------------
    option("pre_result_path", "", str, "preprocess.py folder (00_data/*.bin, meta.json, labels.npy; joint: rgb/ "
           "and flow/ inside); default ./preprocess_Result/<dataset>_<stream>"),
    option("result_path", "", str, "inference output folder holding result_Files/ (postprocess.py, one stream)"),
    option("rgb_result_path", "", str, "RGB inference output folder of joint postprocessing"),
    option("flow_result_path", "", str, "flow inference output folder of joint postprocessing"),
    option("postprocess_path", "", str, "folder of postprocess.py's results.json (default: result_path; "
           "joint: <dataset>_joint beside rgb_result_path)"),
    # --- localization: BMN features, map geometry, loss and proposals (data and task read them) -
    option("feature_path", "", str, "BMN feature folder (csv/npy per video, or table-tennis pickles)"),
    option("video_info_path", "", str, "BMN video_info_new.csv (BSN layout)"),
    option("tscale", 100, count(integer), "BMN temporal scale"),
    option("feat_dim", 400, count(integer), "BMN input feature dimension"),
    option("bm_layout", "duration_start", choice("duration_start", "start_end"),
           "BMN map convention: duration_start (JJBOY 2019, mmaction2, PaddleVideo) or start_end (JJBOY June 2020)"),
    option("bmn_loss_eps", 1e-5, positive(number),
           "epsilon inside the logs of the BMN loss (JJBOY 1e-6, mmaction2 1e-5)"),
    option("duration_rule", "feature_frame", choice("feature_frame", "interval_floor"),
           "seconds of a proposal: feature_frame / duration_frame * duration_second, or interval_floor = "
           "(duration_frame // feature_interval * feature_interval) / duration_frame * duration_second "
           "(JJBOY, mmaction2)"),
    option("feature_interval", 16, count(integer), "frames per feature snippet (ActivityNet features: 16)"),
    option("eval_split", "val", choice("val", "test"), "BMN: split eval.py scores (test videos without "
           "annotations get proposals only)"),
    option("bmn_candidates", "boundary_peaks", choice("boundary_peaks", "every_cell"),
           "BMN proposals before Soft-NMS: the map cells whose start and end probabilities are local peaks or "
           "above half their maximum (JJBOY 45d0514, mmaction2, PaddleVideo), or every cell (JJBOY a92c1d79)"),
    option("soft_nms_alpha", 0.4, positive(number), "Soft-NMS Gaussian alpha"),
    option("soft_nms_low_threshold", 0.5, fraction(number), "Soft-NMS t1"),
    option("soft_nms_high_threshold", 0.9, fraction(number), "Soft-NMS t2"),
    option("max_proposals", 100, count(integer), "proposals kept per video"),
    option("window_frames", 100, count(integer), "long-video inference window (frames)"),
    option("train_window_frames", 200, count(integer), "long-video training window (frames)"),
    # --- cloud (openI / ModelArts) ------------------------------------------------------------
    option("openI", False, parse_bool, "run as an openI / ModelArts job (copy data in, results out)"),
    option("data_url", "", str, "job input (OBS or local path)"),
    option("train_url", "", str, "job output for training"),
    option("ckpt_url", "", str, "job checkpoint input for evaluation"),
    option("result_url", "", str, "job output for evaluation"),
    option("cache_dir", "/cache", str, "local cache of a cloud job"),
    # --- config file --------------------------------------------------------------------------
    option("config_path", "", str, "YAML configuration file"),
]

_SHARED: Dict[str, Option] = {opt.name: opt for opt in OPTIONS}

# Keys declared by models (add_model_options): the first declaration, and who declared it with which help.
_MODEL_OPTIONS: Dict[str, Option] = {}
_MODEL_OPTION_USERS: Dict[str, List[tuple]] = {}
_TABLE: Optional[Dict[str, Option]] = None


def add_model_options(model: str, options: Sequence[Option]) -> None:
    """Declare the keys of ``model`` (called by ``register_model``; see the module docstring for the
    rule when two models declare one key). Checks every key before adding any, so a refused
    declaration leaves the table as it was."""
    global _TABLE
    declared: Dict[str, Option] = {}
    for opt in options:
        if not isinstance(opt, Option):
            raise TypeError(f"model {model!r}: options are made with src.options.option(...), got {opt!r}")
        if opt.name in _SHARED:
            raise ValueError(f"model {model!r} declares option {opt.name!r}, a key every run shares "
                             f"(src/options.py OPTIONS); a model reads cfg.{opt.name} without declaring it")
        if opt.name in declared:
            raise ValueError(f"model {model!r} declares option {opt.name!r} twice")
        known = _MODEL_OPTIONS.get(opt.name)
        if known is not None and known.setting() != opt.setting():
            users = ", ".join(user for user, _ in _MODEL_OPTION_USERS[opt.name])
            raise ValueError(f"model {model!r} declares option {opt.name!r} as {opt.setting()}, but {users} "
                             f"declared it as {known.setting()}; models share a key only with the same type, "
                             f"range and default (give the option another name)")
        declared[opt.name] = opt
    for name, opt in declared.items():
        _MODEL_OPTIONS.setdefault(name, opt)
        _MODEL_OPTION_USERS.setdefault(name, []).append((model, opt.help))
    _TABLE = None


def _model_option(name: str) -> Option:
    """The model key ``name`` as the table shows it: its help prefixed by the models declaring it."""
    by_help: Dict[str, List[str]] = {}
    for model, help_text in _MODEL_OPTION_USERS[name]:
        by_help.setdefault(help_text, []).append(model)
    help_text = "; ".join(f"{', '.join(models)}: {text}" for text, models in by_help.items())
    opt = _MODEL_OPTIONS[name]
    return Option(opt.name, opt.default, opt.parse, help_text)


class Config(dict):
    """A resolved configuration: a dict whose keys are also attributes (``cfg.lr``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(f"config has no key {name!r}") from err

    def __setattr__(self, name, value):
        self[name] = value

    def copy(self) -> "Config":
        return Config(dict(self))

    def dump(self) -> str:
        return yaml.safe_dump(dict(self), sort_keys=True, allow_unicode=True)


def output_classes(cfg: Config) -> int:
    """Classes the trained network predicts: the fine-tuning target when set."""
    return cfg.finetune_num_classes or cfg.num_classes


def appearance_modality(cfg: Config) -> str:
    """What the RGB stream of a joint evaluation reads: RGB differences when ``cfg.mode`` is 'rgbdiff',
    else RGB frames. Both come from the RGB frame folders and feed networks of the same input shape."""
    return "rgbdiff" if cfg.mode == "rgbdiff" else "rgb"


def stream_config(cfg: Config, modality: str) -> Config:
    """``cfg`` for one stream of joint evaluation: ``mode`` = ``modality``; the flow stream takes
    ``new_length_joint_flow`` frames per segment when set (TSN: one RGB frame, five flow pairs)."""
    stream = cfg.copy()
    stream.mode = modality
    if modality == "flow" and cfg.new_length_joint_flow:
        stream.new_length = cfg.new_length_joint_flow
    return stream


def option_table() -> Dict[str, Option]:
    """Name -> option of :data:`OPTIONS` and of every model registered so far."""
    global _TABLE
    if _TABLE is None:
        table = dict(_SHARED)
        table.update((name, _model_option(name)) for name in _MODEL_OPTIONS)
        _TABLE = table
    return _TABLE
