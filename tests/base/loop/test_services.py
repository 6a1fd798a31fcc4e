"""The controller on real services: Slurm workers, and a MariaDB restart mid-run."""

import os
import shutil
import subprocess
import time

import pymysql
import pytest

import sinedon
from tests.base.loop.sessions import pair_rows
from tests.cli.test_pipeline import WAIT_S, pipeline_command, start, stop, wait_for
from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER


def squeue_jobs(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i %t"], capture_output=True,
                         text=True, timeout=20).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.slurm
def test_slurm_workers_run_the_tasks_and_leave_no_job(slurm_cluster, sqlite_session,
                                                     sqlite_db, tmp_path):
    images = sqlite_session.add_images(6)
    rundir = tmp_path / "run-slurm"
    command = pipeline_command(sqlite_session, rundir, "--cluster", "slurm",
                               "--min-workers", "0", "--max-workers", "1",
                               "--slurm-memory", "1GB", "--slurm-walltime", "00:10:00")
    process = subprocess.Popen(command, env=sqlite_db.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    seen_jobs = []
    try:
        wait_for(lambda: seen_jobs.extend(squeue_jobs("appion-run-slurm")) or
                 len(pair_rows("run-slurm")) == len(images), "the tasks on Slurm", process)
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert seen_jobs, "no worker job ever appeared in squeue"
    assert sorted(pair_rows("run-slurm")) == images
    deadline = time.monotonic() + 60
    while squeue_jobs("appion-run-slurm") and time.monotonic() < deadline:
        time.sleep(1)
    assert squeue_jobs("appion-run-slurm") == []


def _server_up() -> bool:
    try:
        pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER,
                        password=MYSQL_PASSWORD, connect_timeout=2).close()
        return True
    except Exception:  # refused, reset, timed out: not up
        return False


def _mariadbd_running() -> bool:
    return subprocess.run(["pidof", "mariadbd"], capture_output=True).returncode == 0


def _restart_mariadb() -> None:
    subprocess.run(["mysqladmin", "-h", MYSQL_HOST, "-P", str(MYSQL_PORT), "-u", MYSQL_USER,
                    "shutdown"], check=True, timeout=60)
    deadline = time.monotonic() + 60
    while _mariadbd_running():  # until the old server process has exited
        assert time.monotonic() < deadline, "MariaDB did not shut down"
        time.sleep(0.2)
    time.sleep(2)  # the controller meets the outage
    _start_mariadb()


def _start_mariadb() -> None:
    subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background",
                    "--chuid", "mysql", "--exec", "/usr/sbin/mariadbd"], check=True,
                   timeout=60)


@pytest.mark.mariadb
@pytest.mark.slow
@pytest.mark.serial
def test_the_controller_survives_a_mariadb_restart(mariadb_session, mariadb_db, tmp_path):
    session, db = mariadb_session, mariadb_db
    if os.environ.get("APPION_DISRUPTIVE_TESTS") != "1":
        pytest.skip("restarts the shared MariaDB server; set APPION_DISRUPTIVE_TESTS=1")
    if not all(shutil.which(p) for p in ("mysqladmin", "start-stop-daemon", "pidof")):
        pytest.skip("cannot restart the local MariaDB server here")
    first = session.add_images(4)
    rundir = tmp_path / "run-restart"
    process = start(session, db, rundir, "--noop-sleep", "0.5", "--batch-size", "2")
    try:
        wait_for(lambda: len(pair_rows("run-restart")) >= 1, "the first results", process)
        try:
            _restart_mariadb()
        finally:
            deadline = time.monotonic() + WAIT_S
            while not _server_up():  # the server is back for everyone, whatever happens
                assert time.monotonic() < deadline, "MariaDB did not come back"
                _start_mariadb()
                time.sleep(1)
        sinedon.close_all()  # this test process's own connections died with the server
        second = session.add_images(3)
        wait_for(lambda: len(pair_rows("run-restart")) >= len(first + second),
                 "all results after the restart", process)
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert sorted(pair_rows("run-restart")) == first + second
    assert "database unreachable" in stderr and "database reachable again" in stderr
