"""One typed configuration for every entry point.

A run's configuration is resolved in three layers, later ones winning:

1. the defaults declared in :data:`OPTIONS` below (every key the project knows, with its type);
2. a YAML file chosen with ``--config_path`` (a flat mapping; ``_base_`` names another YAML file,
   relative to this one, whose keys are loaded first);
3. ``--key value`` pairs on the command line.

A key that is not declared in :data:`OPTIONS` is an error naming the key and the file it came
from, so a typo never silently falls back to a default. Booleans accept true/false/1/0/yes/no in
any case, so ``--distributed False`` really is False.
"""
import argparse
import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import yaml

__all__ = ["Config", "ConfigError", "OPTIONS", "parse_bool", "load_config", "get_config", "save_config"]


class ConfigError(ValueError):
    """A configuration file or command-line value that cannot be used."""


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
    raise ConfigError(f"expected a boolean (true/false/1/0), got {value!r}")


def _list_of(item_type: Callable) -> Callable:
    def parse(value):
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            text = str(value).strip().strip("[]()")
            items = [part.strip().strip("'\"") for part in text.split(",") if part.strip()]
        return [item_type(item) for item in items]
    parse.__name__ = f"list[{item_type.__name__}]"
    return parse


def _optional(item_type: Callable) -> Callable:
    def parse(value):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return item_type(value)
    parse.__name__ = f"optional[{item_type.__name__}]"
    return parse


def _choice(*choices: str, renamed: Optional[Dict[str, str]] = None) -> Callable:
    """One of ``choices``; ``renamed`` maps a value's former name to its name now."""
    def parse(value):
        text = (renamed or {}).get(str(value), str(value))
        if text not in choices:
            raise ConfigError(f"expected one of {list(choices)}, got {value!r}")
        return text
    parse.__name__ = "|".join(choices)
    return parse


def _integer(value) -> int:
    """An integer as written: 3, "3" or 3.0; 2.7, "2.7" and booleans are errors (never truncated)."""
    if isinstance(value, bool):
        raise ConfigError(f"expected an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"expected an integer, got {value!r}")
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"expected an integer, got {value!r}") from None


_integer.__name__ = "int"


def _in_range(parse: Callable, low=None, high=None, low_open=False) -> Callable:
    """``parse`` followed by a check that the value (each item of a list) lies in [low, high]
    (``low_open``: above ``low``)."""
    bounds = " and ".join(text for text, bound in ((f"{'>' if low_open else '>='} {low}", low), (f"<= {high}", high))
                          if bound is not None)

    def check(value):
        parsed = parse(value)
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if item is None:
                continue
            if (low is not None and (item <= low if low_open else item < low)) or (high is not None and item > high):
                raise ConfigError(f"must be {bounds}, got {item!r}")
        return parsed
    check.__name__ = parse.__name__
    return check


def _positive(parse: Callable) -> Callable:
    return _in_range(parse, 0, low_open=True)


def _non_negative(parse: Callable) -> Callable:
    return _in_range(parse, 0)


def _count(parse: Callable) -> Callable:
    """Sizes and counts that cannot be zero."""
    return _in_range(parse, 1)


def _fraction(parse: Callable, low_open: bool = False) -> Callable:
    return _in_range(parse, 0, 1, low_open=low_open)


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    parse: Callable
    help: str


def _opt(name, default, parse, help_text):
    return Option(name, default, parse, help_text)


INTS, FLOATS, STRS = _list_of(_integer), _list_of(float), _list_of(str)
OPT_STR, OPT_INT = _optional(str), _optional(_integer)

