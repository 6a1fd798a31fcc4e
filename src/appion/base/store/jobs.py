"""Job status rows (``ApAppionJobData``), as classic ``appionScript`` keeps them.

Classic semantics: the web inserts a row with status ``Q`` and passes ``--jobid``;
a run started without it looks up (run directory, jobtype) and inserts
``<runname>.appionsub.job`` with status ``R`` when absent.  The jobtype is
``--jobtype`` when given, else the one classic's web gives the program
(:data:`WEB_JOBTYPES`; myamiweb counts runs by it).  The run sets ``D`` when it
finishes and ``E`` when it fails.  ``clusterjobid`` is an integer column: the batch
system's job id, or NULL.
"""

from __future__ import annotations

import sinedon
from appion.base.errors import AppionError
from sinedon.connection import appion_location

#: Classic status codes of ``ApAppionJobData.status``.
JOB_STATUSES = {"Q": "queued", "R": "running", "D": "done", "E": "error",
                "A": "aborted", "U": "unknown"}


#: The jobtype classic's web gives each program's runs (program: its functionname).
#: ``appion pipeline`` (motion correction and CTF in one run) has no classic
#: counterpart; its runs are ``appionpipeline``.
WEB_JOBTYPES = {"makeDDAlignMotionCor2_UCSF": "makeddrawframestack",
                "ctffind4": "ctfestimate", "gctf": "gctf",
                "appion-pipeline": "appionpipeline"}


def default_jobtype(function_name: str) -> str:
    """The web's jobtype of a program, else (as classic) its ``functionname`` in lower case."""
    return WEB_JOBTYPES.get(function_name, function_name.lower())


def parse_cluster_job_id(value: object) -> int | None:
    """A batch system's job id as the integer ``clusterjobid`` (``"30157838"`` ->
    30157838); ``None`` for anything that is not a whole number (``"12.server"``)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None


def job_name(runname: str) -> str:
    """Classic job name: ``<runname>.appionsub.job``."""
    return f"{runname}.appionsub.job"


def path_id(path: str) -> int:
    """The ``ApPathData`` id of ``path`` (inserted once)."""
    return sinedon.set("ApPathData", {"path": str(path)})


def _running(batch_job_id: int | None) -> dict[str, object]:
    """Columns of a running job (the batch system's id when running under one)."""
    return {"status": "R", **({"clusterjobid": batch_job_id} if batch_job_id is not None
                              else {})}


def mark_given_job_running(job_id: int, cluster_job_id: int | None = None) -> int:
    """``--jobid``: set the web-created row to ``R``; a missing row is a user error."""
    if sinedon.get("ApAppionJobData", {"id": job_id}) is None:
        raise AppionError(f"job {job_id} not found in ApAppionJobData of "
                          f"{appion_location().describe()}; check --jobid and --projectid")
    sinedon.update("ApAppionJobData", job_id, _running(cluster_job_id))
    return job_id


def find_or_start_job(*, rundir: str, runname: str, jobtype: str, session_id: int | None,
                      user: str, cluster: str, cluster_job_id: int | None = None) -> int:
    """Classic ``getClusterJobData``: the job of (rundir, jobtype) set to ``R``, or a new
    ``<runname>.appionsub.job`` row with status ``R``."""
    run_path = path_id(rundir)
    with sinedon.atomic(sinedon.APPION):
        existing = sinedon.get("ApAppionJobData", {"path": run_path, "jobtype": jobtype})
        if existing is not None:
            sinedon.update("ApAppionJobData", existing["id"], _running(cluster_job_id))
            return existing["id"]
        return sinedon.insert("ApAppionJobData", {
            "name": job_name(runname), "path": run_path, "clusterpath": run_path,
            "jobtype": jobtype, "user": user, "cluster": cluster, "session": session_id,
            **_running(cluster_job_id)})


def set_job_status(job_id: int, status: str) -> None:
    """Set a job's classic status code (``D`` done, ``E`` error, …)."""
    if status not in JOB_STATUSES:
        raise ValueError(f"unknown job status {status!r}; use one of {''.join(JOB_STATUSES)}")
    sinedon.update("ApAppionJobData", job_id, {"status": status})
