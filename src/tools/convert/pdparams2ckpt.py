"""Convert PaddleVideo PP-TSN or BMN weights (``.pdparams``) into a MindSpore checkpoint.

    python -m src.tools.convert.pdparams2ckpt --input ppTSN_k400.pdparams --output pptsn_k400.ckpt \\
        --num_classes 400
    python -m src.tools.convert.pdparams2ckpt --input ResNet50_vd_ssld_v2_pretrained.pdparams \\
        --output pptsn_r50vd_flow.ckpt --num_classes 101 --mode flow --new_length 5 --load_fc false
    python -m src.tools.convert.pdparams2ckpt --model bmn --input BMN.pdparams --output bmn_paddle.ckpt

A ``.pdparams`` file is a pickle of parameter name -> NumPy array; it is read with a restricted
unpickler (NumPy arrays and plain containers only), so PaddlePaddle is not needed. Names are those
of PaddleVideo's ``ResNetTweaksTSN`` backbone and ``ppTSNHead`` (optionally under ``backbone.`` /
``head.``):

    conv1_1/2/3._conv.weight, conv1_1/2/3._batch_norm.{weight,bias,_mean,_variance}
    bb_<stage>_<block>.conv0/1/2._conv.weight (+ _batch_norm.*), bb_<stage>_<block>.short.*
    head.fc.weight (in, out: transposed here), head.fc.bias

Each name is translated to the network's PyTorch-style key (``bb_1_0.conv1`` ->
``layer2.0.conv2``, ``short`` -> ``downsample.1`` / ``.2``, ``conv1_3._batch_norm`` -> ``bn1``;
see :mod:`src.models.resnet2d`) and the shared strict conversion of :mod:`src.models.weights`
runs: any missing, unknown or mis-shaped tensor stops the conversion with a full report (keys in
the report use the PyTorch-style names). ``--load_fc false`` keeps a freshly initialised
classifier (ImageNet backbones, or another class count); a flow network gets its stem filter
inflated from the RGB one.

``--model bmn``: PaddleVideo's BMN (``backbone.`` optional) ``b_conv1/2``, ``ts_conv1/2``,
``te_conv1/2``, ``p_conv1``, ``p_conv3d1``, ``p_conv2d1..4`` (``.weight`` / ``.bias``), or the
parameter names of older static-graph files (``Base_1_w``, ``TEM_s1_w``, ``PEM_1d_w``, ``PEM_3d1_w``,
``PEM_2d1_w`` ... ``_b``), become ``x_1d_b.0``, ``x_1d_s.0``, ..., ``x_2d_p.6``. PaddleVideo's map is
(duration, start) and its PEM 1-D layer has 128 channels, so the network is built with
``bm_layout duration_start`` and ``pem_channels 128`` (use both when training or evaluating it).
"""
import argparse
import os
import pickle
import re
import sys
from typing import Dict, Optional

import numpy as np
from mindspore import Parameter

from src.models.bmn import BMN, bmn
from src.models.tsn import TSN, pptsn
from src.models.weights import convert_torch_state_dict, save_checkpoint_atomic
from src.options import parse_bool
from src.tools.cli import run_main, tool_parser
from src.utils.safe_pickle import ArrayOnlyUnpickler, refuse_object_arrays

__all__ = ["load_pdparams", "paddle_to_torch_key", "convert_pdparams", "paddle_bmn_key", "convert_bmn_pdparams",
           "PADDLE_BMN_PEM_CHANNELS", "convert", "build_parser", "main"]

# Entry paddle.save adds to a state dict (structured name -> static parameter name).
_PADDLE_NAME_TABLE_KEY = "StructuredToParameterName@@"
_BN_SUFFIXES = {"weight": "weight", "bias": "bias", "_mean": "running_mean", "_variance": "running_var"}
# Classifier of ppTSNHead, and of PaddleClas ImageNet backbones (fc or out).
_CLASSIFIER = re.compile(r"^(?:head\.fc|fc|out)\.(weight|bias)$")
_STEM = re.compile(r"^conv1_([123])\.(_conv|_batch_norm)\.(\w+)$")
_BLOCK = re.compile(r"^bb_(\d+)_(\d+)\.(conv[012]|short)\.(_conv|_batch_norm)\.(\w+)$")
# conv1_k -> (conv index, BN name) in the deep stem ``conv1`` = [conv, BN, ReLU, conv, BN, ReLU, conv].
_STEM_LAYOUT = {"1": ("conv1.0", "conv1.1"), "2": ("conv1.3", "conv1.4"), "3": ("conv1.6", "bn1")}


