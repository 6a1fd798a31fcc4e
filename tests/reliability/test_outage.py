"""A MariaDB outage during a busy run: restarted, then frozen, under a running controller.

The test starts its own MariaDB server (``mariadb-install-db`` + ``mariadbd`` on a free
port, with its data directory under pytest's temporary folder), so that it can stop
and freeze it without touching the shared test server.  Without the binaries it skips
(or fails under ``APPION_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sinedon
from sinedon.errors import DatabaseUnreachable
from tests.base.loop.sessions import make_session, pair_rows
from tests.cli.test_pipeline import WAIT_S, pipeline_command, wait_for
from tests.conftest import PROJECT_ID, service_missing

#: A hung query fails after this many seconds (``SINEDON_READ_TIMEOUT``).
READ_TIMEOUT_S = "3"
FREEZE_S = 15


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()),
        None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SecondServer:
    """A private MariaDB server that a test may stop, restart, freeze and thaw."""

    root: Path
    port: int
    mariadbd: str
    process: subprocess.Popen | None = field(default=None, repr=False)

    def command(self) -> list[str]:
        return [self.mariadbd, "--no-defaults", f"--datadir={self.root / 'data'}",
                f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}", f"--pid-file={self.root / 'pid'}",
                "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
                f"--log-error={self.root / 'error.log'}"]

    def answers(self) -> bool:
        import pymysql
        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                            connect_timeout=2).close()
            return True
        except Exception:  # refused, reset, timed out: not up
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        while not self.answers():
            if self.process.poll() is not None:
                log = (self.root / "error.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"mariadbd exited ({self.process.returncode}): {log}")
            assert time.monotonic() < deadline, "the second MariaDB did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        self.process.wait(timeout=WAIT_S)

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture(scope="module")
def second_server(tmp_path_factory):
    """A MariaDB server of the test's own, on a free port."""
    install, mariadbd = _binary("mariadb-install-db"), _binary("mariadbd")
    if not install or not mariadbd:
        service_missing("mariadb-install-db/mariadbd are not installed: cannot start a "
                        "second MariaDB server for the outage tests")
    root = tmp_path_factory.mktemp("mariadb2")
    made = subprocess.run([install, "--no-defaults", f"--datadir={root / 'data'}",
                           "--user=root", "--auth-root-authentication-method=normal",
                           "--skip-test-db"], capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        service_missing(f"mariadb-install-db failed: {made.stdout[-500:]}{made.stderr[-500:]}")
    server = SecondServer(root, _free_port(), mariadbd)
    server.start()
    try:
        yield server
    finally:
        sinedon.close_all()
        server.stop()


@dataclass
class OutageDatabases:
    env: dict[str, str]
    config: object


@pytest.fixture
def outage_db(second_server, tmp_path, monkeypatch):
    """Initialised databases on the second server; sinedon set up for the project."""
    from sinedon import schema
    monkeypatch.setenv("SINEDON_READ_TIMEOUT", READ_TIMEOUT_S)
    prefix = f"outage_{os.getpid()}_{tmp_path.name[-20:].replace('-', '_')}"
    home = tmp_path / "home"
    home.mkdir()
    cfg = home / "sinedon.cfg"
    cfg.write_text(f"[global]\nhost: 127.0.0.1\nport: {second_server.port}\nuser: root\n"
                   f"passwd:\n\n[leginondata]\ndb: {prefix}_leginon\n\n"
                   f"[projectdata]\ndb: {prefix}_project\n\n[appiondata]\ndb: {prefix}_ap\n")
    config = sinedon.read_config_file(cfg)
    schema.init_all(PROJECT_ID, project_name="outage", appion_db=f"{prefix}_ap", config=config)
    env = {key: value for key, value in os.environ.items()
           if key not in ("APPION_HOME", "SINEDON_CFG_PATH")}
    env.update(HOME=str(home), SINEDON_CFG_PATH=str(cfg), SINEDON_READ_TIMEOUT=READ_TIMEOUT_S)
    for name in ("HOME", "SINEDON_CFG_PATH"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("APPION_HOME", raising=False)
    yield OutageDatabases(env, config)
    sinedon.close_all()


def _stored(runname: str) -> list[int]:
    """The run's stored images, read on a fresh connection (the server may have been
    restarted under the test's own)."""
    sinedon.close_all()
    return pair_rows(runname)


def test_a_lost_connection_on_commit_is_a_one_line_database_error(second_server, outage_db):
    """BEGIN/COMMIT on a dead server raise DatabaseUnreachable, not Django's error."""
    sinedon.setup(projectid=PROJECT_ID, config=outage_db.config)
    sinedon.count("ApPathData")  # a live connection, then the server goes away
    second_server.stop()
    try:
        with pytest.raises(DatabaseUnreachable, match="cannot reach"):
            with sinedon.atomic(sinedon.APPION):
                sinedon.insert("ApPathData", {"path": "/outage"})
    finally:
        second_server.start()
    with sinedon.atomic(sinedon.APPION):  # the next transaction reconnects
        sinedon.insert("ApPathData", {"path": "/back"})
    assert sinedon.count("ApPathData", {"path": "/back"}) == 1


def test_a_frozen_server_fails_a_query_after_the_read_timeout(second_server, outage_db):
    sinedon.setup(projectid=PROJECT_ID, config=outage_db.config)
    sinedon.count("ApPathData")
    second_server.freeze()
    try:
        with pytest.raises(DatabaseUnreachable):
            with sinedon.atomic(sinedon.APPION):
                sinedon.insert("ApPathData", {"path": "/frozen"})
    finally:
        second_server.thaw()
    assert sinedon.count("ApPathData", {"path": "/frozen"}) <= 1


@pytest.mark.slow
def test_the_controller_survives_a_restart_and_a_freeze_mid_run(second_server, outage_db,
                                                                tmp_path):
    session = make_session(tmp_path)
    images = session.add_images(40)
    rundir = tmp_path / "run-outage"
    command = pipeline_command(session, rundir, "--noop-sleep", "0.4", "--batch-size", "2",
                               "--no-wait")
    process = subprocess.Popen(command, env=outage_db.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(_stored("run-outage")) >= 3, "the first results", process)
        sinedon.close_all()
        second_server.stop()
        time.sleep(2)  # the controller meets the outage (not a timing assertion)
        second_server.start()
        done = len(_stored("run-outage"))
        wait_for(lambda: len(_stored("run-outage")) >= done + 3, "results after the restart",
                 process)
        sinedon.close_all()
        second_server.freeze()
        time.sleep(FREEZE_S)
        second_server.thaw()
        _, stderr = process.communicate(timeout=WAIT_S * 2)
    finally:
        second_server.thaw()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr[-3000:]
    stored = _stored("run-outage")
    assert sorted(stored) == images, "every image stored exactly once"
    assert stderr.count("database reachable again") >= 2, stderr[-3000:]
    assert "Traceback" not in stderr
    job = sinedon.get("ApAppionJobData", {"name": "run-outage.appionsub.job"})
    assert job["status"] == "D"


@pytest.mark.slow
def test_appion_serve_rides_out_a_database_restart(second_server, outage_db, tmp_path):
    """The facility service keeps its sessions through an outage: results kept and stored
    when the server is back, every exposure once, no session stopped."""
    from tests.facility.serving import SERVE_STEPS, Api, all_done, appion, free_port, start
    from tests.facility.serving import stop as stop_process
    from tests.facility.serving import wait_for as wait_until
    from tests.facility.test_serve import assert_exactly_once
    made = subprocess.run(appion("simulate", "--session", "outage1", "--exposures", "5",
                                 "--no-extras"), env=outage_db.env, capture_output=True,
                          text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    port = free_port()
    api = Api(f"http://127.0.0.1:{port}")
    config = tmp_path / "facility.toml"
    config.write_text("[service]\npoll_seconds = 0.5\nlookback_hours = 1\n")
    serve = start(appion("serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                         "--state-dir", str(tmp_path / "state"), *SERVE_STEPS),
                  outage_db.env, tmp_path / "serve.log")
    try:
        wait_until(lambda: (api.sessions().get("outage1", {}).get("steps", {})
                            .get("motioncor", {}).get("done", 0) >= 1), "the first result",
                   processes=(serve,))
        second_server.stop()
        time.sleep(3)  # the service meets the outage (not a timing assertion)
        second_server.start()
        wait_until(lambda: all_done(api.sessions().get("outage1", {"collected": 0}), 5),
                   "every exposure after the outage", processes=(serve,))
    finally:
        code = stop_process(serve)
    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log[-4000:]
    assert "stopping it" not in log
    sinedon.close_all()  # the test's own connection died with the server
    sinedon.setup(projectid=PROJECT_ID, config=outage_db.config)
    assert_exactly_once("outage1", 5)
