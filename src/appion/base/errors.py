"""User-facing errors.

Anything a user can cause (a bad flag, a missing file, an unreachable database)
raises :class:`AppionError` with one line that names the thing and says what to
do.  The command-line entry points print that line and exit non-zero, never a
traceback.
"""

from __future__ import annotations


class AppionError(Exception):
    """A user mistake or an unusable input, explained in one line."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(AppionError):
    """A bad command line (exit status 2, like argparse)."""

    exit_code = 2


class InputFileError(AppionError):
    """An input file is missing, truncated or of the wrong shape."""


class EngineError(AppionError):
    """An external program failed, timed out or spoke an unknown protocol."""
