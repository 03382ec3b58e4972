"""Numbers read from users' data files, checked where they are read.

An annotation, label, list, history or rank-table file can hold anything JSON or text allows:
``Infinity``, ``1e999``, a 5,000-digit integer, ``true``, a string. :func:`checked_number` turns one
value into a finite ``float`` (or an ``int`` where an integer is meant) within a range, or raises a
ValueError naming the file, the entry and the field, so nothing trains on an infinite duration or
crashes later with a bare ``OverflowError``.
"""
import math
from typing import Optional, Type, Union

__all__ = ["checked_number", "shown_value", "MAX_FRAMES", "MAX_SECONDS"]

# Bounds no real video reaches (about 46 days at 25 fps, and 1,000 days): larger values are typos or
# corrupt files, not videos.
MAX_FRAMES = 10 ** 8
MAX_SECONDS = 10 ** 8


def checked_number(value, where: str, field: str, integer: bool = False, low: Optional[float] = None,
                   high: Optional[float] = None, low_open: bool = False,
                   error: Type[Exception] = ValueError) -> Union[int, float]:
    """``value`` as a finite number within [``low``, ``high``] (``(low, ...`` with ``low_open``); an int
    when ``integer`` (a float like 12.0 is accepted). ``where`` names the file and entry, ``field`` the key;
    ``error`` is the exception class raised (a ValueError subclass of the caller's module)."""
    kind = "an integer" if integer else "a number"
    try:
        if isinstance(value, bool) or value is None:
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{where}: {field} must be {kind}, got {shown_value(value)}") from None
    if not math.isfinite(number):
        raise error(f"{where}: {field} must be a finite number, got {shown_value(value)}")
    if integer:
        if number != int(number):
            raise error(f"{where}: {field} must be an integer, got {shown_value(value)}")
        number = int(number)
    below = low is not None and (number <= low if low_open else number < low)
    if below or (high is not None and number > high):
        bounds = f"{'(' if low_open else '['}{'' if low is None else low}, {'' if high is None else high}]"
        raise error(f"{where}: {field} {shown_value(value)} is outside {bounds}")
    return number


def shown_value(value) -> str:
    """``repr(value)``, cut short when long (a 5,000-digit number must not fill the error line)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
