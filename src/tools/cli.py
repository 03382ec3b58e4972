"""The command-line convention every tool of the model zoo follows.

A tool module has ``build_parser()`` (made with :func:`tool_parser`, so ``--help`` shows the module
docstring and ``python -m <module>`` as its usage) and ``main(argv=None) -> int``, the exit status,
ending with ``if __name__ == "__main__": sys.exit(main())``. ``main`` runs its work through
:func:`run_main`: bad input (a :class:`ToolError`, or one of the error types the tool names) becomes
one ``error: ...`` line on stderr and exit status 2 (:func:`src.utils.command.report_user_error`, as
for train.py and the other entry points; ``ZOO_DEBUG=1`` shows the traceback instead); status 1 is
left to tools that finish but report problems (``--strict``). Functions returning results to Python
callers live beside ``main``.
"""
import argparse
from typing import Callable, Optional, Sequence, Type

from src.options import option_table, parse_bool
from src.utils.command import UserError, report_user_error, tool_parser

__all__ = ["ToolError", "tool_parser", "add_run_options", "add_backend_options", "backend_overrides", "run_main",
           "check_positive"]


class ToolError(UserError):
    """Bad input that stops a tool; ``main`` prints it and exits with status 2."""


STRICT_STOP_HELP = ("stop at the first video that fails (the finished ones are kept) instead of skipping it "
                    "and going on; status 1 as well when any video has a warning")


def add_run_options(parser: argparse.ArgumentParser, overwrite_help: Optional[str] = None,
                    strict_help: str = "exit with status 1 when any video fails or has a warning") -> None:
    """``--num_workers`` and ``--strict`` (and ``--overwrite`` when ``overwrite_help`` is given)."""
    parser.add_argument("--num_workers", type=int, default=1, help="parallel worker processes")
    if overwrite_help:
        parser.add_argument("--overwrite", type=parse_bool, default=False, help=overwrite_help)
    parser.add_argument("--strict", type=parse_bool, default=False, help=strict_help)


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--num_threads`` of a tool that runs networks for inference: the configuration
    keys of the same names, over its config's values (:func:`backend_overrides`)."""
    table = option_table()
    backend, threads = table["backend"], table["num_threads"]
    parser.add_argument("--backend", type=backend.parse, default=None, metavar=backend.parse.__name__,
                        help="what runs the networks: ONNX Runtime or MindSpore; auto = ONNX Runtime on a CPU "
                             "when installed (default: the config's backend, auto)")
    parser.add_argument("--num_threads", type=threads.parse, default=None, metavar="N",
                        help="CPU threads of MindSpore's kernels and of ONNX Runtime, 0 = every core "
                             "(default: the config's num_threads, 0)")


def backend_overrides(args: argparse.Namespace) -> dict:
    """The configuration overrides of :func:`add_backend_options`' options given on the command line."""
    return {key: getattr(args, key) for key in ("backend", "num_threads") if getattr(args, key, None) is not None}


def run_main(body: Callable[[], int], known_errors: Sequence[Type[Exception]] = ()) -> int:
    """Call a tool's body; a :class:`ToolError` or one of ``known_errors`` becomes one clear line on
    stderr and status 2."""
    try:
        return body()
    except (ToolError, *known_errors) as err:
        return report_user_error(err)


def check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ToolError(f"--{name} must be >= 1, got {value}")
