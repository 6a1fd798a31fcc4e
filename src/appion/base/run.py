"""Start and finish a run: session, project, run directory, job status and provenance.

Every entry point (the classic drop-ins, ``appion pipeline``, ``appion demo``) runs
inside :func:`job_guard`::

    with job_guard() as job:
        run = prepare_run(options, step_names=..., job=job)
        return run_pipeline(steps, run)

:func:`prepare_run` records the job row (``R``) and hands it to the guard as soon as
it exists; the guard sets its status on the way out: ``E`` when anything raises
after that (writing the provenance, building the steps, the controller, Ctrl-C),
``D`` when the block ends normally, unless the run already ended as ``E``
(:func:`~appion.base.loop.run_pipeline` returning 1 sets it).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sinedon
from sinedon.errors import SinedonError

from appion.cli.classic_options import (check_classic_options, finish_classic_options,
                                             ignored_classic_flags, program_name)
from appion.base.errors import AppionError
from appion.base.retrieve.session import check_preset, find_session, session_project
from appion.base.signals import deferred
from appion.base.step import RunContext
from appion.base.store import jobs, provenance

log = logging.getLogger(__name__)

#: ``run.extra`` key of the run's :class:`RunJob`.
JOB_KEY = "job"


@dataclass
class RunJob:
    """A run's ``ApAppionJobData`` row: ``id`` is ``None`` until the row is written (and
    stays so with ``--no-commit`` or ``--dry-run``); the final status is set once."""

    id: int | None = None
    final_status: str | None = None

    def finish(self, status: str) -> None:
        """Set the final status (``D`` done, ``E`` error) unless one is set already; a
        database unreachable at this point is logged, not raised."""
        if status not in jobs.JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        if self.id is None or self.final_status is not None:
            return
        self.final_status = status
        try:
            with deferred():
                jobs.set_job_status(self.id, status)
        except SinedonError as error:
            log.error("could not set the status of job %s to %s: %s", self.id, status, error)
            return
        log.info("job %s set to %s (%s)", self.id, status, jobs.JOB_STATUSES[status])


@contextlib.contextmanager
def job_guard(job: RunJob | None = None) -> Iterator[RunJob]:
    """The job's status on the way out: ``E`` when the block raises anything (an error,
    Ctrl-C), else ``D`` (unless the block finished the job already)."""
    job = job if job is not None else RunJob()
    try:
        yield job
    except BaseException:
        job.finish("E")
        raise
    job.finish("D")


def run_job(run: RunContext) -> RunJob:
    """The run's :class:`RunJob` (one is made for a context built without one)."""
    if JOB_KEY not in run.extra:
        run.extra[JOB_KEY] = RunJob(run.extra.get("job_id") if run.commit else None)
    return run.extra[JOB_KEY]


def function_name(program: str) -> str:
    """Classic ``functionname``: the program's base name without ``.py``."""
    name = Path(program).name
    return name[:-3] if name.endswith(".py") else name


def jobtype(options: argparse.Namespace, program: str) -> str:
    """``--jobtype`` when given, else the classic web's jobtype of ``program``."""
    return getattr(options, "jobtype", None) or jobs.default_jobtype(function_name(program))


def _make_rundir(rundir: str) -> None:
    try:
        Path(rundir).mkdir(parents=True, exist_ok=True)
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


def _start_job(options: argparse.Namespace, session: dict, program: str) -> int:
    """The job row, set to ``R`` with the batch system's job id when run by one."""
    batch_job_id = jobs.parse_cluster_job_id(os.environ.get("SLURM_JOB_ID"))
    if getattr(options, "jobid", None) is not None:
        return jobs.mark_given_job_running(options.jobid, batch_job_id)
    return jobs.find_or_start_job(
        rundir=options.rundir, runname=options.runname, jobtype=jobtype(options, program),
        session_id=session["id"], user=getpass.getuser(), cluster=socket.gethostname(),
        cluster_job_id=batch_job_id)


def _record_start(options: argparse.Namespace, session: dict, program: str,
                  parser: argparse.ArgumentParser | None, job: RunJob) -> dict:
    """Job row and ``Script*`` provenance; returns their ids.  ``job.id`` is set before
    the provenance is written, so that a guard marks the job ``E`` if that fails."""
    with deferred():  # a stop signal waits until the guard knows the row
        job.id = _start_job(options, session, program)
    program_run_id = provenance.record_program_run(
        program=function_name(program), runname=options.runname, rundir=options.rundir,
        job_id=job.id, params=provenance.param_usages(options, parser))
    return {"job_id": job.id, "program_run_id": program_run_id}


def _session_and_project(options: argparse.Namespace) -> dict:
    """The run's session; ``options.projectid`` becomes the session's project when not
    given, and sinedon is set up for it."""
    sinedon.setup(projectid=options.projectid)
    session = find_session(options)
    projectid = session_project(session, options.projectid)
    if projectid != options.projectid:
        options.projectid = projectid
        sinedon.setup(projectid=projectid)
    return session


def waits(options: argparse.Namespace) -> bool:
    """Whether the run waits for new images (classic ``--wait``; not with ``--no-wait``,
    ``--mrclist``, ``--limit`` or ``--dry-run``)."""
    return bool(getattr(options, "wait", True) and not getattr(options, "mrcnames", None)
                and getattr(options, "limit", None) is None
                and not getattr(options, "dry_run", False))


def prepare_run(options: argparse.Namespace, *, step_names: list[str],
                parser: argparse.ArgumentParser | None = None,
                program: str | None = None, job: RunJob | None = None) -> RunContext:
    """Set up the databases, find the session and project, settle the run directory and
    record the job (into ``job``, the entry point's :func:`job_guard`, when given).

    ``parser`` (optional) gives the real flags for the ``ScriptParamValue`` usages;
    ``program`` defaults to the running script's name.  With ``options.dry_run`` nothing
    is created or written; with ``--no-commit`` the run directory is made but no row.
    """
    check_classic_options(options)
    for warning in ignored_classic_flags(options):
        log.warning(warning)
    session = _session_and_project(options)
    check_preset(session, getattr(options, "preset", None), waiting=waits(options))
    finish_classic_options(options, session.get("image_path"))
    program = program or program_name()
    job = job if job is not None else RunJob()
    extra: dict = {"step_names": list(step_names), JOB_KEY: job, "job_id": None,
                   "program_run_id": None}
    if not getattr(options, "dry_run", False):
        _refuse_a_second_controller(Path(options.rundir))
        _make_rundir(options.rundir)
        if options.commit:
            extra.update(_record_start(options, session, program, parser, job))
    log.info("run %s of session %s (project %s) in %s (job %s)", options.runname,
             session["name"], options.projectid, options.rundir, extra["job_id"])
    return RunContext(runname=options.runname, rundir=Path(options.rundir),
                      projectid=options.projectid, session=session, options=options,
                      commit=bool(options.commit), extra=extra)


def finish_run(run: RunContext, status: str) -> None:
    """Set the run's job status (``D`` done, ``E`` error) when it committed a job row."""
    run_job(run).finish(status)
