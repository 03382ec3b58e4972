"""Stop signals: SIGINT (Ctrl-C) and SIGTERM turned into :class:`StopRequested`.

A training stops at its next safe point (:class:`StopSignals`, checked by the trainer) and prints how
to resume; a command with nothing to save stops at once (``at_once``, used by
:func:`src.utils.command.run_command`). A terminal's Ctrl-C that MindSpore's runtime relays as SIGTERM
is known for the interrupt it was by a small witness process. Standard library only: every command
imports this first.
"""
import os
import select
import signal
import subprocess
import sys
import threading
from typing import Optional

__all__ = ["StopRequested", "StopSignals"]


class StopRequested(Exception):
    """Raised at a safe point (between steps, after an epoch's checkpoint) once SIGINT or SIGTERM came;
    its message is 'interrupted (SIGINT)' or 'stopped by SIGTERM'."""

    def __init__(self, signum: int):
        name = signal.Signals(signum).name
        super().__init__(f"interrupted ({name})" if signum == signal.SIGINT else f"stopped by {name}")
        self.signum = signum
        self.where = ""  # set by the code that stopped: which epoch / step


# A terminal's Ctrl-C sends SIGINT to the whole foreground process group, and MindSpore's runtime,
# when it lands during a step, turns it into a SIGTERM to its own process. This witness, one small
# process in the same group, writes a byte for each SIGINT it gets, so that such a SIGTERM is known
# for the interrupt it was; it ends when its stdin (held by the trainer) closes.
_INTERRUPT_WITNESS = ("import os, signal, sys\n"
                      "signal.signal(signal.SIGINT, lambda *_: os.write(1, b'I'))\n"
                      "sys.stdin.buffer.read()\n")


class StopSignals:
    """While active, SIGINT and SIGTERM only record that a stop was asked for; :meth:`check` raises
    :class:`StopRequested` at the caller's next safe point. A second signal stops at once (the default
    action), for a run that does not reach a safe point; with ``grace_s`` the process also exits
    (code 128 + signal) when no safe point came within that time. With ``at_once`` (a command with
    nothing to save: evaluation, export) the signal raises :class:`StopRequested` where the program is.
    Only the main thread can install handlers; elsewhere this does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, logger=None, grace_s: Optional[float] = None, at_once: bool = False):
        self.logger = logger
        self.grace_s = grace_s
        self.at_once = at_once
        self.signum: Optional[int] = None
        self._previous = {}
        self._witness: Optional[subprocess.Popen] = None

    def _give_up(self) -> None:
        if self.logger:
            self.logger.error(f"no safe point within {self.grace_s:.0f} s of {signal.Signals(self.signum).name} "
                              f"(another rank stopped first?): exiting now; resume from the newest checkpoint")
        os._exit(128 + self.signum)

    def _handle(self, signum, _frame):
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if signum == signal.SIGTERM and self._interrupt_witnessed():
            signum = signal.SIGINT
        self.signum = signum
        if self.at_once:
            raise StopRequested(signum)
        if self.logger:
            self.logger.warning(f"{signal.Signals(signum).name} received: stopping after the current step "
                                f"(send it again to stop at once)")
        if self.grace_s is not None:
            timer = threading.Timer(self.grace_s, self._give_up)
            timer.daemon = True
            timer.start()

    def _interrupt_witnessed(self, wait_s: float = 0.2) -> bool:
        """Whether the witness saw a SIGINT (waiting briefly: both signals come from one Ctrl-C)."""
        if self._witness is None:
            return False
        readable, _, _ = select.select([self._witness.stdout], [], [], wait_s)
        return bool(readable) and b"I" in os.read(self._witness.stdout.fileno(), 64)

    def check(self) -> None:
        if self.signum is not None:
            raise StopRequested(self.signum)

    def install(self) -> None:
        """(Re)install the handlers: MindSpore's runtime installs its own SIGINT handler while it runs
        (it turns Ctrl-C into SIGTERM), so the trainer reinstalls these after each step."""
        try:
            previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        except ValueError:  # not the main thread
            return
        if not self._previous:
            self._previous = previous

    def __enter__(self) -> "StopSignals":
        self.install()
        if self._previous:  # handlers installed: this is the main thread of the run
            try:
                self._witness = subprocess.Popen([sys.executable, "-c", _INTERRUPT_WITNESS], stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError:
                self._witness = None  # without it a Ctrl-C during a step reads as SIGTERM
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        if self._witness is not None:
            self._witness.stdin.close()
            self._witness.stdout.close()
            try:
                self._witness.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._witness.kill()
