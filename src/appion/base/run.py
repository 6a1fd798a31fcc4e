"""Start and finish a run: session, project, run directory, job status and provenance.

Every entry point (the classic drop-ins, ``appion pipeline``, ``appion demo``) turns
its command line into a :class:`RunRequest` and an
:class:`~appion.base.selection.ImageSelection` and runs inside
:func:`~appion.base.job.job_guard`::

    with job_guard() as job:
        run = prepare_run(request, selection, step_names=..., program=..., job=job)
        return run_pipeline(steps, run, settings=settings)

:func:`prepare_run` records the job row (``R``) and hands it to the guard as soon as
it exists; the guard sets its status on the way out: ``E`` when anything raises
after that (writing the provenance, building the steps, the controller, Ctrl-C),
``D`` when the block ends normally, unless the run already ended as ``E``
(:func:`~appion.base.loop.run_pipeline` returning 1 sets it).
"""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sinedon
from appion.base.errors import AppionError, UsageError
from appion.base.job import RunJob, job_guard
from appion.base.retrieve.session import check_preset, find_session, session_project
from appion.base.selection import ImageSelection
from appion.base.signals import deferred
from appion.base.step import RunContext
from appion.base.store import jobs, provenance
from appion.base.store.provenance import ParamUsage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """What the command line asks of a run (classic ``appionScript`` flags), checked.

    ``rundir`` and ``runname`` may be ``None`` until :func:`prepare_run` settles them
    from the session; ``params`` are the run's ``ScriptParamValue`` usages.
    """

    procdir: str                              # classic processing folder
    runname: str | None = None                # --runname
    rundir: str | None = None                 # --rundir
    projectid: int | None = None              # --projectid
    description: str = ""                     # --description
    commit: bool = True                       # --commit / --no-commit
    dry_run: bool = False                     # --dry-run
    jobid: int | None = None                  # --jobid
    jobtype: str | None = None                # --jobtype
    params: tuple[ParamUsage, ...] = ()


def default_runname() -> str:
    """Classic default: a timestamp such as ``run24nov26131500`` (``%y%b%d%H%M%S``)."""
    return datetime.datetime.now().strftime("run%y%b%d%H%M%S").lower()


def default_rundir(image_path: str, procdir: str, runname: str) -> Path:
    """Classic rule: image path with ``leginon`` -> ``appion``, minus ``/rawdata``."""
    base = image_path.replace("leginon", "appion")
    base = base.removesuffix("/").removesuffix("/rawdata")
    return Path(base) / procdir / runname


def settle_rundir(request: RunRequest, image_path: str | None) -> tuple[str, Path]:
    """The run name and absolute run directory, as classic Appion derives them."""
    runname = request.runname or (Path(request.rundir).name if request.rundir
                                  else default_runname())
    if request.rundir:
        return runname, Path(os.path.abspath(request.rundir))
    if not image_path:
        raise UsageError("no --rundir given and the session has no image path to "
                         "derive it from; give --rundir")
    return runname, Path(os.path.abspath(default_rundir(image_path, request.procdir,
                                                        runname)))


def program_name() -> str:
    """The running script's name."""
    return Path(sys.argv[0]).name


def function_name(program: str) -> str:
    """Classic ``functionname``: the program's base name without ``.py``."""
    name = Path(program).name
    return name[:-3] if name.endswith(".py") else name


def jobtype(request: RunRequest, program: str) -> str:
    """``--jobtype`` when given, else the classic web's jobtype of ``program``."""
    return request.jobtype or jobs.default_jobtype(function_name(program))


def _make_rundir(rundir: Path) -> None:
    try:
        rundir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AppionError(f"cannot create run directory {rundir}: {error.strerror}; check "
                          "the permissions or give another --rundir") from None


def _refuse_a_second_controller(rundir: Path) -> None:
    """Fail before any row is touched when a controller already holds the run directory
    (its job row must stay ``R``; ``run_pipeline`` takes the lock itself)."""
    from appion.base.loop.state import already_running, lock_owner
    owner = lock_owner(rundir)
    if owner:
        raise already_running(owner, rundir)


@dataclass(frozen=True)
class _Settled:
    """The run's place once the session is known."""

    runname: str
    rundir: Path
    projectid: int
    session: dict[str, Any]


