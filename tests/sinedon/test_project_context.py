"""One process, several projects: ``sinedon.project_context`` per thread."""

from __future__ import annotations

import threading

import pytest

import sinedon
from sinedon import schema


@pytest.fixture
def two_projects(db, mariadb_server_or_none):
    """Project 1 (the fixture's) and project 2 with its own Appion database."""
    second = f"{db.names[sinedon.APPION]}_second"
    schema.init_all(2, project_name="test project 2", appion_db=second, config=db.config)
    db.setup()
    yield second
    sinedon.close_all()
    if db.backend == "mariadb":
        from tests.conftest import drop_databases
        drop_databases(mariadb_server_or_none, [second])


@pytest.fixture
def mariadb_server_or_none(db, request):
    return request.getfixturevalue("mariadb_server") if db.backend == "mariadb" else None


def _paths() -> list[str]:
    return [row["path"] for row in sinedon.filter("ApPathData")]


def test_project_context_sends_appion_rows_to_that_project(two_projects):
    with sinedon.project_context(2) as name:
        assert name == two_projects
        sinedon.insert("ApPathData", {"path": "/second"})
        with sinedon.atomic(sinedon.APPION):
            sinedon.insert("ApPathData", {"path": "/second/atomic"})
        assert _paths() == ["/second", "/second/atomic"]
    assert _paths() == []  # the process's project (1) saw nothing
    sinedon.insert("ApPathData", {"path": "/first"})
    with sinedon.project_context(2):
        assert _paths() == ["/second", "/second/atomic"]
        assert sinedon.table_exists(sinedon.APPION, "ApPathData")
    with sinedon.project_context(1):
        assert _paths() == ["/first"]


def test_project_context_is_per_thread(two_projects):
    seen: dict[str, list[str]] = {}

    def other_thread() -> None:
        seen["other"] = _paths()
        sinedon.close_all()

    with sinedon.project_context(2):
        sinedon.insert("ApPathData", {"path": "/second"})
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        seen["inside"] = _paths()
    assert seen == {"other": [], "inside": ["/second"]}


def test_setup_with_other_servers_forgets_project_aliases(two_projects, db):
    with sinedon.project_context(2):
        pass
    from sinedon import connection
    assert any(alias.endswith(two_projects) for alias in connection._project_aliases)
    db.setup()  # the same servers: kept
    assert any(alias.endswith(two_projects) for alias in connection._project_aliases)
