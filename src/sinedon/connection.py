"""Configure Django for the Leginon, project and Appion databases, in any process.

:func:`configure` may be called again (another project, another configuration): the
database aliases are re-pointed and their old connections closed.  Choosing the
project's database (``setup``) is :mod:`sinedon.project`.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import logging
import os
import threading
from collections.abc import Iterator
from typing import TypedDict

from sinedon.config import ALIASES, APPION, DatabaseLocation, SinedonConfig

log = logging.getLogger(__name__)

INSTALLED_APPS = ["sinedon.leginondata", "sinedon.projectdata", "sinedon.appiondata"]
SQLITE_BUSY_TIMEOUT_S = 30
#: Seconds to wait for a MariaDB/MySQL server to accept a connection.
CONNECT_TIMEOUT_S = 5
#: Seconds one read or write on a MariaDB/MySQL connection may block: a frozen server
#: then fails the query (as a lost connection) instead of hanging the caller forever.
#: ``SINEDON_READ_TIMEOUT`` overrides it (seconds; 0: wait forever).
READ_TIMEOUT_S = 60


def _io_timeout_s() -> int | None:
    """The read/write timeout of MariaDB connections, from ``SINEDON_READ_TIMEOUT``."""
    text = os.environ.get("SINEDON_READ_TIMEOUT", "").strip()
    try:
        seconds = float(text) if text else READ_TIMEOUT_S
    except ValueError:
        log.warning("SINEDON_READ_TIMEOUT=%r is not a number of seconds; using %d",
                    text, READ_TIMEOUT_S)
        seconds = READ_TIMEOUT_S
    return max(1, round(seconds)) if seconds > 0 else None


def _mysql_options() -> dict:
    options: dict = {"charset": "utf8mb4", "connect_timeout": CONNECT_TIMEOUT_S}
    timeout = _io_timeout_s()
    if timeout is not None:
        options.update(read_timeout=timeout, write_timeout=timeout)
    return options


class _State(TypedDict, total=False):
    """The configuration in force and the Django databases it set up."""

    config: SinedonConfig | None
    projectid: int | None
    databases: dict[str, dict]


lock = threading.RLock()
state: _State = {"config": None, "projectid": None}

#: The Django alias the ``appiondata`` models use in this context (thread, task):
#: ``appiondata`` itself, or a project's own alias (:func:`appion_database`).
_appion_alias: contextvars.ContextVar[str] = contextvars.ContextVar(
    "sinedon_appion_alias", default=APPION)
#: Project aliases made by :func:`appion_database`: alias -> database name.
_project_aliases: dict[str, str] = {}


def resolve_alias(alias: str) -> str:
    """The Django alias that serves ``alias`` here: ``appiondata`` inside
    :func:`appion_database` is that project's alias."""
    return _appion_alias.get() if alias == APPION else alias


def project_alias(database_name: str) -> str:
    """The Django alias of one project's Appion database (made on first use)."""
    alias = f"{APPION}@{database_name}"
    with lock:
        if alias not in _project_aliases:
            from django.conf import settings
            from django.db import connections
            config = current_config().with_appion_database(database_name)
            database = _django_database(config.databases[APPION])
            completed = connections.configure_settings({"default": {}, alias: database})
            connections.settings[alias] = completed[alias]
            settings.DATABASES[alias] = completed[alias]
            _project_aliases[alias] = database_name
    return alias


@contextlib.contextmanager
def appion_database(database_name: str) -> Iterator[str]:
    """Within the block, this thread's ``appiondata`` models use ``database_name`` (on
    the configured server), whatever :func:`sinedon.setup` chose for the process: one
    process can serve sessions of several projects at once."""
    token = _appion_alias.set(project_alias(database_name))
    try:
        yield _appion_alias.get()
    finally:
        _appion_alias.reset(token)


def forget_project_aliases() -> None:
    """Close and drop the project aliases (the configuration changed)."""
    with lock:
        for alias in list(_project_aliases):
            close_connection(alias)
            from django.conf import settings
            from django.db import connections
            connections.settings.pop(alias, None)
            settings.DATABASES.pop(alias, None)
            del _project_aliases[alias]


def _sqlite_options() -> dict:
    options: dict[str, int | str] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    import django
    if django.VERSION >= (5, 1):
        # take the write lock at BEGIN: a read-then-write transaction then waits for
        # the busy timeout instead of failing at once while another process writes
        options["transaction_mode"] = "IMMEDIATE"
    return options


def _django_database(location: DatabaseLocation) -> dict:
    if location.engine == "sqlite":
        assert location.sqlite_dir is not None  # a sqlite location always has one
        location.sqlite_dir.mkdir(parents=True, exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(location.sqlite_path),
                "OPTIONS": _sqlite_options(), "TEST": {"NAME": None}}
    return {"ENGINE": "django.db.backends.mysql", "NAME": location.name,
            "HOST": location.host, "PORT": str(location.port), "USER": location.user,
            "PASSWORD": location.password,
            "OPTIONS": _mysql_options()}


def databases(config: SinedonConfig) -> dict[str, dict]:
    databases = {alias: _django_database(config.databases[alias]) for alias in ALIASES}
    databases["default"] = {}
    return databases


def _on_sqlite_connect(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA synchronous=NORMAL")


def configure_django(databases: dict[str, dict]) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        try:
            import pymysql
            pymysql.install_as_MySQLdb()
        except ImportError:  # mysqlclient may be installed instead
            pass
        settings.configure(
            DATABASES=copy.deepcopy(databases), INSTALLED_APPS=INSTALLED_APPS,
            DATABASE_ROUTERS=["sinedon.router.DatabaseRouter"], USE_TZ=False,
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField")
        django.setup()
        state["databases"] = databases
        from django.db.backends.signals import connection_created
        connection_created.connect(_on_sqlite_connect, dispatch_uid="sinedon-sqlite-pragmas")
        return
    from django.db import connections
    previous = state.get("databases") or {}
    for alias, database in databases.items():
        if alias == "default" or previous.get(alias) == database:
            continue
        close_connection(alias)
        completed = connections.configure_settings({"default": {}, alias: dict(database)})
        connections.settings[alias] = completed[alias]
        settings.DATABASES[alias] = completed[alias]
    state["databases"] = databases


def close_connection(alias: str) -> None:
    """Close this thread's connection to ``alias``; the next query reconnects."""
    from django.db import connections
    alias = resolve_alias(alias)
    try:
        connections[alias].close()
    except Exception:  # a broken connection may fail to close; drop it anyway
        pass
    try:
        del connections[alias]
    except (AttributeError, KeyError):
        pass


def close_all() -> None:
    for alias in (*ALIASES, *list(_project_aliases)):
        close_connection(alias)


def current_config() -> SinedonConfig:
    from sinedon.errors import NotSetUp
    config = state["config"]
    if config is None:
        raise NotSetUp("the databases are not configured; call sinedon.setup() first")
    return config


def location(alias: str) -> DatabaseLocation:
    """Where ``alias`` points (a project alias: its own database on the Appion server)."""
    name = _project_aliases.get(resolve_alias(alias))
    config = current_config()
    if name is not None:
        config = config.with_appion_database(name)
        alias = APPION
    return config.databases[alias]


def appion_location() -> DatabaseLocation:
    return location(APPION)
