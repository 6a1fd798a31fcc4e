"""The job row's final status survives a connection left unusable by an interrupted query."""

from __future__ import annotations

import pytest

from appion.base import job as job_module
from appion.base.job import RunJob, job_guard
from sinedon.errors import DatabaseUnreachable


@pytest.fixture
def updates(monkeypatch):
    """``jobs.set_job_status`` that fails ``failures`` times, then records the update."""
    calls: dict = {"failures": 1, "written": [], "closed": 0}

    def set_job_status(job_id, status):
        if calls["failures"]:
            calls["failures"] -= 1
            raise DatabaseUnreachable("Packet sequence number wrong")
        calls["written"].append((job_id, status))

    def close_connection(alias):
        calls["closed"] += 1

    monkeypatch.setattr(job_module.jobs, "set_job_status", set_job_status)
    monkeypatch.setattr(job_module.sinedon, "close_connection", close_connection)
    return calls


def test_the_status_is_written_on_a_fresh_connection(updates):
    job = RunJob(id=7)
    with pytest.raises(KeyboardInterrupt), job_guard(job):
        raise KeyboardInterrupt
    assert updates["written"] == [(7, "E")] and updates["closed"] == 1
    assert job.final_status == "E"


def test_a_database_that_stays_down_is_logged_not_raised(updates, caplog):
    updates["failures"] = 2
    job = RunJob(id=8)
    job.finish("D")
    assert updates["written"] == [] and job.final_status == "D"
    assert "could not set the status of job 8 to D" in caplog.text
