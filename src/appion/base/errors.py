"""User-facing errors.

Anything a user can cause (a bad flag, a missing file, an unreachable database)
raises :class:`AppionError` with one line that names the thing and says what to
do.  The command-line entry points print that line and exit non-zero, never a
traceback.

Whether another attempt at a failed task can succeed is decided here, once, by
the ``retryable`` attribute of each class (see :func:`is_retryable`): a bad flag,
an unreadable input or a missing program stays bad however often the task is
retried; a crashed or timed-out engine, or a movie that is not there yet, may not.
"""

from __future__ import annotations


class AppionError(Exception):
    """A user mistake or an unusable input, explained in one line."""

    exit_code = 1
    #: Whether another attempt at the same task may succeed (a mistake does not heal).
    retryable = False

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(AppionError):
    """A bad command line (exit status 2, like argparse)."""

    exit_code = 2


class InputFileError(AppionError):
    """An input file is unreadable, truncated or of the wrong shape: it stays so."""


class InputNotReady(InputFileError):
    """An input that is not there yet (a movie still being transferred): it may arrive."""

    retryable = True


class OutputError(AppionError):
    """An output cannot be written: the disk is full, the file system read-only, the
    folder not writable, or the destination is not a regular file of ours.  Retrying
    the same task does not help until someone frees space or fixes the folder."""


class EngineError(AppionError):
    """An external program failed, crashed or timed out (another attempt may succeed)."""

    retryable = True


class EngineConfigError(EngineError):
    """The engine cannot run at all: its program is missing, of an unsupported version,
    or refuses the configuration.  No attempt at any image can succeed."""

    retryable = False


def is_retryable(error: BaseException | None) -> bool:
    """Whether a task that failed with ``error`` is worth another attempt.

    Appion's own errors say so by their class; anything else (a worker that died, an
    out-of-memory, a network hiccup) is assumed transient.
    """
    return bool(getattr(error, "retryable", True))


def describe_error(error: BaseException | None) -> str:
    """``"<ErrorType>: <first line>"`` of an exception, for logs and ``failed.jsonl``."""
    if error is None:
        return "unknown error"
    text = str(error).strip().splitlines()
    name = type(error).__name__
    return f"{name}: {text[0]}" if text else name
