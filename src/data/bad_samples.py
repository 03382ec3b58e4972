"""Samples a training run could not read: skipped, listed in the run folder, counted.

A video or frame that turns out unreadable during training (an empty or truncated file, a corrupt
frame, a file that is not a video) must not stop a run of days, nor vanish unnoticed: the source
skips it for another video, and :class:`BadSampleList` appends ``path<TAB>reason`` to
``bad_samples.tsv`` in the run folder. The trainer stops the run when their share passes
``max_bad_sample_ratio``. An evaluation lists the validation videos it cannot read in
``bad_samples_val.tsv`` beside its results and scores the others.
"""
import os
import warnings

from src.utils.command import UserError
from src.utils.io import atomic_write

__all__ = ["BAD_SAMPLES_FILE", "BadSampleList", "TooManyBadSamples", "count_bad_samples"]

BAD_SAMPLES_FILE = "bad_samples.tsv"


class TooManyBadSamples(UserError):
    """More of the samples read were unreadable than ``max_bad_sample_ratio`` allows."""


def _one_field(text: str) -> str:
    return " ".join(str(text).split())


class BadSampleList:
    """Appends to ``file`` one line per unreadable sample, one ``write`` each (loader worker processes
    append at once); the first of each process is also a warning naming the list."""

    def __init__(self, file: str):
        self.file = file
        self._warned = False

    def add(self, path: str, reason: str, warn: bool = True) -> None:
        """List ``path``; ``warn=False`` for callers that report it themselves."""
        folder = os.path.dirname(self.file)
        if folder:
            os.makedirs(folder, exist_ok=True)
        descriptor = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, f"{_one_field(path)}\t{_one_field(reason)}\n".encode("utf-8"))
        finally:
            os.close(descriptor)
        if warn and not self._warned:
            self._warned = True
            warnings.warn(f"unreadable sample skipped: {path} ({reason}); it and any further ones are listed in "
                          f"{self.file}")


    def deduplicate(self) -> None:
        """Rewrite the list (atomically) with each path once, in the order first listed, with its latest
        reason: an evaluation repeated every epoch finds the same unreadable videos again."""
        try:
            with open(self.file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return
        reasons = {}
        for line in lines:
            path, _, reason = line.partition("\t")
            reasons[path] = reason
        if len(reasons) < len(lines):
            with atomic_write(self.file) as handle:
                handle.write("".join(f"{path}\t{reason}\n" for path, reason in reasons.items()))


def count_bad_samples(file: str) -> int:
    """Lines of a bad-sample list (0 when there is none)."""
    try:
        with open(file, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0
