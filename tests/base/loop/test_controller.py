"""The controller in-process on a local cluster with the no-op step, on both backends."""

import json
from dataclasses import dataclass

import pytest
from appion_test_steps.noop import NoopStep

import sinedon
from appion.base import loop
from appion.base.errors import EngineConfigError
from appion.base.loop.controller import Events
from tests.base.loop.sessions import pair_rows, start_run

#: The runtime settings of each run :func:`start` prepared (by ``id`` of the run).
_SETTINGS = {}


def start(session, tmp_path, *flags, runname="r1", steps=("noop",)):
    run, settings = start_run([
        "--projectid", "1", "--session", session.name, "--preset", "enn",
        "--runname", runname, "--rundir", str(tmp_path / "runs" / runname),
        "--max-workers", "1", "--poll-interval", "0.2", "--retry-delay", "0.1", *flags],
        list(steps))
    _SETTINGS[id(run)] = (run, settings)
    return run


def run_pipeline(steps, run, **kwargs):
    """:func:`appion.base.loop.run_pipeline` with the settings of the run's flags."""
    return loop.run_pipeline(steps, run, settings=_SETTINGS[id(run)][1], **kwargs)


def job_status(run):
    return sinedon.get("ApAppionJobData", {"id": run.job_id})["status"]


def test_a_chain_stores_every_image_once_after_retries(session, tmp_path):
    images = session.add_images(12)
    run = start(session, tmp_path, "--no-wait", steps=("noop", "noop2"))
    status = run_pipeline([NoopStep("noop", fail_times=1), NoopStep("noop2")], run)
    assert status == 0
    assert sorted(pair_rows("r1")) == images
    assert sorted(pair_rows("r1", "appion-noop2")) == images
    assert all((run.rundir / "noop" / f"noop-{i}.txt").read_text().startswith(f"{i} attempt 2")
               for i in images)
    assert job_status(run) == "D"
    written = json.loads((run.rundir / "appion-status.json").read_text())
    assert written["state"] == "stopped"
    assert written["steps"]["noop2"]["done"] == 12 and written["steps"]["noop"]["failed"] == 0


def test_a_restart_resumes_a_chain_cut_between_steps(session, tmp_path):
    images = session.add_images(5)
    run = start(session, tmp_path, "--no-wait", "--retries", "0", steps=("noop", "noop2"))
    assert run_pipeline([NoopStep("noop"), NoopStep("noop2", fail_times=9)], run) == 0
    assert sorted(pair_rows("r1")) == images and pair_rows("r1", "appion-noop2") == []
    failed = [json.loads(line) for line in (run.rundir / "failed.jsonl").read_text().split("\n")
              if line]
    assert sorted(f["image_id"] for f in failed) == images
    assert {f["step"] for f in failed} == {"noop2"}

    submitted = []
    events = Events(on_submit=lambda stage, image, when: submitted.append((stage, image)))
    rerun = start(session, tmp_path, "--no-wait", "--retry-failed", steps=("noop", "noop2"))
    assert run_pipeline([NoopStep("noop"), NoopStep("noop2")], rerun, events=events) == 0
    assert sorted(submitted) == [(1, image) for image in images]  # nothing redone
    assert sorted(pair_rows("r1")) == images
    assert sorted(pair_rows("r1", "appion-noop2")) == images


def test_failures_are_recorded_and_not_retried_after_a_restart(session, tmp_path):
    images = session.add_images(3)
    run = start(session, tmp_path, "--no-wait", "--retries", "1")
    assert run_pipeline([NoopStep("noop", fail_times=99)], run) == 0
    lines = (run.rundir / "failed.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["image_id"] for line in lines) == images
    assert all(json.loads(line)["attempts"] == 2 for line in lines)
    assert "told to fail" in json.loads(lines[0])["error"]

    submitted = []
    events = Events(on_submit=lambda stage, image, when: submitted.append(image))
    rerun = start(session, tmp_path, "--no-wait")
    assert run_pipeline([NoopStep("noop")], rerun, events=events) == 0
    assert submitted == [] and pair_rows("r1") == []


def test_limit_with_reverse_takes_the_newest(session, tmp_path):
    images = session.add_images(6)
    submitted = []
    events = Events(on_submit=lambda stage, image, when: submitted.append(image))
    run = start(session, tmp_path, "--limit", "2", "--reverse", "--batch-size", "1")
    assert run_pipeline([NoopStep("noop")], run, events=events) == 0
    assert submitted == images[:-3:-1]
    assert sorted(pair_rows("r1")) == sorted(images[-2:])


def test_a_task_over_the_timeout_is_cancelled_retried_then_recorded(session, tmp_path):
    session.add_images(1)
    run = start(session, tmp_path, "--no-wait", "--task-timeout", "0.5", "--retries", "1",
                "--stop-timeout", "1")
    assert run_pipeline([NoopStep("noop", sleep_s=4)], run) == 0
    failure = json.loads((run.rundir / "failed.jsonl").read_text())
    assert failure["attempts"] == 2 and "timed out after 0.5 s" in failure["error"]
    assert pair_rows("r1") == []


def test_no_continue_processes_done_images_again_without_duplicates(session, tmp_path):
    images = session.add_images(4)
    assert run_pipeline([NoopStep("noop")], start(session, tmp_path, "--no-wait")) == 0
    submitted = []
    events = Events(on_submit=lambda stage, image, when: submitted.append(image))
    rerun = start(session, tmp_path, "--no-wait")
    assert run_pipeline([NoopStep("noop")], rerun, events=events) == 0
    assert submitted == []  # classic --continue: nothing done is redone
    fresh = start(session, tmp_path, "--no-wait", "--no-continue")
    assert run_pipeline([NoopStep("noop")], fresh, events=events) == 0
    assert sorted(submitted) == images  # --no-continue: everything again
    assert sorted(pair_rows("r1")) == images  # stored idempotently, once each


def test_a_failure_that_cannot_heal_is_attempted_once_and_recorded(session, tmp_path):
    images = session.add_images(3)
    run = start(session, tmp_path, "--no-wait", "--retries", "3")
    step = NoopStep("noop", fail_times=99, fail_retryable=False)
    assert run_pipeline([step], run) == 0
    assert all((run.rundir / "noop" / f"noop-{i}.attempts").read_bytes() == b"."
               for i in images)
    failures = [json.loads(line)
                for line in (run.rundir / "failed.jsonl").read_text().splitlines()]
    assert sorted(f["image_id"] for f in failures) == images
    assert {f["attempts"] for f in failures} == {1}
    assert failures[0]["error"].startswith("EngineConfigError: no-op engine told to fail")
    assert job_status(run) == "D"  # the run itself went fine


def _missing_program() -> None:
    raise EngineConfigError("noop-engine not found on PATH; install it")


@dataclass
class NeedsAProgram(NoopStep):
    """A no-op step whose engine program is missing."""

    def program_check(self):
        return _missing_program


def test_a_missing_program_stops_the_run_before_any_image(session, tmp_path):
    session.add_images(2)
    submitted = []
    events = Events(on_submit=lambda stage, image, when: submitted.append(image))
    run = start(session, tmp_path, "--no-wait")
    with pytest.raises(EngineConfigError, match="noop-engine not found on PATH"):
        run_pipeline([NeedsAProgram("noop")], run, events=events)
    assert submitted == [] and pair_rows("r1") == []
    assert job_status(run) == "E"