def _start_job(request: RunRequest, place: _Settled, program: str) -> int:
    """The job row, set to ``R`` with the batch system's job id when run by one."""
    batch_job_id = jobs.parse_cluster_job_id(os.environ.get("SLURM_JOB_ID"))
    if request.jobid is not None:
        return jobs.mark_given_job_running(request.jobid, batch_job_id)
    return jobs.find_or_start_job(
        rundir=str(place.rundir), runname=place.runname,
        jobtype=jobtype(request, program), session_id=place.session["id"],
        user=getpass.getuser(), cluster=socket.gethostname(), cluster_job_id=batch_job_id)


def _record_start(request: RunRequest, place: _Settled, program: str, job: RunJob) -> int:
    """Job row and ``Script*`` provenance; returns the ``ScriptProgramRun`` id.
    ``job.id`` is set before the provenance is written, so that a guard marks the job
    ``E`` if that fails."""
    # A stop signal waits until the rows are written: the guard then knows the job row,
    # and no query is cut off halfway (that would leave the connection unusable for the
    # guard's own update of the row).
    with deferred():
        job.id = _start_job(request, place, program)
        return provenance.record_program_run(
            program=function_name(program), runname=place.runname, rundir=str(place.rundir),
            job_id=job.id, params=settled_params(request.params, place))


#: Parameters recorded with their settled values (classic records those, not the flags').
SETTLED_PARAMS = ("projectid", "rundir", "runname")


def settled_params(params: tuple[ParamUsage, ...], place: _Settled) -> list[ParamUsage]:
    """``params`` with the settled run name, directory and project, ordered by name."""
    settled = {"projectid": str(place.projectid), "rundir": str(place.rundir),
               "runname": place.runname}
    merged = [param for param in params if param.name not in settled]
    merged += [ParamUsage(name, value, f"--{name}={value}")
               for name, value in settled.items()]
    return sorted(merged, key=lambda param: param.name)


def _session_and_project(request: RunRequest, selection: ImageSelection
                         ) -> tuple[dict[str, Any], int]:
    """The run's session and project (the session's when not given); sinedon is set up
    for that project."""
    sinedon.setup(projectid=request.projectid)
    session = find_session(selection)
    projectid = session_project(session, request.projectid)
    if projectid != request.projectid:
        sinedon.setup(projectid=projectid)
    return session, projectid


def _settle(request: RunRequest, selection: ImageSelection) -> _Settled:
    session, projectid = _session_and_project(request, selection)
    check_preset(session, selection.preset,
                 waiting=selection.waits_for_more and not request.dry_run)
    runname, rundir = settle_rundir(request, session.get("image_path"))
    return _Settled(runname, rundir, projectid, session)


def prepare_run(request: RunRequest, selection: ImageSelection, *,
                step_names: list[str] | tuple[str, ...], program: str | None = None,
                job: RunJob | None = None) -> RunContext:
    """Set up the databases, find the session and project, settle the run directory and
    record the job (into ``job``, the entry point's :func:`job_guard`, when given).

    ``program`` defaults to the running script's name.  With ``request.dry_run``
    nothing is created or written; with ``--no-commit`` the run directory is made but
    no row.
    """
    place = _settle(request, selection)
    program = program or program_name()
    job = job if job is not None else RunJob()
    program_run_id = None
    if not request.dry_run:
        _refuse_a_second_controller(place.rundir)
        _make_rundir(place.rundir)
        if request.commit:
            program_run_id = _record_start(request, place, program, job)
    log.info("run %s of session %s (project %s) in %s (job %s)", place.runname,
             place.session["name"], place.projectid, place.rundir, job.id)
    return RunContext(runname=place.runname, rundir=place.rundir,
                      projectid=place.projectid, session=place.session,
                      selection=selection, commit=request.commit,
                      dry_run=request.dry_run, step_names=tuple(step_names), job=job,
                      program_run_id=program_run_id)


def finish_run(run: RunContext, status: str) -> None:
    """Set the run's job status (``D`` done, ``E`` error) when it committed a job row."""
    run.job.finish(status)


__all__ = ["RunJob", "RunRequest", "default_rundir", "default_runname", "finish_run",
           "function_name", "job_guard", "jobtype", "prepare_run", "program_name",
           "settle_rundir"]
