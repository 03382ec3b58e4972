"""Progress of a long loop: a tqdm bar on a terminal, a few plain lines in a log file.

tqdm redraws its bar with carriage returns many times a second; written to a file (nohup, a cloud
job's log, CI) every redraw stays in the file. :func:`progress` returns tqdm when stderr is a
terminal and otherwise a :class:`PlainProgress`, which writes one line (count, total, rate, time
left) to stderr each time another ``fraction`` of the total is done or ``interval`` seconds have
passed, and a last line when the loop ends. Both are used the same way: iterated, or driven with
``update()`` (also as a context manager), ``set_postfix(...)`` and ``close()``.
"""
import sys
import time
from typing import Iterable, Optional

from tqdm import tqdm

__all__ = ["progress", "PlainProgress", "stderr_is_terminal"]

INTERVAL_SECONDS = 30.0
FRACTION = 0.1


def stderr_is_terminal() -> bool:
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(iterable: Optional[Iterable] = None, desc: str = "", total: Optional[int] = None, unit: str = "it",
             disable: bool = False, interval: float = INTERVAL_SECONDS, fraction: float = FRACTION, **tqdm_options):
    """A tqdm bar over ``iterable`` (or driven by ``update()``) on a terminal; without one (stderr
    redirected), a :class:`PlainProgress` writing a line per ``fraction`` of ``total`` or per
    ``interval`` seconds. ``tqdm_options`` (``leave``, ``dynamic_ncols`` ...) apply to the bar only."""
    if stderr_is_terminal():
        return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, **tqdm_options)
    return PlainProgress(iterable, desc=desc, total=total, unit=unit, disable=disable, interval=interval,
                         fraction=fraction)


def _now() -> float:
    return time.monotonic()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class PlainProgress:
    """tqdm's interface, written as plain lines: ``HH:MM:SS desc: n/total (p%), rate unit/s, elapsed,
    ~left [postfix]``, at most one per ``fraction`` of the total or ``interval`` seconds, and one at
    the end."""

    def __init__(self, iterable: Optional[Iterable] = None, desc: str = "", total: Optional[int] = None,
                 unit: str = "it", disable: bool = False, interval: float = INTERVAL_SECONDS,
                 fraction: float = FRACTION, stream=None):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable = iterable
        self.desc = desc
        self.total = total
        self.unit = unit
        self.disable = disable
        self.interval = interval
        self.fraction = fraction
        self.stream = stream
        self.n = 0
        self.postfix = ""
        self._start = self._last_time = _now()
        self._last_n = 0
        self._closed = False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __len__(self):
        return self.total if self.total is not None else len(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **values):
        values = {**(ordered_dict or {}), **values}
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def set_description(self, desc: str = "", refresh: bool = True):
        self.desc = desc

    def refresh(self):
        pass

    def update(self, n: int = 1):
        self.n += n
        now = _now()
        step = self.fraction * self.total if self.total and self.fraction > 0 else None
        if (step is not None and self.n - self._last_n >= step) or now - self._last_time >= self.interval:
            self._write(now)

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self.n != self._last_n or (self.total and 0 < self.n < self.total):
            self._write(_now(), done=True)

    def _write(self, now: float, done: bool = False):
        self._last_n, self._last_time = self.n, now
        if self.disable:
            return
        elapsed = now - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        count = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        parts = [f"{count} {self.unit}", f"{rate:.2f} {self.unit}/s", f"{_duration(elapsed)} elapsed"]
        if done or (self.total and self.n >= self.total):
            parts.append("done" if not self.total or self.n >= self.total else "stopped")
        elif self.total and rate > 0:
            parts.append(f"~{_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        prefix = f"{self.desc}: " if self.desc else ""
        stream = self.stream or sys.stderr
        stream.write(f"{time.strftime('%H:%M:%S')} {prefix}{', '.join(parts)}\n")
        stream.flush()
