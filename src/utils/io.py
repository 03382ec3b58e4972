"""Small file helpers: JSON reading that names the file, and writes that never leave half a file."""
import contextlib
import json
import os
from typing import Iterator

__all__ = ["read_json", "atomic_path", "atomic_write", "write_json_atomically"]


def read_json(path: str, error_class=ValueError, missing_hint: str = "", object_hook=None):
    """Parse ``path`` as JSON; a missing or malformed file raises ``error_class`` naming it.
    ``object_hook`` is ``json.load``'s: it may turn each object into something smaller as it is read."""
    if not os.path.isfile(path):
        raise error_class(f"{path} does not exist" + (f"; {missing_hint}" if missing_hint else ""))
    with open(path, "r", encoding="utf-8") as handle:
        try:
            return json.load(handle, object_hook=object_hook)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise error_class(f"{path} is not valid JSON: {err}") from err
        except ValueError as err:  # an integer of more than 4,300 digits
            raise error_class(f"{path} holds a number that cannot be read: {str(err).splitlines()[0]}") from err


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block ends without
    an error, and is removed otherwise. A crash or a kill never leaves a half-written file under the
    final name. The name, ``.<name>.<pid>.tmp<suffix>``, is this process's own (ranks of one run may
    write the same file) and ends in ``suffix`` for writers that want an extension."""
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str = "utf-8"):
    """``open(path, mode)`` through :func:`atomic_path`: the file appears whole or not at all."""
    with atomic_path(path) as temporary:
        with open(temporary, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle


def write_json_atomically(path: str, payload, indent=None) -> None:
    with atomic_write(path) as handle:
        json.dump(payload, handle, indent=indent)
