"""Stop requests: SIGTERM, SIGINT and SIGUSR1 (``--runtime.stop_signals``) asked of a running command.

Clusters stop jobs with a signal and a grace period before SIGKILL: SLURM sends SIGTERM (or the ``--signal`` of the
batch script) ahead of the time limit and at preemption, Kubernetes sends SIGTERM and waits
``terminationGracePeriodSeconds``, a terminal sends SIGINT on Ctrl-C. Every command installs ``StopRequests`` for
its whole run:

* outside a ``deferred()`` block the first signal raises ``Interrupted`` where the program is, so the ``finally``
  clauses run (temporary files removed, the run directory's lock released) and the command exits with
  ``128 + signal`` (143 for SIGTERM, 130 for SIGINT, 138 for SIGUSR1): the status of a process that signal
  ended, which schedulers and shells read as "stopped, may be started again";
* inside ``deferred()`` (the training loop) the signal is only recorded (``requested``): the loop finishes its
  optimizer step, saves a checkpoint and then raises ``Interrupted`` itself, with the same exit status;
* after the first signal the handlers are reset to the system's default action, so a second signal ends the
  process at once, even inside a long C++ call (a checkpoint save): every save is atomic, so the previous
  checkpoint stays the newest usable one.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Sequence

NAMES = ("TERM", "INT", "USR1", "USR2", "HUP")
DEFAULT_SIGNALS = ("TERM", "INT", "USR1")


def signal_number(name: str) -> int:
    return int(getattr(signal, "SIG" + name.upper().removeprefix("SIG")))


def signal_name(number: int) -> str:
    return signal.Signals(number).name


class Interrupted(BaseException):
    """A stop signal ended the command; ``exit_code`` is 128 + the signal's number. A ``BaseException``, like
    ``KeyboardInterrupt``: no ``except Exception`` on the way out swallows it."""

    def __init__(self, signum: int, message: str | None = None):
        self.signum = signum
        super().__init__(message or f"stopped by {signal_name(signum)}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequests:
    """The process's stop-signal handlers (see the module docstring); one instance, ``STOP``."""

    def __init__(self) -> None:
        self.requested: int | None = None     # the first signal received
        self._deferred = 0
        self._previous: dict[int, object] = {}

    @contextlib.contextmanager
    def installed(self, names: Sequence[str] = DEFAULT_SIGNALS) -> Iterator["StopRequests"]:
        """Handle ``names`` for the block; the previous handlers are restored after it. Outside the main thread
        (where Python cannot set handlers) nothing is installed."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self.requested, self._deferred = None, 0
        numbers = [signal_number(n) for n in names]
        self._previous = {n: signal.signal(n, self._handle) for n in numbers}
        try:
            yield self
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, handler)
            self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        self.requested = signum
        for number in self._previous:
            signal.signal(number, signal.SIG_DFL)     # a second signal ends the process at once
        if not self._deferred:
            raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator["StopRequests"]:
        """Within the block a signal only sets ``requested``; the code polls it at safe points. A signal that
        arrived before the block is raised on entry."""
        if self.requested is not None and not self._deferred:
            raise Interrupted(self.requested)
        self._deferred += 1
        try:
            yield self
        finally:
            self._deferred -= 1


STOP = StopRequests()
