"""Run a command-line entry point: one clear line for user errors, never a traceback.

:func:`run_entry_point` first installs the stop handlers (:mod:`appion.base.signals`):
SIGTERM or SIGINT before the controller takes over ends the command with one line
and exit status ``128 + signal`` (143, 130), its job row marked by the job guard.
What a user or the machine can cause (an ``AppionError``, a ``SinedonError``, an
``OSError`` such as a full disk or an unreadable file, text that is not UTF-8, an
allocation too large for the memory) is one line ``<prog>: error: <line>`` and a
non-zero exit; the traceback is logged at debug level (``-v``).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence

from appion.base.errors import AppionError
from appion.base.signals import Stopped, stop_handlers
from sinedon.errors import SinedonError

log = logging.getLogger(__name__)


def run_entry_point(prog: str, main: Callable[[Sequence[str] | None], int | None],
                    argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)`` and turn user errors into one line on stderr and an exit code."""
    with stop_handlers():
        try:
            return _run(prog, main, argv)
        except Stopped as stopped:  # a signal while the error was being reported
            return stopped.exit_code


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _error(prog: str, line: str, code: int = 1) -> int:
    print(f"{prog}: error: {line}", file=sys.stderr)
    return code


def describe_os_error(error: OSError) -> str:
    """One line for an ``OSError`` that reached the entry point."""
    what = error.strerror or _first_line(error) or type(error).__name__
    if error.filename is not None:
        what = f"{what}: {error.filename}"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{what}; free space on that file system and run again"
    if error.errno == errno.EROFS:
        return f"{what}; give a writable folder"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"{what}; check the permissions"
    return what


def _run(prog: str, main: Callable[[Sequence[str] | None], int | None],
         argv: Sequence[str] | None) -> int:
    try:
        status = main(argv)
    except (AppionError, SinedonError) as error:
        return _error(prog, str(error), getattr(error, "exit_code", 1))
    except Stopped as stopped:
        print(f"{prog}: stopped by {stopped}", file=sys.stderr)
        return stopped.exit_code
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as error:
        log.debug("%s failed", prog, exc_info=True)
        return _error(prog, describe_os_error(error))
    except UnicodeDecodeError as error:
        log.debug("%s failed", prog, exc_info=True)
        return _error(prog, f"a file that should be text is not UTF-8 text ({error.reason} "
                            f"at byte {error.start}); check the files given")
    except MemoryError:
        log.debug("%s failed", prog, exc_info=True)
        return _error(prog, "not enough memory for what was asked (an image or option "
                            "far larger than usual?); check the sizes given")
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Plain log lines on stderr; ``-v`` for debug, ``-q`` for warnings only."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("distributed", "dask_jobqueue", "matplotlib", "tornado", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