# Every key any entry point reads. Sections only group them for the reader.
OPTIONS: List[Option] = [
    # --- run / device -------------------------------------------------------------------------
    _opt("model", "i3d", str, "registered model name (src/models): i3d, resnet3d, tsn, pptsn, bmn"),
    _opt("mode", "rgb", _choice("rgb", "rgbdiff", "flow"),
         "input stream of a recognizer: RGB frames, differences of consecutive RGB frames (TSN's RGB "
         "difference; new_length + 1 frames per segment give new_length differences) or optical flow"),
    _opt("dataset", "ucf101", str, "dataset name: ucf101, hmdb51, kinetics400, demo, activitynet, tabletennis"),
    _opt("seed", 1, _integer, "seed for mindspore, dataset, numpy and random"),
    _opt("context", "gr", _choice("gr", "py"), "gr = graph mode, py = PyNative"),
    _opt("device_target", "auto", _choice("auto", "Ascend", "GPU", "CPU"),
         "device kind; auto = Ascend, else GPU, else CPU: the first this MindSpore installation can use"),
    _opt("device_id", 0, _non_negative(_integer),
         "device index (ignored under a distributed launcher, which sets DEVICE_ID)"),
    _opt("distributed", False, parse_bool, "data-parallel training over mindspore.communication"),
    _opt("num_workers", 2, _non_negative(_integer),
         "python worker processes of the data pipeline (1 = no multiprocessing)"),
    _opt("amp_level", "O0", _choice("O0", "O1", "O2", "O3"), "automatic mixed precision level"),
    _opt("sink_mode", False, parse_bool, "data sink mode of Model.train"),
    _opt("save_dir", "./output", str, "folder for checkpoints, logs, curves and results (one training at a "
         "time: a second one into the same folder is refused while the first runs)"),
    _opt("summary_dir", "", str, "also write loss, lr and validation metrics per epoch as MindInsight scalars "
         "(mindspore.SummaryRecord's events files) into this folder (empty = off)"),
    # --- data ---------------------------------------------------------------------------------
    _opt("video_path", "", str, "root of frame folders (or of video files when data_source=video)"),
    _opt("video_path_joint_flow", "", str, "flow frame root of joint evaluation (video_path is the RGB root)"),
    _opt("annotation_path_joint_flow", "", str, "flow annotation of joint evaluation (default: annotation_path)"),
    _opt("annotation_path", "", str, "Kinetics-style annotation JSON, or a list file"),
    _opt("val_annotation_path", "", str, "separate list file of the validation split (list sources only)"),
    _opt("data_source", "frames", _choice("frames", "list", "video"),
         "frames = frame folders + annotation JSON; list = 'path num_frames label' list files; "
         "video = decode video files on the fly"),
    _opt("rgb_template", "image_{:05d}.jpg", str, "file name of RGB frame i (mmaction2 rawframes: img_{:05d}.jpg)"),
    _opt("flow_template", "flow_{}_{:05d}.jpg", str, "file name of flow frame i, {} = x or y (mmaction2: {}_{:05d}.jpg)"),
    _opt("frame_start_index", 1, _in_range(_integer, 0, 1), "number in the file name of a folder's first frame (0 or 1)"),
    _opt("num_classes", 101, _count(_integer), "classes of the checkpoint / network"),
    _opt("spatial_size", 224, _count(_integer), "crop size fed to the network"),
    _opt("resize_short", 256, _non_negative(_integer), "short side frames are resized to before cropping (0 = keep)"),
    _opt("train_sample_duration", 64, _count(_integer), "frames per training clip"),
    _opt("test_sample_duration", 64, _count(_integer), "frames per test clip"),
    _opt("frame_interval", 1, _count(_integer), "temporal stride between the frames of a clip (TSN: of a snippet)"),
    _opt("num_val_samples", 1, _count(_integer), "clips sampled uniformly per video at test time"),
    _opt("num_segments", 3, _count(_integer), "TSN segments per training sample"),
    _opt("test_num_segments", 0, _non_negative(_integer), "TSN segments per test view (e.g. 25; 0 = num_segments)"),
    _opt("new_length", 1, _count(_integer), "frames per TSN segment (5 stacked flow pairs for flow TSN)"),
    _opt("new_length_joint_flow", 0, _non_negative(_integer),
         "frames per TSN segment of the flow stream in joint evaluation "
         "(0 = new_length)"),
    _opt("train_crop", "random", _choice("random", "multiscale", "center"), "training spatial crop"),
    _opt("test_crop", "center", _choice("center", "three", "ten"), "test-time crops per clip"),
    _opt("flip", True, parse_bool, "random horizontal flip when training"),
    _opt("flip_label_pairs", [], STRS, "classes a horizontal flip turns into each other, as 'A:B' "
         "(MoveLeft:MoveRight, 'Pushing something from left to right:...'); a mirrored clip gets the other label"),
    _opt("normalize", "minus_one_to_one", _choice("minus_one_to_one", "meanstd", renamed={"i3d": "minus_one_to_one"}),
         "minus_one_to_one = x/127.5 - 1 (I3D's; formerly 'i3d'); meanstd = (x/255 - mean) / std"),
    _opt("mean", [0.485, 0.456, 0.406], FLOATS, "per-channel mean for normalize=meanstd (flow: one value)"),
    _opt("std", [0.229, 0.224, 0.225], _positive(FLOATS), "per-channel std for normalize=meanstd"),
    # --- model --------------------------------------------------------------------------------
    _opt("dropout_keep_prob", 0.5, _fraction(float, low_open=True),
         "keep probability of the dropout before the classifier"),
    _opt("model_depth", 50, _count(_integer), "ResNet depth (3D-ResNet 10..200; TSN 18, 34, 50, 101, 152)"),
    _opt("shortcut_type", "B", _choice("A", "B"), "3D-ResNet shortcut"),
    _opt("widen_factor", 1.0, _positive(float), "3D-ResNet width multiplier"),
    _opt("no_max_pool", False, parse_bool, "3D-ResNet: skip the stem max-pool"),
    _opt("conv1_t_size", 7, _count(_integer), "3D-ResNet: temporal kernel size of the stem convolution"),
    _opt("conv1_t_stride", 1, _count(_integer), "3D-ResNet: temporal stride of the stem convolution"),
    _opt("bn_momentum", None, _fraction(_optional(float)),
         "BatchNorm momentum, PyTorch convention (share of batch statistics); empty = the model's own"),
    _opt("partial_bn", False, parse_bool, "TSN: freeze every BatchNorm but the first"),
    # --- checkpoints / fine-tuning ------------------------------------------------------------
    _opt("checkpoint_path", "", str, "checkpoint to start from (pretrained, fine-tune source or resume)"),
    _opt("finetune_num_classes", 0, _non_negative(_integer), "replace the classifier with this many classes (0 = no)"),
    _opt("finetune_prefixes", [], STRS, "train only parameters whose names start with one of these"),
    _opt("resume", False, parse_bool, "resume epoch, optimizer state, history and best metric from "
         "checkpoint_path (an epoch checkpoint of save_dir/checkpoints)"),
    _opt("checkpoint_frequency", 1, _count(_integer), "save a checkpoint every N epochs"),
    _opt("checkpoints_num_keep", 5, _count(_integer), "epoch checkpoints kept (the best one is kept apart)"),
    # --- optimisation -------------------------------------------------------------------------
    _opt("optimizer", "adam", _choice("adam", "sgd"), "optimizer"),
    _opt("lr", 0.001, _positive(float), "base learning rate"),
    _opt("lr_scheduler", "step", _choice("step", "cosine"), "learning-rate schedule"),
    _opt("lr_de_rate", 0.1, _positive(float), "step decay factor"),
    _opt("lr_de_epochs", [], _non_negative(INTS), "epochs after which the step schedule multiplies lr by lr_de_rate"),
    _opt("warmup_epochs", 0, _non_negative(_integer), "linear warm-up epochs"),
    _opt("warmup_start_factor", 0.0, _fraction(float),
         "share of lr the warm-up ramp starts from (0: its first step gets lr / warm-up steps; PP-TSN: 0.5)"),
    _opt("momentum", 0.9, _fraction(float), "SGD momentum"),
    _opt("nesterov", False, parse_bool, "SGD with Nesterov momentum"),
    _opt("weight_decay", 0.0, _non_negative(float), "weight decay"),
    _opt("clip_grad_norm", 0.0, _non_negative(float),
         "clip the gradients to this global L2 norm before each update "
         "(0 = off; TSN's Caffe solvers: 40 RGB, 20 flow)"),
    _opt("batch_size", 8, _count(_integer), "batch size per device"),
    _opt("label_smoothing", 0.0, _fraction(float),
         "recognizers: train towards (1 - e) * one-hot + e / classes instead of the one-hot label"),
    _opt("mixup_alpha", 0.0, _non_negative(float),
         "recognizers: mixup of training batches with a Beta(alpha, alpha) weight (0 = off; PP-TSN: 0.2)"),
    _opt("start_epoch", 0, _non_negative(_integer), "first epoch (set from the checkpoint when resuming)"),
    _opt("num_epochs", 40, _count(_integer), "training epochs"),
    _opt("no_eval", False, parse_bool, "skip evaluation after each epoch"),
    _opt("eval_interval", 1, _count(_integer),
         "evaluate (and recompute precise BN statistics) every this many epochs; the last epoch always"),
    _opt("precise_bn_batches", 0, _non_negative(_integer),
         "recompute BatchNorm statistics from this many training batches "
         "before each epoch's checkpoint and evaluation (PreciseBN; 0 = keep the moving averages)"),
    _opt("max_steps_per_epoch", 0, _non_negative(_integer), "cap on steps per epoch (0 = whole epoch); for smoke runs"),
    # --- evaluation ---------------------------------------------------------------------------
    _opt("test_mode", "", _choice("", "rgb", "rgbdiff", "flow", "joint"), "eval stream; empty = same as mode"),
    _opt("rgb_path", "", str, "RGB checkpoint (joint evaluation), or a folder of checkpoints"),
    _opt("flow_path", "", str, "flow checkpoint for joint evaluation"),
    _opt("joint_fusion", "logits_sum", _choice("logits_sum", "softmax_avg"),
         "joint rule: sum of the two streams' logits, or weighted average of softmax scores"),
    _opt("rgb_weight", 0.5, _fraction(float), "RGB weight of softmax_avg fusion (flow gets 1 - rgb_weight)"),
    _opt("eval_batch_size", 1, _count(_integer), "videos per evaluation batch"),
    _opt("fold_bn", True, parse_bool, "fold BatchNorm into the preceding convolutions of networks loaded for "
         "inference (eval, export, prediction): same outputs, one operator fewer per BatchNorm"),
    # --- export -------------------------------------------------------------------------------
    _opt("file_name", "", str, "exported file name (default: <model>_<dataset>_<mode>)"),
    _opt("file_format", "MINDIR", _choice("MINDIR", "AIR", "ONNX"), "export format"),
    # --- offline inference (310) --------------------------------------------------------------
    _opt("pre_result_path", "", str, "preprocess.py folder (00_data/*.bin, meta.json, labels.npy; joint: rgb/ "
         "and flow/ inside); default ./preprocess_Result/<dataset>_<stream>"),
    _opt("result_path", "", str, "inference output folder holding result_Files/ (postprocess.py, one stream)"),
    _opt("rgb_result_path", "", str, "RGB inference output folder of joint postprocessing"),
    _opt("flow_result_path", "", str, "flow inference output folder of joint postprocessing"),
    _opt("postprocess_path", "", str, "folder of postprocess.py's results.json (default: result_path; "
         "joint: <dataset>_joint beside rgb_result_path)"),
    # --- BMN ----------------------------------------------------------------------------------
    _opt("feature_path", "", str, "BMN feature folder (csv/npy per video, or table-tennis pickles)"),
    _opt("video_info_path", "", str, "BMN video_info_new.csv (BSN layout)"),
    _opt("tscale", 100, _count(_integer), "BMN temporal scale"),
    _opt("feat_dim", 400, _count(_integer), "BMN input feature dimension"),
    _opt("num_sample", 32, _count(_integer), "BMN boundary-matching samples per proposal"),
    _opt("num_sample_perbin", 3, _count(_integer), "BMN sub-samples per bin"),
    _opt("prop_boundary_ratio", 0.5, _non_negative(float), "BMN proposal boundary extension ratio"),
    _opt("bm_layout", "duration_start", _choice("duration_start", "start_end"),
         "BMN map convention: duration_start (JJBOY 2019, mmaction2, PaddleVideo) or start_end (JJBOY June 2020)"),
    _opt("pem_channels", 256, _count(_integer), "BMN PEM 1-D channels (256 JJBOY / mmaction2, 128 PaddleVideo)"),
    _opt("bmn_loss_eps", 1e-5, _positive(float), "epsilon inside the logs of the BMN loss (JJBOY 1e-6, mmaction2 1e-5)"),
    _opt("duration_rule", "feature_frame", _choice("feature_frame", "interval_floor"),
         "seconds of a proposal: feature_frame / duration_frame * duration_second, or interval_floor = "
         "(duration_frame // feature_interval * feature_interval) / duration_frame * duration_second (JJBOY, mmaction2)"),
    _opt("feature_interval", 16, _count(_integer), "frames per feature snippet (ActivityNet features: 16)"),
    _opt("eval_split", "val", _choice("val", "test"), "BMN: split eval.py scores (test videos without "
         "annotations get proposals only)"),
    _opt("soft_nms_alpha", 0.4, _positive(float), "Soft-NMS Gaussian alpha"),
    _opt("soft_nms_low_threshold", 0.5, _fraction(float), "Soft-NMS t1"),
    _opt("soft_nms_high_threshold", 0.9, _fraction(float), "Soft-NMS t2"),
    _opt("max_proposals", 100, _count(_integer), "proposals kept per video"),
    _opt("window_frames", 100, _count(_integer), "long-video inference window (frames)"),
    _opt("train_window_frames", 200, _count(_integer), "long-video training window (frames)"),
    # --- cloud (openI / ModelArts) ------------------------------------------------------------
    _opt("openI", False, parse_bool, "run as an openI / ModelArts job (copy data in, results out)"),
    _opt("data_url", "", str, "job input (OBS or local path)"),
    _opt("train_url", "", str, "job output for training"),
    _opt("ckpt_url", "", str, "job checkpoint input for evaluation"),
    _opt("result_url", "", str, "job output for evaluation"),
    _opt("cache_dir", "/cache", str, "local cache of a cloud job"),
    # --- config file --------------------------------------------------------------------------
    _opt("config_path", "", str, "YAML configuration file"),
]

