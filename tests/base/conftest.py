"""Fixtures of the runtime tests: a session in the test databases, seen in-process."""

import pytest

from tests.base.loop.sessions import make_session


def _session_on(databases, tmp_path, monkeypatch):
    for name in ("APPION_HOME", "SINEDON_CFG_PATH", "HOME"):
        if name in databases.env:
            monkeypatch.setenv(name, databases.env[name])
        else:
            monkeypatch.delenv(name, raising=False)
    return make_session(tmp_path)


@pytest.fixture
def session(db, tmp_path, monkeypatch):
    """A Leginon session (preset ``enn``, no images yet) on each backend; in-process
    code such as ``prepare_run`` finds the same databases as ``db.env`` subprocesses."""
    return _session_on(db, tmp_path, monkeypatch)


@pytest.fixture
def mariadb_session(mariadb_db, tmp_path, monkeypatch):
    """The same on MariaDB only, for tests about the MariaDB server itself."""
    return _session_on(mariadb_db, tmp_path, monkeypatch)


@pytest.fixture
def sqlite_session(sqlite_db, tmp_path, monkeypatch):
    """The same on SQLite only, for tests that are not about the backend."""
    return _session_on(sqlite_db, tmp_path, monkeypatch)
