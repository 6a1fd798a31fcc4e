"""Before any image is taken: the programs the steps' engines need are there.

A step may define ``check_programs()`` (see :mod:`appion.base.step`); a step that
keeps its engine choice in ``step.options`` (``engine``, ``executable``) and defines
none is checked with the finder of its engine in :data:`ENGINE_FINDERS`.  The checks
run once, on a worker, because that is where the engines run: a Slurm node's
``PATH`` (its ``prologue``, ``module load``) may differ from the controller's.  A
failure ends the run at its start with one line (an
:class:`~appion.base.errors.EngineConfigError`), not with one failure per image.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from appion.base.errors import AppionError, EngineConfigError

log = logging.getLogger("appion.loop")

#: Engine name -> ``module:function`` finding its program from the configured
#: executable name (``None``: the usual names).  The function raises an
#: :class:`~appion.base.errors.EngineConfigError` when it is not found.
ENGINE_FINDERS = {
    "ctffind4": "appion.ctfestimation.calc.external.ctffind:find_executable",
    "gctf": "appion.ctfestimation.calc.external.gctf:find_executable",
}

#: How often the wait for the checks looks at the stop flag (seconds).
WAIT_STEP_S = 0.5


def find_engine_program(engine: str, executable: str | None) -> str:
    """The path of ``engine``'s program (see :data:`ENGINE_FINDERS`)."""
    module, _, function = ENGINE_FINDERS[engine].partition(":")
    return getattr(importlib.import_module(module), function)(executable)


def _options_check(step: Any) -> Callable[[], Any] | None:
    options = getattr(step, "options", None)
    engine = getattr(options, "engine", None)
    if engine not in ENGINE_FINDERS:
        return None
    return functools.partial(find_engine_program, engine, getattr(options, "executable", None))


def program_checks(steps: Sequence[Any]) -> list[Callable[[], Any]]:
    """One check per step whose engine drives an external program."""
    checks = []
    for step in steps:
        check = getattr(step, "check_programs", None) or _options_check(step)
        if check is not None:
            checks.append(check)
    return checks


def run_checks(checks: Sequence[Callable[[], Any]]) -> str | None:
    """On a worker: the first failing check's one line, or ``None`` when all pass."""
    for check in checks:
        try:
            check()
        except AppionError as error:
            return str(error)
    return None


def check_programs(client: Any, steps: Sequence[Any], *, key: str,
                   stop: threading.Event) -> None:
    """Run the steps' program checks on a worker of ``client`` and wait for them.

    Raises :class:`~appion.base.errors.EngineConfigError` with the first problem;
    returns at once when ``stop`` is set while waiting for a worker.
    """
    checks = program_checks(steps)
    if not checks:
        return
    log.info("checking the engines' programs on a worker")
    future = client.submit(run_checks, checks, key=key, pure=False)
    while not stop.is_set():
        try:
            problem = future.result(timeout=WAIT_STEP_S)
        except TimeoutError:
            continue
        if problem:
            raise EngineConfigError(problem)
        return
    future.cancel()
