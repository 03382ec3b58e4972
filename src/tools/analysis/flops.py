"""Count the multiply-accumulates (MACs), FLOPs and parameters of a model, like mmaction2's
``tools/analysis/get_flops.py``::

    python -m src.tools.analysis.flops --model i3d --input 1,3,16,224,224
    python -m src.tools.analysis.flops --config_path configs/tsn/ucf101_rgb.yaml
    python -m src.tools.analysis.flops --model resnet3d --kwargs model_depth=18 --input 1,3,16,112,112 --output r3d18.json

The network is built from its definition (``--model`` with the configuration defaults, or the
model of ``--config_path``; ``--mode flow`` for a flow network) and run once in PyNative mode on a
zero input of ``--input`` (default: the exported inference shape of the configuration, batch 1).
MindSpore has no built-in counter, so every leaf cell reports what it computed from its input and
output shapes:

* convolution: output elements x input channels per group x kernel volume MACs;
* dense: batch x in x out MACs; ``ops.matmul`` / ``ops.bmm`` called by a network (BMN's
  boundary-matching layer) are counted the same way;
* BatchNorm: one multiply-add per element (inference, folded scale and shift);
* pooling: output elements x kernel volume operations (comparisons or additions), no MACs;
* activations (ReLU, Sigmoid): one operation per element, no MACs.

FLOPs = 2 x MACs + pooling and activation operations. mmaction2, torchvision and most papers
quote MACs as "FLOPs" (ResNet-50 at 224 px: 4.1 G); compare their figures with the MACs column.
Element-wise additions (residual connections) and tensor reshapes are not counted.

Prints a table per layer kind and per top-level block, then the same figures as one JSON line
(also written to ``--output``).
"""
import json
import sys
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from src.config import load_config
from src.options import ConfigError, output_classes
from src.tasks import task_of
from src.tools.cli import ToolError, run_main, tool_parser

