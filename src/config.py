"""One typed configuration for every entry point.

A run's configuration is resolved in three layers, later ones winning:

1. the defaults of every declared key: the keys every run shares and the keys each registered
   model declares (:mod:`src.options` says where keys are declared and how they are typed);
2. a YAML file chosen with ``--config_path`` (a flat mapping; ``_base_`` names another YAML file,
   relative to this one, whose keys are loaded first);
3. ``--key value`` pairs on the command line.

A key that is not declared is an error naming the key and the file it came from, so a typo never
silently falls back to a default. A value its key does not accept stops the run with one line,
e.g. ``--lr nan``: ``error: bad value for 'lr' (from command line): expected a finite number > 0,
got 'nan'``; ``get_config`` prints that one ``error:`` line and exits with status 2.

This module imports :mod:`src.models`, whose models declare their keys when they register.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import yaml

import src.models  # noqa: F401  (the built-in models declare their keys when registered)
from src.options import OPTIONS, Config, ConfigError, Option, option_table
from src.utils.command import CommandParser, report_user_error

__all__ = ["all_options", "load_config", "get_config", "save_config", "describe"]


def all_options() -> List[Option]:
    """Every key a configuration may set: :data:`OPTIONS`, then the keys of the registered models."""
    return list(option_table().values())


def _coerce(name: str, value, origin: str):
    option_ = option_table().get(name)
    if option_ is None:
        raise ConfigError(f"unknown config key {name!r} (from {origin}); "
                          f"run `python config.py --help` for the keys this project knows")
    try:
        return option_.parse(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad value for {name!r} (from {origin}): {err}") from err


def _read_yaml(path: str, seen=()) -> Dict[str, Any]:
    path = os.path.abspath(path)
    fix = "give --config_path a YAML file, e.g. one of configs/<model>/*.yaml"
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} {'is not a file' if os.path.exists(path) else 'does not exist'}: {fix}")
    if path in seen:
        raise ConfigError(f"config files include each other in a loop: {path}")
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read ({err.strerror}): make it readable, or {fix}") from None
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
    # the entry points' docstrings are laid out by hand (bullets, examples): kept as written
    parser = CommandParser(description=description, allow_abbrev=False,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    models = parser.add_argument_group("model options", "declared by each model where it is registered; "
                                       "the models that read a key are named before its help")
    shared = {opt.name for opt in OPTIONS}
    for opt in all_options():
        # Values stay strings here; Option.parse types them, so booleans are parsed correctly.
        # Options whose empty default means "derived from another key" say so in their help.
        shown_default = "" if "(default:" in opt.help else f" (default: {opt.default!r})"
        group = parser if opt.name in shared else models
        group.add_argument(f"--{opt.name}", default=None, metavar=opt.parse.__name__.upper(),
                           help=opt.help + shown_default)
    return parser


def load_config(config_path: str = "", overrides: Optional[Dict[str, Any]] = None) -> Config:
    """Defaults, then the YAML file, then ``overrides`` (already split into key: value)."""
    cfg = Config({opt.name: opt.default for opt in all_options()})
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
        sys.exit(report_user_error(err))


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
    table = option_table()
    changed = {key: value for key, value in sorted(cfg.items()) if key not in table or table[key].default != value}
    return ", ".join(f"{key}={json.dumps(value, default=str)}" for key, value in changed.items()) or "all defaults"
