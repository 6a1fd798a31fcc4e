"""Start and finish a run: session, run directory, job status and provenance.

Every classic drop-in and ``appion pipeline`` call :func:`prepare_run` once after
parsing their options, hand the :class:`~appion.base.step.RunContext` to the
controller, and call :func:`finish_run` with ``D`` (done) or ``E`` (error).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
from pathlib import Path

import sinedon

from appion.base.cli.classic_options import (check_classic_options, finish_classic_options,
                                             ignored_classic_flags, program_name)
from appion.base.errors import AppionError
from appion.base.retrieve.session import check_session_project, find_session
from appion.base.step import RunContext
from appion.base.store import jobs, provenance

log = logging.getLogger(__name__)


def function_name(program: str) -> str:
    """Classic ``functionname``: the program's base name without ``.py``."""
    name = Path(program).name
    return name[:-3] if name.endswith(".py") else name


def _make_rundir(rundir: str) -> None:
    try:
        Path(rundir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AppionError(f"cannot create run directory {rundir}: {error.strerror}; check "
                          "the permissions or give another --rundir") from None


def _record_start(options: argparse.Namespace, session: dict, program: str,
                  parser: argparse.ArgumentParser | None) -> dict:
    """Job row (R, with the Slurm job id when run by Slurm) and Script* provenance;
    returns their ids."""
    jobtype = function_name(program).lower()
    cluster_job_id = os.environ.get("SLURM_JOB_ID")
    if getattr(options, "jobid", None) is not None:
        job_id = jobs.mark_given_job_running(options.jobid, cluster_job_id)
    else:
        job_id = jobs.find_or_start_job(
            rundir=options.rundir, runname=options.runname, jobtype=jobtype,
            session_id=session["id"], user=getpass.getuser(), cluster=socket.gethostname(),
            cluster_job_id=cluster_job_id)
    program_run_id = provenance.record_program_run(
        program=function_name(program), runname=options.runname, rundir=options.rundir,
        job_id=job_id, session_id=session["id"],
        params=provenance.param_usages(options, parser))
    return {"job_id": job_id, "program_run_id": program_run_id}


def prepare_run(options: argparse.Namespace, *, step_names: list[str],
                parser: argparse.ArgumentParser | None = None,
                program: str | None = None) -> RunContext:
    """Set up the databases, find the session, settle the run directory and record the job.

    ``parser`` (optional) gives the real flags for the ``ScriptParamValue`` usages;
    ``program`` defaults to the running script's name.  With ``options.dry_run`` nothing
    is created or written; with ``--no-commit`` the run directory is made but no row.
    """
    check_classic_options(options)
    for warning in ignored_classic_flags(options):
        log.warning(warning)
    sinedon.setup(projectid=options.projectid)
    session = find_session(options)
    check_session_project(session, options.projectid)
    finish_classic_options(options, session.get("image_path"))
    program = program or program_name()
    extra: dict = {"step_names": list(step_names), "job_id": None, "program_run_id": None}
    if not getattr(options, "dry_run", False):
        _make_rundir(options.rundir)
        if options.commit:
            extra.update(_record_start(options, session, program, parser))
    log.info("run %s of session %s in %s (job %s)", options.runname, session["name"],
             options.rundir, extra["job_id"])
    return RunContext(runname=options.runname, rundir=Path(options.rundir),
                      projectid=options.projectid, session=session, options=options,
                      commit=bool(options.commit), extra=extra)


def finish_run(run: RunContext, status: str) -> None:
    """Set the run's job status (``D`` done, ``E`` error) when it committed a job row."""
    if status not in jobs.JOB_STATUSES:
        raise ValueError(f"unknown job status {status!r}")
    job_id = run.extra.get("job_id")
    if run.commit and job_id is not None:
        jobs.set_job_status(job_id, status)
        log.info("job %s of run %s set to %s (%s)", job_id, run.runname, status,
                 jobs.JOB_STATUSES[status])
