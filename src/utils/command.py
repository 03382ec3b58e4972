"""How a command of the zoo answers a user's mistake: one ``error: ...`` line, never a traceback.

train.py, eval.py, export.py, preprocess.py and postprocess.py run their ``main`` with
:func:`run_command`; the tools
(``python -m src.tools...``) run theirs with :func:`src.tools.cli.run_main`, which reports the same
way, and every command line is read by a :class:`CommandParser`. A mistake in what was asked for -- a device this machine does not have, a class count that does
not fit the checkpoint, a missing or unreadable file or folder, a bad configuration value or an
unknown option -- is printed as ONE line on stderr, ``error: <what is wrong, naming the value or
file>: <what to do>``, and the process exits with status 2. These mistakes are :class:`UserError`
and the ``ValueError`` / ``OSError`` families (every input check of the zoo raises one of them, with
a message written for the user). Any other exception is a bug and keeps its traceback. A mistake
found in a data loader's worker reaches the command as MindSpore's RuntimeError, which quotes the
worker's traceback: :func:`dataset_worker_error` takes the mistake back out of it.

Debugging: set the environment variable ``ZOO_DEBUG=1`` to get the full traceback of a reported
mistake instead of the one line, and to see MindSpore's own messages of the device probe
(:func:`src.utils.runtime.device_available`), which are otherwise kept back::

    ZOO_DEBUG=1 python train.py --config_path ...

This module imports neither MindSpore nor any of ``src`` but :mod:`src.utils.signals` (standard
library only), so it adds nothing to a command's start-up and can be imported first.
"""
import argparse
import os
import re
import sys
from typing import Callable, Optional

from src.utils.signals import StopRequested, StopSignals

__all__ = ["DEBUG_ENV", "UserError", "USER_ERRORS", "debug_enabled", "one_line", "report_user_error",
           "dataset_worker_error", "run_command", "CommandParser", "tool_parser"]

DEBUG_ENV = "ZOO_DEBUG"


class UserError(Exception):
    """A mistake in what the user asked for; its message names the value or file and the fix."""


# What a command reports in one line: every input check of the zoo raises one of these.
USER_ERRORS = (UserError, ValueError, OSError)


def debug_enabled() -> bool:
    """True when ``ZOO_DEBUG`` is set to anything but empty, 0, false or no."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line: a multi-line report (a checkpoint's missing parameters, ...)
    is joined, a line ending in ':' by a space and the others by '; '."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    text = lines[0]
    for previous, line in zip(lines, lines[1:]):
        text += (" " if previous.endswith(":") else "; ") + line
    return text


def report_user_error(err: BaseException) -> int:
    """Print ``error: <message>`` on stderr and return the exit status 2 (re-raise with ZOO_DEBUG)."""
    if debug_enabled():
        raise err
    sys.stdout.flush()  # the log lines before it come first in a shared console
    print(f"error: {one_line(err)}", file=sys.stderr, flush=True)
    return 2


# How MindSpore's dataset engine reports an exception of a source's Python code: a RuntimeError whose
# text quotes the Python traceback between these two headings.
_WORKER_ERROR = "Exception thrown from user defined Python function in dataset"
_STACK_START, _STACK_END = "- Python Call Stack:", "- Dataset Pipeline Error Message:"
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.*)$")


def _user_error_names() -> set:
    names, classes = set(), list(USER_ERRORS)
    while classes:
        cls = classes.pop()
        names.add(cls.__name__)
        classes.extend(cls.__subclasses__())
    return names


def dataset_worker_error(err: BaseException) -> Optional[UserError]:
    """The user's mistake (a :data:`USER_ERRORS` kind) that a data loader's Python code raised, taken out
    of the RuntimeError MindSpore turned it into; None for any other exception."""
    text = str(err)
    if not isinstance(err, RuntimeError) or _WORKER_ERROR not in text or _STACK_START not in text:
        return None
    stack = text.split(_STACK_START, 1)[1].split(_STACK_END, 1)[0].strip("-\n ").splitlines()
    for position in range(len(stack) - 1, -1, -1):
        found = _EXCEPTION_LINE.match(stack[position])
        if found:
            if found.group(1).rsplit(".", 1)[-1] not in _user_error_names():
                return None
            rest = [line for line in stack[position + 1:] if line.strip() and not line.startswith("-")]
            return UserError("\n".join([found.group(2)] + rest))
    return None


def run_command(main: Callable[[], object]) -> None:
    """Run an entry point's ``main``: a user's mistake exits with status 2 after one ``error:`` line;
    Ctrl-C or SIGTERM outside a training's own handling (which stops at a safe point and prints how to
    resume) ends it at once with one line and 128 + the signal; success returns normally (so
    ``runpy`` callers in the same process keep running)."""
    try:
        with StopSignals(at_once=True):
            main()
    except StopRequested as stop:
        sys.stdout.flush()
        print(f"{stop}: stopped before the end; what was written before is kept, and the same command starts "
              f"again", file=sys.stderr, flush=True)
        sys.exit(128 + stop.signum)
    except USER_ERRORS as err:
        sys.exit(report_user_error(err))
    except RuntimeError as err:
        mistake = dataset_worker_error(err)
        if mistake is None:
            raise
        sys.exit(report_user_error(mistake if not debug_enabled() else err))


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose mistakes (an unknown option, a missing value) are one ``error:`` line
    and exit status 2, as argparse's are, without the usage text before it."""

    def error(self, message):
        if "unrecognized arguments" in message or "expected one argument" in message:
            command = self.prog if self.prog.startswith("python") else f"python {self.prog}"
            message += f" ({command} --help lists the options)"
        sys.exit(report_user_error(UserError(message)))


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the module docstring's layout and appends each optional argument's default, unless its
    help already says what the default is ("(default: the config's)")."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or action.default in (None, "", argparse.SUPPRESS) or "%(default)" in text \
                or "(default" in text:
            return text
        return text + " (default: %(default)s)"


def tool_parser(module_name: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of ``python -m <module_name>``, described by the module's docstring."""
    return CommandParser(prog=f"python -m {module_name}", description=doc, formatter_class=_HelpFormatter,
                         allow_abbrev=False)
