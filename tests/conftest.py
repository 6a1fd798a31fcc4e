"""Shared fixtures: throwaway databases on SQLite and MariaDB, and service checks.

Tests that need a service skip with the reason when it is absent, and fail instead
when ``APPION_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets).

``db`` is parametrised over both backends: a fresh SQLite folder per test, and on
MariaDB one throwaway set of databases per test session (dropped at the end),
emptied before each test.  ``db.env`` is the environment a subprocess needs to see
the same databases (for tests that run the real entry points).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.plugin_path import use_test_plugins

use_test_plugins()

PROJECT_ID = 1
MYSQL_HOST = os.environ.get("APPION_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("APPION_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("APPION_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("APPION_TEST_MYSQL_PASSWORD", "")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Slurm tests share one single-node cluster: they run in the serial part of
    ``make test`` (``-m serial``), after the parallel part."""
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.serial)


def services_required() -> bool:
    return os.environ.get("APPION_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip, or fail when ``APPION_REQUIRE_SERVICES=1``."""
    if services_required():
        pytest.fail(f"{reason} (APPION_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


def mariadb_available() -> str | None:
    """``None`` when the test server answers, else why not."""
    try:
        import pymysql
        pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER,
                        password=MYSQL_PASSWORD, connect_timeout=3).close()
    except Exception as error:  # any failure means: no usable server
        return f"no MariaDB/MySQL at {MYSQL_HOST}:{MYSQL_PORT} ({error})"
    return None


def slurm_available() -> str | None:
    if not shutil.which("sbatch") or not shutil.which("squeue"):
        return "Slurm is not installed (no sbatch/squeue on PATH)"
    probe = subprocess.run(["squeue", "-h"], capture_output=True, text=True, timeout=20)
    if probe.returncode != 0:
        return f"Slurm does not answer: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="session")
def mariadb_server():
    reason = mariadb_available()
    if reason:
        service_missing(reason)
    return {"host": MYSQL_HOST, "port": MYSQL_PORT, "user": MYSQL_USER,
            "password": MYSQL_PASSWORD}


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = slurm_available()
    if reason:
        service_missing(reason)
    return True


@dataclass
class TestDatabases:
    """The databases a test works on, and how a subprocess finds them."""

    backend: str
    config: object
    projectid: int
    env: dict[str, str] = field(default_factory=dict)
    home: Path | None = None
    names: dict[str, str] = field(default_factory=dict)

    def setup(self):
        import sinedon
        return sinedon.setup(projectid=self.projectid, config=self.config)


def write_cfg(path: Path, names: dict[str, str]) -> Path:
    """A classic ``sinedon.cfg`` naming the test server and ``names``' databases."""
    path.write_text(
        "[global]\n"
        f"host: {MYSQL_HOST}\nport: {MYSQL_PORT}\nuser: {MYSQL_USER}\n"
        f"passwd: {MYSQL_PASSWORD}\n\n"
        f"[leginondata]\ndb: {names['leginondata']}\n\n"
        f"[projectdata]\ndb: {names['projectdata']}\n\n"
        f"[appiondata]\ndb: {names['appiondata']}\n")
    return path


def _register_project(projectid: int, appion_db: str) -> None:
    import sinedon
    sinedon.set("projects", {"id": projectid, "name": f"test project {projectid}"})
    sinedon.set("processingdb", {"project": projectid, "appiondb": appion_db})


def _init_all(databases: TestDatabases, appion_db: str) -> None:
    from sinedon import schema
    schema.init_all(databases.projectid, project_name=f"test project {databases.projectid}",
                    appion_db=appion_db, config=databases.config)


def _subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env.update(HOME=str(home), **extra)
    return env


@pytest.fixture(scope="session")
def mariadb_databases(mariadb_server, tmp_path_factory):
    """One throwaway set of MariaDB databases for the whole test session."""
    import sinedon
    prefix = f"appiontest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = {sinedon.LEGINON: f"{prefix}_leginon", sinedon.PROJECT: f"{prefix}_project",
             sinedon.APPION: f"{prefix}_ap{PROJECT_ID}"}
    home = tmp_path_factory.mktemp("mariadb-home")
    cfg = write_cfg(home / "sinedon.cfg", names)
    databases = TestDatabases("mariadb", sinedon.read_config_file(cfg), PROJECT_ID,
                              _subprocess_env(home, SINEDON_CFG_PATH=str(cfg)), home, names)
    _init_all(databases, names[sinedon.APPION])
    yield databases
    drop_databases(mariadb_server, names.values())


def drop_databases(server: dict, names) -> None:
    """Close sinedon's connections and drop the test's MariaDB databases."""
    import pymysql

    import sinedon
    sinedon.close_all()
    connection = pymysql.connect(**server)
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        connection.close()


def _empty_tables(databases: TestDatabases) -> None:
    from django.db import connections

    import sinedon
    from sinedon import schema
    databases.setup()
    for alias in sinedon.ALIASES:
        with connections[alias].cursor() as cursor:
            for model in schema.models_of(alias):
                cursor.execute(f"DELETE FROM `{model._meta.db_table}`")
    sinedon.setup(config=databases.config)
    _register_project(databases.projectid, databases.names[sinedon.APPION])
    databases.setup()


def _sqlite_databases(tmp_path: Path) -> TestDatabases:
    import sinedon
    home = tmp_path / "appion-home"
    home.mkdir()
    databases = TestDatabases("sqlite", sinedon.embedded_config(home), PROJECT_ID,
                              _subprocess_env(tmp_path, APPION_HOME=str(home)), home,
                              {sinedon.APPION: f"ap{PROJECT_ID}"})
    _init_all(databases, f"ap{PROJECT_ID}")
    return databases


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request, tmp_path):
    """Initialised, empty databases on each backend; sinedon is set up for the project."""
    if request.param == "sqlite":
        databases = _sqlite_databases(tmp_path)
    else:
        databases = request.getfixturevalue("mariadb_databases")
        _empty_tables(databases)
    yield databases


@pytest.fixture
def mariadb_db(request):
    """Initialised, empty MariaDB databases only (for tests about the MariaDB server)."""
    databases = request.getfixturevalue("mariadb_databases")
    _empty_tables(databases)
    return databases


@pytest.fixture
def sqlite_db(tmp_path):
    """Initialised SQLite databases only (for tests that are not about the backend)."""
    return _sqlite_databases(tmp_path)


def run_cli(args: list[str], env: dict[str, str] | None = None, *, cwd: Path | None = None,
            timeout: float = 300, input_text: str | None = None
            ) -> subprocess.CompletedProcess:
    """Run an installed console script (``appion``, ``ctffind4.py`` …) as a user would."""
    executable = Path(sys.executable).parent / args[0]
    command = [str(executable) if executable.exists() else args[0], *args[1:]]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, input=input_text)


@pytest.fixture
def cli():
    return run_cli