_BY_NAME: Dict[str, Option] = {opt.name: opt for opt in OPTIONS}


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


def _coerce(name: str, value, origin: str):
    option = _BY_NAME.get(name)
    if option is None:
        raise ConfigError(f"unknown config key {name!r} (from {origin}); "
                          f"run `python config.py --help` for the keys this project knows")
    try:
        return option.parse(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad value for {name!r} (from {origin}): {err}") from err


def _read_yaml(path: str, seen=()) -> Dict[str, Any]:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    if path in seen:
        raise ConfigError(f"config files include each other in a loop: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of key: value")
    merged: Dict[str, Any] = {}
    base = data.pop("_base_", None)
    if base:
        merged.update(_read_yaml(os.path.join(os.path.dirname(path), base), seen + (path,)))
    for key, value in data.items():
        merged[key] = _coerce(key, value, path)
    return merged


def _argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    for opt in OPTIONS:
        # Values stay strings here; Option.parse types them, so booleans are parsed correctly.
        # Options whose empty default means "derived from another key" say so in their help.
        shown_default = "" if "(default:" in opt.help else f" (default: {opt.default!r})"
        parser.add_argument(f"--{opt.name}", default=None, metavar=opt.parse.__name__.upper(),
                            help=opt.help + shown_default)
    return parser


def load_config(config_path: str = "", overrides: Optional[Dict[str, Any]] = None) -> Config:
    """Defaults, then the YAML file, then ``overrides`` (already split into key: value)."""
    cfg = Config({opt.name: opt.default for opt in OPTIONS})
    if config_path:
        cfg.update(_read_yaml(config_path))
        cfg["config_path"] = config_path
    for key, value in (overrides or {}).items():
        cfg[key] = _coerce(key, value, "command line")
    return cfg


def get_config(argv: Optional[List[str]] = None, description: str = "") -> Config:
    """Parse ``argv`` (default: sys.argv) into a resolved :class:`Config`.

    Unknown ``--flags`` are errors (argparse names them); so are unknown YAML keys.
    """
    parser = _argument_parser(description)
    args = parser.parse_args(argv)
    given = {key: value for key, value in vars(args).items() if value is not None}
    try:
        return load_config(given.pop("config_path", ""), given)
    except ConfigError as err:
        parser.error(str(err))
        raise  # unreachable: parser.error exits


def save_config(cfg: Config, folder: str, name: str = "config.yaml") -> str:
    """Write the resolved configuration beside a run's outputs and return its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(cfg.dump())
    return path


def describe(cfg: Config, changed_only: bool = False) -> str:
    """The configuration as JSON; ``changed_only``: as a run logs it once at its start, one line of
    ``key=value`` for the keys whose values differ from the defaults (the whole configuration is what
    :func:`save_config` writes beside the run's outputs)."""
    if not changed_only:
        return json.dumps(dict(cfg), indent=1, sort_keys=True, default=str)
    changed = {key: value for key, value in sorted(cfg.items())
               if key not in _BY_NAME or _BY_NAME[key].default != value}
    return ", ".join(f"{key}={json.dumps(value, default=str)}" for key, value in changed.items()) or "all defaults"
