"""SIGTERM and SIGINT from the first instant of a command: a clean stop, never a kill.

:func:`stop_handlers` is the first thing an entry point does
(:func:`appion.cli.entry.run_entry_point`): until the controller installs its own
handlers (let running tasks finish, then exit 0), a signal raises :class:`Stopped`
in the main thread, so that :func:`appion.base.run.job_guard` marks the job row and
the entry point prints one line and exits ``128 + signal number`` (143 for SIGTERM,
130 for SIGINT).  A signal that arrives while a job row is being written
(:func:`deferred`) is held until the write is over, so that a row is never left
``R`` by a signal landing between its insert and the guard learning its id.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_state: dict[str, int] = {"deferring": 0, "pending": 0}


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGINT before the controller runs (a ``KeyboardInterrupt``, so that
    whatever cleans up after Ctrl-C cleans up after SIGTERM too)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum: int, frame) -> None:
    if _state["deferring"]:
        _state["pending"] = signum
        return
    raise Stopped(signum)


@contextlib.contextmanager
def stop_handlers() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Stopped` inside the block (main thread only);
    the previous handlers are back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop signal until the block is over (a job row being written), then act."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
        pending = _state["pending"]
        if pending and not _state["deferring"]:
            _state["pending"] = 0
            if signal.getsignal(pending) is _handler:
                raise Stopped(pending)
