"""``appion demo --facility``, shortened, through the real entry point: three simulated
microscopes processed by ``appion serve`` (a subprocess) until every session is caught
up, then a summary and the service kept until Ctrl-C (``--exit``: stopped)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.facility.serving import appion, free_port

pytestmark = pytest.mark.timeout(600)

SESSIONS = {"demo-krios1": ("Krios1", "GatanK3"), "demo-krios2": ("Krios2", "GatanK2"),
            "demo-glacios": ("Glacios", "DEApollo")}


def demo_env(home: Path) -> dict[str, str]:
    """No sinedon.cfg and no APPION_HOME: the demo's embedded databases."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env["HOME"] = str(home)
    return env


def demo_command(folder: Path, port: int, exposures: int, *extra: str) -> list[str]:
    return ["appion", "demo", "--facility",
            "--exposures", str(exposures), "--interval", "1", "--workers", "1",
            "--refresh", "1", "--listen", f"127.0.0.1:{port}", "--folder", str(folder),
            *extra]


def summary(stdout: str) -> dict[str, list[str]]:
    """The summary's rows after 'Every session is caught up', by session."""
    tail = stdout.split("Every session is caught up", 1)[1].splitlines()[2:]
    rows = [re.split(r"\s{2,}", line.strip()) for line in tail]
    return {row[0]: row for row in rows if row[0] in SESSIONS}


def nothing_listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def assert_caught_up(stdout: str, exposures: int) -> None:
    rows = summary(stdout)
    assert set(rows) == set(SESSIONS), stdout
    for name, (microscope, camera) in SESSIONS.items():
        count = str(exposures)
        assert rows[name] == [name, microscope, camera, count, count, "0", "0 s"], stdout


def test_the_facility_demo_catches_up_every_session_and_stops_the_service(tmp_path, cli):
    folder = tmp_path / "demo"
    port = free_port()
    done = cli(demo_command(folder, port, 2, "--exit"), env=demo_env(tmp_path), timeout=500)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert f"appion serve is listening on http://127.0.0.1:{port}" in out
    before = out.split("Every session is caught up")[0]
    assert re.search(r"^session\s+microscope\s+state\s+collected\s+motioncor\s+lag\s+ctf"
                     r"\s+lag\s+ETA$", before, re.MULTILINE), out
    assert re.search(r"^demo-krios1\s+Krios1\s+active\s+", before, re.MULTILINE), out
    assert_caught_up(out, 2)
    assert out.rstrip().endswith("stopping appion serve (SIGTERM)\nappion serve stopped")
    assert nothing_listens(port)
    for name in SESSIONS:
        assert (folder / "runs" / name / "appion-serve" / "appion-status.json").is_file()
    log = (folder / "serve.log").read_text()
    assert "received SIGTERM" in log


def test_without_exit_it_serves_until_ctrl_c(tmp_path, cli):
    folder = tmp_path / "demo"
    port = free_port()
    env = demo_env(tmp_path)
    out_path = tmp_path / "demo.out"
    with open(out_path, "w") as out:
        demo = subprocess.Popen(appion(*demo_command(folder, port, 1)[1:]),
                                env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 400
            while "keeps serving" not in out_path.read_text() and demo.poll() is None:
                assert time.monotonic() < deadline, out_path.read_text()[-4000:]
                time.sleep(0.5)
            status = cli(["appion", "status", "--serve", f"http://127.0.0.1:{port}"], env=env)
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=150)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    text = out_path.read_text()
    assert code == 0, text[-4000:]
    assert_caught_up(text, 1)
    assert status.returncode == 0, status.stderr
    assert re.search(r"^demo-glacios\s+Glacios\s+active\s+1\s+1/0/0\s+0 s\s+1/0/0\s+0 s\s+"
                     r"0 s$", status.stdout, re.MULTILINE), status.stdout
    assert text.rstrip().endswith("stopping appion serve\nappion serve stopped")
    assert nothing_listens(port)


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path, cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli(demo_command(tmp_path / "demo", port, 1), env=demo_env(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"appion: error: cannot listen on 127.0.0.1:{port}: Address already in use; choose "
        "another --listen"]
    assert not (tmp_path / "demo").exists()
