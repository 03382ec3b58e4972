"""Convert a PyTorch checkpoint into a MindSpore checkpoint for any registered model.

    python -m src.tools.convert.pt2ckpt --model i3d --in_channels 3 --num_classes 400 \\
        --input rgb_imagenet.pt --output rgb_imagenet.ckpt
    python -m src.tools.convert.pt2ckpt --model resnet3d --num_classes 700 --kwargs model_depth=50 \\
        --input r3d50_K_200ep.pth --output r3d50_k700.ckpt
    python -m src.tools.convert.pt2ckpt --model bmn --input BMN_best.pth.tar --output bmn.ckpt \\
        --kwargs bm_layout=start_end     # JJBOY June 2020; 2019 files and mmaction2's: duration_start

BMN checkpoints (JJBOY ``{'epoch', 'state_dict'}`` with ``module.`` keys, mmaction2 ``{'meta',
'state_dict'}``) get their Conv1d kernels reshaped, and their fixed ``sample_mask`` is compared with
both conventions and dropped (a note says so); a file of the other convention is refused, naming it.

The network is built with the given keywords, every parameter is matched to its PyTorch key
(:mod:`src.models.weights`) and the conversion stops with a full report on any missing, extra or
mis-shaped tensor. torch is only needed by this tool.
"""
import argparse
import ast
import os
import sys

from src.models import create_model, list_models
from src.models.weights import convert_torch_state_dict, save_checkpoint_atomic
from src.options import parse_bool
from src.tools.cli import run_main, tool_parser

__all__ = ["parse_kwargs", "load_torch_file", "convert", "build_parser", "main"]


def parse_kwargs(text: str) -> dict:
    """``"model_depth=50,no_max_pool=true"`` -> ``{"model_depth": 50, "no_max_pool": True}``."""
    kwargs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            raise ValueError(f"--kwargs items are key=value, got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        lowered = value.lower()
        if lowered in ("true", "false"):
            kwargs[key] = lowered == "true"
        else:
            try:
                kwargs[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                kwargs[key] = value
    return kwargs


def load_torch_file(path: str, trust_pickle: bool = False):
    """The object stored in a PyTorch file, on CPU (tensors only unless ``trust_pickle``)."""
    import torch  # only this tool needs torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"PyTorch checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as error:  # torch raises UnpicklingError or RuntimeError depending on version
        if trust_pickle:
            raise
        raise ValueError(f"{path} holds more than tensors and plain containers ({error}); "
                         f"if you trust the file, run again with --trust_pickle true") from error


def convert(model: str, input_path: str, output_path: str, trust_pickle: bool = False, load_fc: bool = True,
            **model_kwargs) -> dict:
    """Convert ``input_path`` for ``create_model(model, **model_kwargs)`` and save ``output_path``.

    Networks that adapt a checkpoint made for another input (``adapt_torch_state_dict``: TSN's
    stem inflated for flow) do so first; ``load_fc=False`` then keeps the network's new classifier.
    Returns a summary: tensors written, values written (BatchNorm statistics included), trainable
    parameters of the network, output path.
    """
    net = create_model(model, **model_kwargs)
    state = load_torch_file(input_path, trust_pickle)
    if hasattr(net, "adapt_torch_state_dict"):
        try:
            state = net.adapt_torch_state_dict(state, load_fc=load_fc)
        except ValueError as error:
            raise ValueError(f"{input_path}: {error}") from error
    params = convert_torch_state_dict(net, state, source=input_path)
    save_checkpoint_atomic(params, output_path)
    return {"tensors": len(params), "values": int(sum(p.size for p in params.values())),
            "trainable": int(sum(p.size for p in net.trainable_params())), "output": output_path,
            "notes": list(getattr(net, "conversion_notes", ()))}


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser("src.tools.convert.pt2ckpt", __doc__)
    parser.add_argument("--model", required=True, help=f"registered model: {', '.join(list_models())}")
    parser.add_argument("--input", required=True, help="PyTorch checkpoint (.pt/.pth)")
    parser.add_argument("--output", required=True, help="MindSpore checkpoint to write (.ckpt)")
    parser.add_argument("--num_classes", type=int, default=None, help="classes of the PyTorch classifier")
    parser.add_argument("--in_channels", type=int, default=None, help="input channels (3 rgb, 2 flow)")
    parser.add_argument("--kwargs", default="", help="more builder keywords: key=value,key=value")
    parser.add_argument("--trust_pickle", type=parse_bool, default=False,
                        help="allow arbitrary pickled objects in the input (only for files you trust)")
    parser.add_argument("--load_fc", type=parse_bool, default=True,
                        help="TSN: take the classifier from the file (false: a new one of --num_classes)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        model_kwargs = parse_kwargs(args.kwargs)
        for key in ("num_classes", "in_channels"):
            if getattr(args, key) is not None:
                model_kwargs[key] = getattr(args, key)
        summary = convert(args.model, args.input, args.output, args.trust_pickle, args.load_fc, **model_kwargs)
        for note in summary["notes"]:
            print(f"note: {note}")
        print(f"converted {summary['tensors']} tensors ({summary['values']:,} values, "
              f"{summary['trainable']:,} trainable parameters) from {args.input} -> {summary['output']}")
        return 0

    return run_main(body, known_errors=(ValueError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
