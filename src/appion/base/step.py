"""The contract between the controller and a processing step.

A step (motion correction, CTF estimation, …) is a module-level object with:

* ``name``: short name (``"motioncor"``, ``"ctf"``), used in Dask keys and logs;
* ``init_run(run) -> None``: once per run, in the controller: the run's own rows
  (``ApDDStackRunData``, ``ApAceRunData`` …), idempotently;
* ``done_image_ids(run) -> set[int]``: the source images this run has already stored;
* ``prepare(run, image_ids) -> list[Task]``: in the controller: read the images'
  metadata in bulk and compute each task's parameters with pure functions;
* ``run_task(task) -> Result``: on a worker: read files, compute, write outputs under
  the run directory, return a frozen Result.  Never touches a database.  Raises on
  failure (an :class:`~appion.base.errors.AppionError` for a bad input);
* ``store(run, result) -> list[int]``: in the controller, one transaction per image,
  idempotent; returns the ids of new images a following step consumes (the aligned
  micrographs for CTF), or ``[]``.

Optionally, ``check_programs() -> None``: once per run, before any image is taken,
on a worker (where the engines run; no database): raise an
:class:`~appion.base.errors.EngineConfigError` when the chosen engine's program is
missing or unusable, so that the run stops with one line instead of failing every
image (see :mod:`appion.base.loop.preflight`).

A task that raises is retried only when its error may heal
(:func:`appion.base.errors.is_retryable`): a bad option, an unreadable input or a
missing program is recorded as failed at once; a crashed engine, or a movie not
there yet (:class:`~appion.base.errors.InputNotReady`), is tried again.

Tasks and Results are frozen dataclasses holding plain data (paths, numbers,
tuples), so they pickle cheaply to any Dask worker.  Every Task has ``image_id``
(the source image); the controller gives each attempt its deterministic Dask key.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class RunContext:
    """Everything a step needs to know about the run, computed once by the controller.

    ``options`` is the parsed command line (classic flags keep their classic
    ``dest`` names); ``session`` is the ``SessionData`` row as a dict.
    """

    runname: str
    rundir: Path
    projectid: int | None
    session: dict[str, Any]
    options: argparse.Namespace
    commit: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Step(Protocol):
    name: str

    def init_run(self, run: RunContext) -> None: ...

    def done_image_ids(self, run: RunContext) -> set[int]: ...

    def prepare(self, run: RunContext, image_ids: list[int]) -> list[Any]: ...

    def run_task(self, task: Any) -> Any: ...

    def store(self, run: RunContext, result: Any) -> list[int]: ...


def run_id_or_init(find: Callable[[RunContext], int | None],
                   init: Callable[[RunContext], None], run: RunContext) -> int | None:
    """The run's id from ``find``, after ``init`` writes the run's rows if it has none yet."""
    run_id = find(run)
    if run_id is None:
        init(run)
        run_id = find(run)
    return run_id


def cached_run_id(run: RunContext, key: str, find: Callable[[], int | None]) -> int | None:
    """``run.extra[key]``, looked up with ``find()`` until the run's rows exist."""
    if key not in run.extra:
        found = find()
        if found is None:
            return None
        run.extra[key] = found
    return run.extra[key]
