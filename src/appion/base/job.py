"""A run's job row (``ApAppionJobData``) and the guard that sets its final status.

Every entry point runs inside :func:`job_guard`::

    with job_guard() as job:
        run = prepare_run(request, selection, step_names=..., job=job)
        return run_pipeline(steps, run)

The guard sets the job's status on the way out: ``E`` when anything raises after the
row exists (writing the provenance, building the steps, the controller, Ctrl-C),
``D`` when the block ends normally, unless the run already ended as ``E``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import sinedon
from appion.base.signals import deferred
from appion.base.store import jobs
from sinedon.errors import SinedonError

log = logging.getLogger("appion.base.run")


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
        with deferred():  # a stop signal waits until the row is updated
            self.final_status = status
            written = _set_status(self.id, status)
        if written:
            log.info("job %s set to %s (%s)", self.id, status, jobs.JOB_STATUSES[status])


def _set_status(job_id: int, status: str) -> bool:
    """Update the job row; once more on a fresh connection when the first attempt fails
    (an interrupted query can leave the old one unusable).  A database that stays
    unreachable is logged, not raised."""
    for attempt in (1, 2):
        try:
            jobs.set_job_status(job_id, status)
            return True
        except SinedonError as error:
            if attempt == 2:
                log.error("could not set the status of job %s to %s: %s", job_id, status,
                          error)
                return False
            sinedon.close_connection(sinedon.APPION)
    return False


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


__all__ = ["RunJob", "job_guard"]
