"""Small file helpers shared by the readers of annotation files."""
import json
import os

__all__ = ["read_json"]


def read_json(path: str, error_class=ValueError, missing_hint: str = ""):
    """Parse ``path`` as JSON; a missing or malformed file raises ``error_class`` naming it."""
    if not os.path.isfile(path):
        raise error_class(f"{path} does not exist" + (f"; {missing_hint}" if missing_hint else ""))
    with open(path, "r", encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise error_class(f"{path} is not valid JSON: {err}") from err
