"""The contract between the controller and a processing step.

A step (motion correction, CTF estimation, …) is built once per run from its typed
options (its package's ``cli`` turns the flags into those) and lives in the
controller.  It has:

* ``name``: short name (``"motioncor"``, ``"ctf"``), used in Dask keys and logs;
* ``run_task``: the module-level function of the step's ``worker`` module that runs
  one task on a Dask worker (``Task -> Result``): read files, compute, write outputs
  under the run directory, return a frozen result.  It is pickled by reference, so
  a worker imports only the step's worker module, which never imports ``sinedon``
  or Django.  It raises on failure (an :class:`~appion.base.errors.AppionError` for
  a bad input);
* ``init_run(run) -> None``: once per run: the run's own rows (``ApDDStackRunData``,
  ``ApAceRunData`` …), idempotently;
* ``done_image_ids(run) -> set[int]``: the source images this run has already stored;
* ``prepare(run, image_ids) -> list[Task]``: read the images' metadata in bulk and
  compute each task's parameters with pure functions; writes no file;
* ``store(run, result) -> list[int]``: one transaction per image, idempotent; returns
  the ids of new images a following step consumes (the aligned micrographs for
  CTF), or ``[]``;
* ``program_check() -> Callable[[], object] | None``: a picklable check, run once on
  a worker before any image is taken, that raises an
  :class:`~appion.base.errors.EngineConfigError` when the chosen engine's program
  is missing or unusable (``None``: nothing to check).

A step that a classic drop-in runs also has ``dry_run_record(task) -> dict``: the
JSON line ``--dry-run`` prints for one pending image.

A step that can report what it stored (:class:`ReportingStep`, read by ``appion
serve``) also has ``summaries(run, image_ids) -> {image_id: dict}`` (the stored
results of those images of the run, plain JSON-able values, images without a stored
result omitted) and ``classic_runs(session_id) -> [run name]`` (the runs of its kind
already recorded for the session in the classic tables, by any program).  It may
also have ``details(run, image_id) -> dict`` (:class:`DetailedStep`): everything
about one image for its page (``{}`` when the run has not stored it); a
``ReportingStep`` without it still reports (:func:`step_details` answers ``{}``).

A task that raises is retried only when its error may heal
(:func:`appion.base.errors.is_retryable`).  Tasks and results are frozen
dataclasses of plain data (paths, numbers, tuples), so they pickle cheaply; every
task has ``image_id`` (the source image).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from appion.base.selection import ImageSelection

if TYPE_CHECKING:
    from appion.base.job import RunJob


def _new_job() -> RunJob:
    from appion.base.job import RunJob
    return RunJob()


@dataclass(frozen=True)
class RunContext:
    """Everything a step needs to know about the run, settled once by the controller.

    ``session`` is the ``SessionData`` row as a dict; ``job`` the run's job row (its
    id is ``None`` without one); ``program_run_id`` its ``ScriptProgramRun`` row.
    """

    runname: str
    rundir: Path
    projectid: int | None
    session: Mapping[str, Any]
    selection: ImageSelection = field(default_factory=ImageSelection)
    commit: bool = True
    dry_run: bool = False
    step_names: tuple[str, ...] = ()
    job: RunJob = field(default_factory=_new_job)
    program_run_id: int | None = None

    @property
    def writes_rows(self) -> bool:
        """Whether the run records anything in the database (not ``--no-commit`` or
        ``--dry-run``)."""
        return self.commit and not self.dry_run

    @property
    def job_id(self) -> int | None:
        return self.job.id


@runtime_checkable
class Step(Protocol):
    name: str
    run_task: Callable[[Any], Any]

    def init_run(self, run: RunContext) -> None: ...

    def done_image_ids(self, run: RunContext) -> set[int]: ...

    def prepare(self, run: RunContext, image_ids: Sequence[int]) -> list[Any]: ...

    def store(self, run: RunContext, result: Any) -> list[int]: ...

    def program_check(self) -> Callable[[], object] | None: ...


@runtime_checkable
class ClassicStep(Step, Protocol):
    """A step a classic drop-in runs: it can say what ``--dry-run`` prints."""

    def dry_run_record(self, task: Any) -> dict[str, Any]: ...


@runtime_checkable
class ReportingStep(Step, Protocol):
    """A step that reports what it stored, read on the controller side (the database).

    ``summaries(run, image_ids)``: ``{image_id: results}`` for the images of
    ``image_ids`` (the ids the step takes) that ``run`` has stored, each a dict of plain
    JSON-able values (numbers, strings, ``None``) read in bulk; images without a stored
    result are omitted.  ``classic_runs(session_id)``: the names of the runs of the
    step's kind recorded for the session in the classic tables (by Appion or by the
    classic web), oldest first; ``[]`` when the site has no such tables.
    """

    def summaries(self, run: RunContext, image_ids: Sequence[int]
                  ) -> dict[int, dict[str, Any]]: ...

    def classic_runs(self, session_id: int) -> list[str]: ...


@runtime_checkable
class DetailedStep(ReportingStep, Protocol):
    """A reporting step that also tells everything about one image, for its page.

    ``details(run, image_id)``: plain JSON-able values about one image of ``run`` (an
    id the step takes), read on the controller side: the step's stored values beyond
    the summary (a trajectory, a 1D profile), the run's files of it (absolute paths,
    ``None`` when absent) and the run's stored parameters.  ``{}`` when the run has
    not stored that image (or it is unknown).  Optional: a :class:`ReportingStep`
    need not have it.
    """

    def details(self, run: RunContext, image_id: int) -> dict[str, Any]: ...


def step_details(step: Step, run: RunContext, image_id: int) -> dict[str, Any]:
    """``step.details(run, image_id)`` for a :class:`DetailedStep`, else ``{}``."""
    if isinstance(step, DetailedStep):
        return step.details(run, image_id)
    return {}


class RunIds:
    """The id of a step's run row (``ApDDStackRunData``, ``ApAceRunData`` …) for each
    run, found with ``find(run)`` until the row exists and then kept: the one way every
    step finds its run."""

    def __init__(self, find: Callable[[RunContext], int | None]) -> None:
        self._find = find
        self._ids: dict[tuple[str, int], int] = {}

    @staticmethod
    def key(run: RunContext) -> tuple[str, int]:
        """A run as its name and session."""
        return run.runname, int(run.session["id"])

    def get(self, run: RunContext) -> int | None:
        """The run's id, or ``None`` while its row does not exist."""
        key = self.key(run)
        if key not in self._ids:
            found = self._find(run)
            if found is None:
                return None
            self._ids[key] = found
        return self._ids[key]

    def remember(self, run: RunContext, run_id: int) -> None:
        """Keep the id of a run row just written."""
        self._ids[self.key(run)] = run_id

    def get_or_init(self, run: RunContext, init: Callable[[RunContext], None]) -> int:
        """The run's id, after ``init(run)`` writes its rows when it has none yet."""
        found = self.get(run)
        if found is None:
            init(run)
            found = self.get(run)
        if found is None:
            raise RuntimeError(f"run {run.runname} has no run row after its init_run")
        return found


__all__ = ["ClassicStep", "DetailedStep", "ReportingStep", "RunContext", "RunIds", "Step",
           "step_details"]