def load_pdparams(path: str) -> Dict[str, np.ndarray]:
    """Name -> array of a PaddlePaddle parameter file (``paddle.save`` of a state dict)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PaddlePaddle parameter file {path} does not exist")
    with open(path, "rb") as handle:
        try:
            state = ArrayOnlyUnpickler(handle, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as error:
            raise ValueError(f"{path} is not a .pdparams pickle of NumPy arrays ({error}); files written by "
                             f"paddle.jit.save or paddle.static.save_inference_model are not supported") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, expected a dict of name -> array")
    refuse_object_arrays(state, path)
    arrays = {}
    for name, value in state.items():
        if name == _PADDLE_NAME_TABLE_KEY:
            continue
        if isinstance(value, tuple) and len(value) == 2:  # (parameter name, array) from older paddle.save
            value = value[1]
        arrays[name] = np.asarray(value)
    return arrays


def paddle_to_torch_key(paddle_name: str) -> Optional[str]:
    """PyTorch-style key ("pptsn" layout without ``backbone.``) of a PaddleVideo name, or None."""
    name = paddle_name[len("backbone."):] if paddle_name.startswith("backbone.") else paddle_name
    classifier = _CLASSIFIER.match(paddle_name)
    if classifier:
        return f"fc.{classifier.group(1)}"
    stem = _STEM.match(name)
    if stem:
        index, layer, suffix = stem.groups()
        conv_name, bn_name = _STEM_LAYOUT[index]
        return _layer_key(conv_name, bn_name, layer, suffix)
    block = _BLOCK.match(name)
    if block:
        stage, index, unit, layer, suffix = block.groups()
        prefix = f"layer{int(stage) + 1}.{index}"
        if unit == "short":
            conv_name, bn_name = f"{prefix}.downsample.1", f"{prefix}.downsample.2"
        else:
            position = int(unit[-1]) + 1
            conv_name, bn_name = f"{prefix}.conv{position}", f"{prefix}.bn{position}"
        return _layer_key(conv_name, bn_name, layer, suffix)
    return None


def _layer_key(conv_name: str, bn_name: str, layer: str, suffix: str) -> Optional[str]:
    if layer == "_conv":
        return f"{conv_name}.weight" if suffix == "weight" else None
    return f"{bn_name}.{_BN_SUFFIXES[suffix]}" if suffix in _BN_SUFFIXES else None


def convert_pdparams(net: TSN, paddle_state: Dict[str, np.ndarray], load_fc: bool = True,
                     source: Optional[str] = None) -> Dict[str, Parameter]:
    """MindSpore parameters of a "pptsn" network from PaddleVideo arrays (strict, all or nothing).

    Names that do not translate are kept as they are, so they are reported as unexpected.
    """
    translated = {}
    for paddle_name, array in paddle_state.items():
        key = paddle_to_torch_key(paddle_name) or paddle_name
        if key == "fc.weight" and array.ndim == 2:
            array = array.T  # paddle.nn.Linear stores (in, out)
        if key in translated:
            raise ValueError(f"{source or 'the parameter file'} holds {key} twice (as {paddle_name} and "
                             f"another name, e.g. with and without the backbone. prefix)")
        translated[key] = array
    return convert_torch_state_dict(net, net.adapt_torch_state_dict(translated, load_fc), source)


# PaddleVideo BMN layer -> the ports' module (its index in the Sequential).
_BMN_LAYERS = {"b_conv1": "x_1d_b.0", "b_conv2": "x_1d_b.2", "ts_conv1": "x_1d_s.0", "ts_conv2": "x_1d_s.2",
               "te_conv1": "x_1d_e.0", "te_conv2": "x_1d_e.2", "p_conv1": "x_1d_p.0", "p_conv3d1": "x_3d_p.0",
               "p_conv2d1": "x_2d_p.0", "p_conv2d2": "x_2d_p.2", "p_conv2d3": "x_2d_p.4", "p_conv2d4": "x_2d_p.6"}
# Parameter names of the static-graph files (ParamAttr names), same order as above.
_BMN_PARAM_NAMES = dict(zip(("Base_1", "Base_2", "TEM_s1", "TEM_s2", "TEM_e1", "TEM_e2", "PEM_1d", "PEM_3d1",
                             "PEM_2d1", "PEM_2d2", "PEM_2d3", "PEM_2d4"), _BMN_LAYERS.values()))
_BMN_STRUCTURED = re.compile(r"^(?:backbone\.)?(\w+)\.(weight|bias)$")
_BMN_STATIC = re.compile(r"^(\w+)_([wb])$")
PADDLE_BMN_PEM_CHANNELS = 128


def paddle_bmn_key(paddle_name: str) -> Optional[str]:
    """The ports' key (``x_1d_b.0.weight``) of a PaddleVideo BMN parameter name, or None."""
    structured = _BMN_STRUCTURED.match(paddle_name)
    if structured and structured.group(1) in _BMN_LAYERS:
        return f"{_BMN_LAYERS[structured.group(1)]}.{structured.group(2)}"
    static = _BMN_STATIC.match(paddle_name)
    if static and static.group(1) in _BMN_PARAM_NAMES:
        return f"{_BMN_PARAM_NAMES[static.group(1)]}.{'weight' if static.group(2) == 'w' else 'bias'}"
    return None


