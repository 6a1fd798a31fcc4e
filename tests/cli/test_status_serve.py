"""``appion status --serve [URL]`` through the real entry point: against a real ``appion
serve`` processing a simulated session, against the HTTP interface bound off loopback
(a token needed), and its one-line errors."""

from __future__ import annotations

import json
import os
import re

import pytest

from appion.cli.status import format_lag
from appion.facility import web
from tests.facility.serving import (
    SERVE_STEPS,
    Api,
    all_done,
    appion,
    free_port,
    serve_env,
    start,
    stop,
    wait_for,
)
from tests.facility.test_web import STATUS, FakeApi

pytestmark = pytest.mark.timeout(600)

TOKEN_ENV = "APPION_TEST_STATUS_TOKEN"
SECRET = "status-test-token-0123456789abcdef"


def cells(line: str) -> list[str]:
    """A table row's cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def rows_of(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert cells(lines[0])[:4] == ["session", "microscope", "state", "collected"], stdout
    return {cells(line)[0]: cells(line) for line in lines[1:] if not line.startswith("(")}


def plain_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != TOKEN_ENV}


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.0, "0 s"), (0.4, "0 s"), (45, "45 s"), (130, "2 min 10 s"),
    (3600 + 5 * 60 + 59, "1 h 05 min"), (float("nan"), "-")])
def test_format_lag(seconds, text):
    assert format_lag(seconds) == text


def test_status_serve_shows_each_session_of_a_running_service(db, cli, tmp_path):
    env = serve_env(db.env)
    made = cli(["appion", "simulate", "--session", "stat", "--exposures", "2", "--no-extras",
                "--microscope", "Krios9"], env=env)
    assert made.returncode == 0, made.stderr
    config = tmp_path / "facility.toml"
    config.write_text("[service]\npoll_seconds = 0.5\nlookback_hours = 1\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = start(appion("serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                         "--state-dir", str(tmp_path / "state"), *SERVE_STEPS), env,
                  tmp_path / "serve.log")
    try:
        wait_for(lambda: all_done(Api(url).sessions().get("stat", {"collected": 0}), 2),
                 "both exposures through both steps", processes=(serve,))
        table = cli(["appion", "status", "--serve", url], env=env)
        answer = cli(["appion", "status", "--serve", url + "/", "--json"], env=env)
    finally:
        code = stop(serve)
    assert code == 0, (tmp_path / "serve.log").read_text()[-4000:]
    assert table.returncode == 0, table.stderr
    assert cells(table.stdout.splitlines()[0]) == [
        "session", "microscope", "state", "collected", "motioncor", "lag", "ctf", "lag", "ETA"]
    assert rows_of(table.stdout)["stat"] == ["stat", "Krios9", "active", "2", "2/0/0", "0 s",
                                             "2/0/0", "0 s", "0 s"]
    assert answer.returncode == 0, answer.stderr
    sessions = json.loads(answer.stdout)
    assert [session["name"] for session in sessions] == ["stat"]
    assert set(sessions[0]) >= {"name", "microscope", "camera", "active", "paused",
                                "collected", "last_exposure_at", "error", "steps"}
    assert sessions[0]["steps"]["ctf"]["done"] == 2 and sessions[0]["collected"] == 2


@pytest.fixture
def open_server(tmp_path):
    """The HTTP interface around a fixed snapshot, bound off loopback: reads need a token."""
    from django.conf import settings

    import sinedon
    if not settings.configured:  # sinedon configures Django first, as in appion serve
        sinedon.setup(config=sinedon.embedded_config(tmp_path))
    server = web.WebServer(FakeApi(STATUS),
                           web.AuthSettings((web.Token("staff", SECRET),)), "0.0.0.0:0")
    server.start()
    yield f"http://127.0.0.1:{server.address[1]}"
    server.stop()


def test_status_serve_with_a_token_from_the_environment(open_server, cli):
    refused = cli(["appion", "status", "--serve", open_server], env=plain_env())
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"appion: error: appion serve at {open_server} answered 401: missing or unknown API "
        "token; send Authorization: Bearer <token>, or log in at /login; give an API token "
        "with --token-env NAME"]

    done = cli(["appion", "status", "--serve", open_server, "--token-env", TOKEN_ENV],
               env={**plain_env(), TOKEN_ENV: SECRET})
    assert done.returncode == 0, done.stderr
    rows = rows_of(done.stdout)
    assert rows["26nov30a"] == ["26nov30a", "krios1", "active", "14", "10/3/1",
                                "1 min 36 s", "10/9/1", "6 min 40 s", "-"]
    assert rows["26nov30b"][:4] == ["26nov30b", "glacios", "error", "14"]
    assert "26nov30b: no frames folder" in done.stdout.splitlines()
    assert SECRET not in done.stdout + done.stderr

    unset = cli(["appion", "status", "--serve", open_server, "--token-env", TOKEN_ENV],
                env=plain_env())
    assert unset.returncode == 2
    assert unset.stderr.splitlines() == [
        f"appion: error: --token-env {TOKEN_ENV}: the environment variable is not set; set "
        "it to one of the tokens of the service's facility.toml [auth]"]


def test_an_unreachable_service_is_one_line(cli):
    port = free_port()
    done = cli(["appion", "status", "--serve", f"http://127.0.0.1:{port}"], env=plain_env())
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"appion: error: cannot reach appion serve at http://127.0.0.1:{port}: Connection "
        f"refused; is it running? (appion serve --listen 127.0.0.1:{port})"]


@pytest.mark.parametrize(("flags", "says"), [
    (["--rundir", "run1", "--serve"], "--rundir and --serve exclude each other; give one "
                                      "of them"),
    ([], "give --rundir R (one run) or --serve [URL] (appion serve)"),
    (["--serve", "ftp://host"], "--serve 'ftp://host': expected a URL such as "
                                "http://127.0.0.1:8770"),
])
def test_usage_errors_are_one_line(cli, tmp_path, flags, says):
    done = cli(["appion", "status", *flags], env=plain_env(), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"appion: error: {says}"]