__all__ = ["count_model", "build_parser", "main"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ACTIVATIONS = (nn.ReLU, nn.Sigmoid)


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _shape(value):
    return tuple(value.shape)


def _is_pool(cell) -> bool:
    """Pooling cells of MindSpore and of the models (named ``*Pool*``, with a ``kernel_size``)."""
    return "Pool" in type(cell).__name__ and hasattr(cell, "kernel_size")


def _kernel_volume(kernel, dims: int) -> int:
    kernel = (kernel,) * dims if isinstance(kernel, int) else tuple(kernel)
    return _numel(kernel[-dims:])


class _Tally:
    """MACs, other operations and calls per (block, kind)."""

    def __init__(self):
        self.rows: "OrderedDict[tuple, Dict[str, int]]" = OrderedDict()

    def add(self, block: str, kind: str, macs: int = 0, ops_count: int = 0) -> None:
        row = self.rows.setdefault((block, kind), {"calls": 0, "macs": 0, "ops": 0})
        row["calls"] += 1
        row["macs"] += int(macs)
        row["ops"] += int(ops_count)


def _leaf_hook(tally: _Tally, block: str):
    def hook(cell, args, output):
        out_shape = _shape(output[0] if isinstance(output, (tuple, list)) else output)
        if isinstance(cell, _CONVS):
            # MindSpore's Conv1d keeps its kernel as (out, in/groups, 1, k).
            per_output = _numel(cell.weight.shape[1:])
            tally.add(block, "convolution", macs=_numel(out_shape) * per_output)
        elif isinstance(cell, nn.Dense):
            tally.add(block, "dense", macs=_numel(out_shape) * cell.in_channels)
        elif isinstance(cell, _NORMS):
            tally.add(block, "batch norm", macs=_numel(out_shape))
        elif _is_pool(cell):
            dims = len(out_shape) - 2
            tally.add(block, "pooling", ops_count=_numel(out_shape) * _kernel_volume(cell.kernel_size, dims))
        elif isinstance(cell, _ACTIVATIONS):
            tally.add(block, "activation", ops_count=_numel(out_shape))
    return hook


def _is_counted(cell) -> bool:
    return isinstance(cell, _CONVS + _NORMS + _ACTIVATIONS + (nn.Dense,)) or _is_pool(cell)


@contextmanager
def _counting_matmuls(tally: _Tally, current_block: List[str]):
    """``ops.matmul`` / ``ops.bmm`` called in a network's construct, counted while the context is open."""
    originals = {"matmul": ops.matmul, "bmm": ops.bmm}

    def counted(name):
        def call(left, right, *args, **kwargs):
            result = originals[name](left, right, *args, **kwargs)
            inner = left.shape[-1]
            tally.add(current_block[0], "matmul", macs=_numel(result.shape) * inner)
            return result
        return call

    for name in originals:
        setattr(ops, name, counted(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(ops, name, original)


def count_model(net: nn.Cell, input_shape: Sequence[int]) -> Dict:
    """Run ``net`` once on zeros of ``input_shape`` (PyNative) and count what its cells compute.

    Returns ``{"input", "macs", "flops", "params", "trainable_params", "by_kind", "by_block"}``.
    """
    previous_mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    tally = _Tally()
    top_level = "(top level)"  # work of the network's own construct, e.g. BMN's matmuls
    current_block = [top_level]
    handles = []
    blocks = list(net.name_cells().items()) or [(top_level, net)]
    for block_name, block in blocks:
        cells = [cell for _, cell in block.cells_and_names()]
        for cell in cells:
            if _is_counted(cell) and not any(True for _ in cell.name_cells()):
                handles.append(cell.register_forward_hook(_leaf_hook(tally, block_name)))
        if block is not net:
            handles.append(block.register_forward_pre_hook(
                lambda cell, args, name=block_name: current_block.__setitem__(0, name)))
            handles.append(block.register_forward_hook(
                lambda cell, args, output: current_block.__setitem__(0, top_level)))
    try:
        net.set_train(False)
        with _counting_matmuls(tally, current_block):
            net(ms.Tensor(np.zeros(tuple(input_shape), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=previous_mode)
    by_kind: "OrderedDict[str, Dict[str, int]]" = OrderedDict()
    # Every block is listed, also one that computes nothing itself (BMN's x_3d_p holds a kernel
    # the network applies with a matmul).
    by_block: "OrderedDict[str, Dict[str, int]]" = OrderedDict(
        (name, {"calls": 0, "macs": 0, "ops": 0}) for name, _ in blocks)
    for (block, kind), row in tally.rows.items():
        for table, key in ((by_kind, kind), (by_block, block)):
            entry = table.setdefault(key, {"calls": 0, "macs": 0, "ops": 0})
            for field in entry:
                entry[field] += row[field]
    params = dict(net.parameters_and_names())
    block_params = {name: sum(_numel(p.shape) for p in block.get_parameters()) for name, block in blocks}
    for name, entry in by_block.items():
        entry["params"] = block_params.get(name, 0)  # the top level holds none of its own
    macs = sum(row["macs"] for row in by_kind.values())
    other_ops = sum(row["ops"] for row in by_kind.values())
    return {"input": list(input_shape), "macs": macs, "flops": 2 * macs + other_ops,
            "params": sum(_numel(p.shape) for p in params.values()),
            "trainable_params": sum(_numel(p.shape) for p in net.trainable_params()),
            "by_kind": by_kind, "by_block": by_block}


def _giga(value: int) -> str:
    return f"{value / 1e9:10.3f}"


def format_table(result: Dict, title: str) -> str:
    lines = [title, f"input {tuple(result['input'])}", "",
             f"{'layer kind':<22}{'calls':>7}{'GMACs':>11}{'other Gops':>11}"]
    for kind, row in result["by_kind"].items():
        lines.append(f"{kind:<22}{row['calls']:>7}{_giga(row['macs'])}{_giga(row['ops'])[-11:]:>11}")
    lines += ["", f"{'block':<22}{'GMACs':>11}{'params':>14}"]
    for block, row in result["by_block"].items():
        lines.append(f"{block:<22}{_giga(row['macs'])}{row['params']:>14,}")
    lines += ["", f"total: {result['macs'] / 1e9:.3f} GMACs, {result['flops'] / 1e9:.3f} GFLOPs "
                  f"(2 x MACs + other ops), {result['params']:,} parameters "
                  f"({result['trainable_params']:,} trainable)"]
    return "\n".join(lines)


def _parse_shape(text: str) -> List[int]:
    try:
        shape = [int(part) for part in text.split(",")]
    except ValueError as err:
        raise ToolError(f"--input must be comma-separated integers like 1,3,16,224,224, got {text!r}") from err
    if not shape or min(shape) < 1:
        raise ToolError(f"--input dimensions must be positive, got {text!r}")
    return shape


def _parse_kwargs(text: str) -> Dict[str, str]:
    pairs = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise ToolError(f"--kwargs takes key=value pairs (configuration keys), got {item!r}")
        key, value = item.split("=", 1)
        pairs[key] = value
    return pairs


def build_parser():
    parser = tool_parser("src.tools.analysis.flops", __doc__)
    parser.add_argument("--model", default="", help="registered model name (default: the config's)")
    parser.add_argument("--config_path", default="", help="YAML configuration of the model zoo")
    parser.add_argument("--mode", default="", choices=("", "rgb", "rgbdiff", "flow"),
                        help="stream (default: the config's)")
    parser.add_argument("--num_classes", type=int, default=0, help="classifier outputs (default: the config's)")
    parser.add_argument("--kwargs", default="", metavar="KEY=VALUE,...",
                        help="more configuration keys, e.g. model_depth=18,num_segments=8")
    parser.add_argument("--input", default="", help="input shape with batch, e.g. 1,3,16,224,224 "
                                                    "(default: the configuration's export shape, batch 1)")
    parser.add_argument("--output", default="", help="also write the JSON to this file")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if not args.model and not args.config_path:
            raise ToolError("give --model NAME or --config_path FILE")
        overrides = _parse_kwargs(args.kwargs)
        for key in ("model", "mode", "num_classes"):
            if getattr(args, key):
                overrides[key] = getattr(args, key)
        cfg = load_config(args.config_path, overrides)
        from src.models.registry import build_model_from_config, list_models  # registers every model
        if cfg.model not in list_models():
            raise ToolError(f"unknown model {cfg.model!r}; known models: {', '.join(list_models())}")
        net = build_model_from_config(cfg, num_classes=output_classes(cfg))
        shape = _parse_shape(args.input) if args.input else list(task_of(cfg).input_shape(cfg, 1))
        result = count_model(net, shape)
        print(format_table(result, f"{cfg.model} ({cfg.mode})"))
        text = json.dumps(dict(result, model=cfg.model, mode=cfg.mode))
        print(text)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        return 0

    return run_main(body, (ConfigError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
