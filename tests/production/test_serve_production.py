"""``appion serve`` on databases made from the production DDL: it finds a session in the
production Leginon tables, processes it into the production Appion tables, reports it
over its API, and changes no table's shape."""

from __future__ import annotations

import pytest

import sinedon
from tests.conftest import PROJECT_ID
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
from tests.facility.test_serve import assert_exactly_once
from tests.production.conftest import make_site_databases, show_create_tables

SESSION = "26nov30srv"


@pytest.fixture(scope="module")
def site(mariadb_server, tmp_path_factory):
    databases = make_site_databases(mariadb_server, tmp_path_factory, prefix="appionserve",
                                    appion_ddl="appiondb-semc.sql",
                                    project_name="serve on production")
    yield databases
    from tests.conftest import drop_databases
    drop_databases(mariadb_server, databases.names.values())


@pytest.mark.mariadb
@pytest.mark.timeout(600)
def test_serve_processes_a_session_on_production_tables(site, tmp_path, cli):
    before = show_create_tables(site)
    env = serve_env(site.env)
    made = cli(["appion", "simulate", "--session", SESSION, "--camera", "k2",
                "--exposures", "2", "--project", str(PROJECT_ID), "--no-extras",
                "--microscope", "Krios1", "--root", str(tmp_path / "sessions")], env=env)
    assert made.returncode == 0, made.stderr
    port = free_port()
    api = Api(f"http://127.0.0.1:{port}")
    config = tmp_path / "facility.toml"
    config.write_text("[service]\npoll_seconds = 0.5\nlookback_hours = 1\n")
    serve = start(appion("serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                         "--state-dir", str(tmp_path / "state"), *SERVE_STEPS),
                  env, tmp_path / "serve.log")
    try:
        sessions = wait_for(lambda: (lambda s: s if SESSION in s and all_done(s[SESSION], 2)
                                     else None)(api.sessions()),
                            "the session processed", processes=(serve,))
        page = api.get(f"/api/sessions/{SESSION}/exposures")[1]
    finally:
        code = stop(serve)
    assert code == 0, (tmp_path / "serve.log").read_text()[-4000:]
    assert (sessions[SESSION]["microscope"], sessions[SESSION]["camera"]) == (
        "Krios1", "GatanK2")
    assert all(e["steps"]["ctf"]["results"]["defocus1_a"] > 0 for e in page["exposures"])
    sinedon.setup(projectid=PROJECT_ID, config=sinedon.read_config_file(site.cfg))
    assert_exactly_once(SESSION, 2)
    assert show_create_tables(site) == before