def convert_bmn_pdparams(net: BMN, paddle_state: Dict[str, np.ndarray],
                         source: Optional[str] = None) -> Dict[str, Parameter]:
    """MindSpore parameters of a BMN network from PaddleVideo arrays (strict, all or nothing);
    names that do not translate are reported as unexpected."""
    translated = {}
    for paddle_name, array in paddle_state.items():
        key = paddle_bmn_key(paddle_name) or paddle_name
        if key in translated:
            raise ValueError(f"{source or 'the parameter file'} holds {key} twice (as {paddle_name} and "
                             f"another name, e.g. with and without the backbone. prefix)")
        translated[key] = array
    return convert_torch_state_dict(net, net.adapt_torch_state_dict(translated), source)


def convert(input_path: str, output_path: str, num_classes: int = 400, mode: str = "rgb", new_length: int = 1,
            depth: int = 50, load_fc: bool = True, model: str = "pptsn", bmn_kwargs: Optional[dict] = None) -> dict:
    """Convert ``input_path`` for a "pptsn" network of ``mode`` (or, with ``model="bmn"``, a BMN
    built with ``bmn_kwargs`` and PaddleVideo's 128 PEM channels) and save ``output_path``.

    ``new_length`` frames per segment give the input channels (3 x for rgb, 2 x for flow). Returns a
    summary: tensors written, values written, output path.
    """
    if model == "bmn":
        net = bmn(**dict(bmn_kwargs or {}, pem_channels=PADDLE_BMN_PEM_CHANNELS))
        params = convert_bmn_pdparams(net, load_pdparams(input_path), source=input_path)
    else:
        in_channels = (3 if mode == "rgb" else 2) * new_length
        net = pptsn(num_classes=num_classes, in_channels=in_channels, depth=depth)
        params = convert_pdparams(net, load_pdparams(input_path), load_fc, source=input_path)
    save_checkpoint_atomic(params, output_path)
    return {"tensors": len(params), "values": int(sum(param.size for param in params.values())),
            "output": output_path}


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("src.tools.convert.pdparams2ckpt", __doc__)
    parser.add_argument("--model", choices=("pptsn", "bmn"), default="pptsn", help="network of the file")
    parser.add_argument("--input", required=True, help="PaddleVideo/PaddleClas parameter file (.pdparams)")
    parser.add_argument("--output", required=True, help="MindSpore checkpoint to write (.ckpt)")
    parser.add_argument("--num_classes", type=int, default=400, help="classes of the network")
    parser.add_argument("--mode", choices=("rgb", "flow"), default="rgb", help="input stream of the network")
    parser.add_argument("--new_length", type=int, default=1,
                        help="frames per segment (input channels: 3 x for rgb, 2 x for flow)")
    parser.add_argument("--depth", type=int, default=50, help="ResNet-vd depth (50, 101, 152)")
    parser.add_argument("--tscale", type=int, default=100, help="BMN temporal scale of the file")
    parser.add_argument("--feat_dim", type=int, default=400, help="BMN input features of the file")
    parser.add_argument("--load_fc", type=parse_bool, default=True,
                        help="take the classifier from the file (false: keep a new one, e.g. for an "
                             "ImageNet backbone or another class count)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        summary = convert(args.input, args.output, args.num_classes, args.mode, args.new_length, args.depth,
                          args.load_fc, args.model, {"tscale": args.tscale, "feat_dim": args.feat_dim})
        print(f"converted {summary['tensors']} tensors ({summary['values']:,} values) from {args.input} -> "
              f"{summary['output']}{'' if args.load_fc else ' (classifier newly initialised)'}")
        return 0

    return run_main(body, known_errors=(ValueError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
