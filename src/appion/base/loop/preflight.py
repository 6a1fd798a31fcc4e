"""Before any image is taken: the programs the steps' engines need are there.

Each step says what to check with ``program_check()`` (see :mod:`appion.base.step`):
a picklable callable, or ``None`` when its engine needs no external program.  The
checks run once, on a worker, because that is where the engines run: a Slurm node's
``PATH`` (its ``prologue``, ``module load``) may differ from the controller's.  A
failure ends the run at its start with one line (an
:class:`~appion.base.errors.EngineConfigError`), not with one failure per image.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from appion.base.errors import AppionError, EngineConfigError
from appion.base.step import Step

log = logging.getLogger("appion.loop")

#: How often the wait for the checks looks at the stop flag (seconds).
WAIT_STEP_S = 0.5


def program_checks(steps: Sequence[Step]) -> list[Callable[[], Any]]:
    """One check per step whose engine drives an external program."""
    checks = (step.program_check() for step in steps)
    return [check for check in checks if check is not None]


def run_checks(checks: Sequence[Callable[[], Any]]) -> str | None:
    """On a worker: the first failing check's one line, or ``None`` when all pass."""
    for check in checks:
        try:
            check()
        except AppionError as error:
            return str(error)
    return None


#: Dask priority of the check (tasks have their stage number, 0 and up).
PRIORITY = 100


def check_programs(client: Any, steps: Sequence[Step], *, key: str,
                   stop: threading.Event) -> None:
    """Run the steps' program checks on a worker of ``client`` and wait for them.

    Raises :class:`~appion.base.errors.EngineConfigError` with the first problem;
    returns at once when ``stop`` is set while waiting for a worker.
    """
    checks = program_checks(steps)
    if not checks:
        return
    log.info("checking the engines' programs on a worker")
    # ahead of queued tasks: a run starting beside others waits for one free thread only
    future = client.submit(run_checks, checks, key=key, pure=False, priority=PRIORITY)
    while not stop.is_set():
        try:
            problem = future.result(timeout=WAIT_STEP_S)
        except TimeoutError:
            continue
        if problem:
            raise EngineConfigError(problem)
        return
    future.cancel()
