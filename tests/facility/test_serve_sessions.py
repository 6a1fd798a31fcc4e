"""``appion serve`` beside what a facility already has: sessions of several projects at
once, and sessions a classic (web-launched) run already processes."""

from __future__ import annotations

import pytest

import sinedon
from sinedon import schema

from .serving import (
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
from .test_serve import assert_exactly_once

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def second_project(db, request):
    """Project 2 with its own Appion database (as ``processingdb`` names it)."""
    name = f"{db.names[sinedon.APPION]}_p2"
    schema.init_all(2, project_name="test project 2", appion_db=name, config=db.config)
    db.setup()
    yield name
    sinedon.close_all()
    if db.backend == "mariadb":
        from tests.conftest import drop_databases
        drop_databases(request.getfixturevalue("mariadb_server"), [name])


def test_sessions_of_two_projects_and_one_with_a_classic_run(db, second_project, tmp_path,
                                                             cli):
    env = serve_env(db.env)
    for name, project in (("prj-one", "1"), ("prj-two", "2"), ("prj-classic", "1")):
        made = cli(["appion", "simulate", "--session", name, "--exposures", "2",
                    "--no-extras", "--project", project], env=env)
        assert made.returncode == 0, made.stderr
    classic = cli(["appion", "pipeline", "--session", "prj-classic", "--preset", "enn",
                   "--steps", "motioncor", "--motioncor-engine", "builtin", "--no-wait",
                   "--runname", "ddstack1", "--projectid", "1"], env=env)
    assert classic.returncode == 0, classic.stderr

    port = free_port()
    api = Api(f"http://127.0.0.1:{port}")
    config = tmp_path / "facility.toml"
    config.write_text("[service]\npoll_seconds = 0.5\nlookback_hours = 1\n")
    serve = start(appion("serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                         "--state-dir", str(tmp_path / "state"), *SERVE_STEPS),
                  env, tmp_path / "serve.log")
    try:
        sessions = wait_for(
            lambda: (lambda s: s if {"prj-one", "prj-two", "prj-classic"} <= set(s)
                     and all_done(s["prj-one"], 2) and all_done(s["prj-two"], 2)
                     else None)(api.sessions()),
            "both projects' sessions processed", processes=(serve,))
    finally:
        code = stop(serve)
    assert code == 0, (tmp_path / "serve.log").read_text()[-4000:]
    assert sessions["prj-two"]["project"] == 2
    skipped = sessions["prj-classic"]
    assert not skipped["active"] and "ddstack1" in skipped["error"]
    assert "reprocess_classic" in skipped["error"]

    db.setup()
    assert_exactly_once("prj-one", 2)
    with sinedon.project_context(2):
        assert_exactly_once("prj-two", 2)
    assert {row["name"] for row in sinedon.filter("ApAceRunData", fields=["name"])} == {
        "appion-serve"}  # project 1: prj-one's run only; the classic session untouched
    runs = sinedon.filter("ApDDStackRunData", fields=["runname"])
    assert sorted(row["runname"] for row in runs) == ["appion-serve", "ddstack1"]
