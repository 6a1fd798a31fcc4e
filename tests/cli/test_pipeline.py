"""``appion pipeline`` and ``appion status`` as a user runs them, against a live session."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sinedon
from tests.base.loop.sessions import pair_rows

WAIT_S = 120  # generous: a deadline for slow machines, not a timing assertion


def pipeline_command(session, rundir: Path, *flags: str) -> list[str]:
    appion = Path(sys.executable).parent / "appion"
    return [str(appion), "pipeline", "--projectid", "1", "--session", session.name,
            "--preset", "enn", "--rundir", str(rundir), "--steps", "noop", "--max-workers", "2",
            "--poll-interval", "0.3", "--retry-delay", "0.1", *flags]


def start(session, db, rundir, *flags) -> subprocess.Popen:
    return subprocess.Popen(pipeline_command(session, rundir, *flags), env=db.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"controller exited ({process.returncode}) before {what}: "
                                 f"{process.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=WAIT_S)
    return process.returncode, stderr


def test_a_live_session_is_processed_once_as_images_land(session, db, cli, tmp_path):
    rundir = tmp_path / "run-live"
    process = start(session, db, rundir, "--steps", "noop,noop2")
    try:
        images = []
        for _ in range(3):  # exposures arrive while the controller runs
            images += session.add_images(4)
            wait_for(lambda: len(pair_rows("run-live", "appion-noop2")) >= len(images),
                     f"{len(images)} images through both steps", process)
        status = cli(["appion", "status", "--rundir", str(rundir)], env=db.env)
        assert status.returncode == 0, status.stderr
        assert "controller running (pid" in status.stdout
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert sorted(pair_rows("run-live")) == images
    assert sorted(pair_rows("run-live", "appion-noop2")) == images
    assert "dashboard http" in stderr and "received SIGTERM" in stderr
    job = sinedon.get("ApAppionJobData", {"name": "run-live.appionsub.job"})
    assert job["status"] == "D"
    status = cli(["appion", "status", "--rundir", str(rundir), "--json"], env=db.env)
    counts = json.loads(status.stdout)
    assert counts["state"] == "stopped" and counts["steps"]["noop2"]["done"] == 12


def test_sigterm_mid_batch_then_restart_loses_and_duplicates_nothing(session, db, cli,
                                                                      tmp_path):
    images = session.add_images(40)
    rundir = tmp_path / "run-stop"
    process = start(session, db, rundir, "--noop-sleep", "1", "--batch-size", "2")
    try:
        wait_for(lambda: len(pair_rows("run-stop")) >= 2, "the first results", process)
        second = cli(pipeline_command(session, rundir, "--no-wait"), env=db.env)
        assert second.returncode == 1
        assert "another controller (pid" in second.stderr
        assert "stop it first or choose another --rundir" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    stored = pair_rows("run-stop")
    assert len(stored) == len(set(stored)) and len(stored) < len(images)
    restart = cli(pipeline_command(session, rundir, "--no-wait"), env=db.env)
    assert restart.returncode == 0, restart.stderr
    assert sorted(pair_rows("run-stop")) == images
    assert f"noop {len(stored)} done before" in restart.stderr


def test_a_worker_killed_mid_task_is_retried_and_done_once(sqlite_session, sqlite_db, cli,
                                                           tmp_path):
    images = sqlite_session.add_images(4)
    rundir = tmp_path / "run-kill"
    result = cli(pipeline_command(sqlite_session, rundir, "--no-wait", "--noop-kill-worker"),
                 env=sqlite_db.env)
    assert result.returncode == 0, result.stderr
    assert sorted(pair_rows("run-kill")) == images
    for image in images:  # each image's first attempt killed its worker (and with it,
        # at times, another image's attempt running there)
        assert len((rundir / "noop" / f"noop-{image}.attempts").read_bytes()) >= 2


def test_dry_run_prints_pending_images_and_writes_nothing(session, db, cli, tmp_path):
    images = session.add_images(3)
    rundir = tmp_path / "run-dry"
    result = cli(pipeline_command(session, rundir, "--steps", "noop", "--dry-run",
                                  "--limit", "2"), env=db.env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image_id"] for line in lines] == images[:2]
    assert not rundir.exists()
    assert sinedon.count("ApAppionJobData") == 0


def test_an_unknown_step_is_a_one_line_error(session, db, cli, tmp_path):
    result = cli(pipeline_command(session, tmp_path / "r", "--steps", "noop,bogus"),
                 env=db.env)
    assert result.returncode == 2
    assert "unknown step 'bogus' in --steps" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()


def test_status_of_a_folder_without_a_run_is_a_one_line_error(sqlite_db, cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli(["appion", "status", "--rundir", str(empty)], env=sqlite_db.env)
    assert result.returncode == 1
    assert "no appion-status.json" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(empty) == []


def test_an_image_un_hidden_while_running_is_processed(sqlite_session, sqlite_db, tmp_path):
    session = sqlite_session
    images = session.add_images(4)
    sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[1],
                                         "status": "hidden"})
    rundir = tmp_path / "run-unhide"
    process = start(session, sqlite_db, rundir, "--no-rejects")
    try:
        wait_for(lambda: len(pair_rows("run-unhide")) >= 3, "the visible images", process)
        assert images[1] not in pair_rows("run-unhide")
        sinedon.insert("ViewerImageStatus", {"session": session.id, "image": images[1],
                                             "status": None})  # un-hidden in the viewer
        wait_for(lambda: images[1] in pair_rows("run-unhide"), "the un-hidden image", process)
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert sorted(pair_rows("run-unhide")) == images
    assert "no longer rejected" in stderr
