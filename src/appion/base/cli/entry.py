"""Run a command-line entry point: one clear line for user errors, never a traceback."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence

from sinedon.errors import SinedonError

from appion.base.errors import AppionError

log = logging.getLogger(__name__)


def run_entry_point(prog: str, main: Callable[[Sequence[str] | None], int | None],
                    argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)`` and turn user errors into one line on stderr and an exit code."""
    try:
        status = main(argv)
    except (AppionError, SinedonError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return int(status or 0)


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Plain log lines on stderr; ``-v`` for debug, ``-q`` for warnings only."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("distributed", "dask_jobqueue", "matplotlib", "tornado", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
