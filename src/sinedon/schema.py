"""Create missing tables and report missing columns, never altering what exists."""

from __future__ import annotations

from dataclasses import dataclass

from sinedon import connection, project, tables
from sinedon.config import DatabaseLocation, check_database_name
from sinedon.failures import translated_errors


def models_of(alias: str) -> list:
    from django.apps import apps
    return list(apps.get_app_config(alias).get_models())


@dataclass(frozen=True)
class InitReport:
    alias: str
    location: str
    created: tuple[str, ...]
    existing: tuple[str, ...]


def _server_connection(location: DatabaseLocation):
    import pymysql
    try:
        return pymysql.connect(host=location.host, port=location.port, user=location.user,
                               password=location.password, connect_timeout=5)
    except pymysql.err.OperationalError as error:
        from sinedon.errors import DatabaseUnreachable
        raise DatabaseUnreachable(
            f"cannot reach the MySQL server at {location.host}:{location.port}: "
            f"{error.args[-1]}; check that it is running and the credentials in sinedon.cfg"
        ) from None


def database_exists(location: DatabaseLocation) -> bool:
    """Whether the database (MySQL schema or SQLite file) exists, without creating it."""
    if location.engine != "mysql":
        return location.sqlite_path.exists()
    server = _server_connection(location)
    try:
        with server.cursor() as cursor:
            return bool(cursor.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (location.name,)))
    finally:
        server.close()


def ensure_database_exists(location: DatabaseLocation) -> bool:
    """Create a MySQL/MariaDB database if it is missing; return whether it was created."""
    if location.engine != "mysql":
        return False
    check_database_name(location.name, "sinedon.cfg or the processingdb table")
    server = _server_connection(location)
    try:
        with server.cursor() as cursor:
            created = cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{location.name}` "
                "CHARACTER SET utf8mb4")
        return bool(created)
    finally:
        server.close()


def existing_tables(alias: str) -> set[str]:
    from django.db import connections
    with translated_errors(alias):
        return set(connections[alias].introspection.table_names())


def init_database(alias: str) -> InitReport:
    """Create every table of ``alias`` that does not exist yet (idempotent).

    Tables are created as classic sinedon creates them (:func:`tables.create_table_sql`):
    integer ids and a ``DEF_timestamp`` the server sets, so classic code and myamiweb
    can insert into them too.  An existing table is never altered.
    """
    from django.db import connections
    location = connection.location(alias)
    ensure_database_exists(location)
    present = existing_tables(alias)
    created, existing = [], []
    database = connections[alias]
    with translated_errors(alias):
        with database.cursor() as cursor:
            for model in models_of(alias):
                table = model._meta.db_table
                if table in present:
                    existing.append(table)
                    continue
                cursor.execute(tables.create_table_sql(model, database.vendor))
                if database.vendor == "sqlite":
                    for statement in tables.create_index_sql(model):
                        cursor.execute(statement)
                created.append(table)
    tables.forget()
    return InitReport(alias, location.describe(), tuple(created), tuple(existing))


def init_all(projectid: int, *, project_name: str | None = None, appion_db: str | None = None,
             config=None) -> list[InitReport]:
    """Set sinedon up for ``projectid`` and create every missing table.

    The Leginon and project databases come first: the project's row in ``projects``
    is added when missing (named ``project_name``) and, with ``appion_db``, its
    ``processingdb`` row, which names the Appion database that is created last.
    """
    from sinedon import api
    from sinedon.config import APPION, LEGINON, PROJECT
    project.setup(config=config)
    reports = [init_database(LEGINON), init_database(PROJECT)]
    if api.get("projects", {"id": projectid}) is None:
        api.insert("projects", {"id": projectid,
                                "name": project_name or f"project {projectid}", "hidden": False})
    if appion_db:
        api.set("processingdb", {"project": projectid, "appiondb": appion_db})
    project.setup(projectid=projectid, config=config)
    reports.append(init_database(APPION))
    return reports


def init_new_databases(projectid: int, *, config=None) -> list[InitReport]:
    """Set sinedon up for ``projectid`` and create the tables of the databases that do
    not exist yet; an existing database (a site's Leginon) is left as it is."""
    from sinedon.config import APPION, LEGINON, PROJECT
    project.setup(config=config)
    reports = [init_database(alias) for alias in (LEGINON, PROJECT)
               if not database_exists(connection.location(alias))]
    project.setup(projectid=projectid, config=config)
    if not database_exists(connection.location(APPION)):
        reports.append(init_database(APPION))
    return reports


@dataclass(frozen=True)
class Shortfall:
    """A table or required column a database lacks, and the statement that adds it;
    ``needed_by`` names the only feature that needs a missing table (``None``: every
    run needs it)."""

    table: str
    column: str | None
    statement: str
    needed_by: str | None = None

    def describe(self) -> str:
        return self.table if self.column is None else f"{self.table}.{self.column}"


def needed_only_by(model) -> str | None:
    """The feature that alone needs ``model``'s table (its models module's
    ``TABLES_NEEDED_ONLY_BY``), or ``None`` when every run needs it."""
    import sys
    needs = getattr(sys.modules[model.__module__], "TABLES_NEEDED_ONLY_BY", {})
    return needs.get(model._meta.db_table)


def _missing_table(model, vendor: str = "mysql") -> Shortfall:
    return Shortfall(model._meta.db_table, None, tables.create_table_sql(model, vendor),
                     needed_only_by(model))


def check_database(alias: str) -> list[Shortfall]:
    """The tables and required columns the database lacks (optional columns may be absent)."""
    from django.db import connections
    location = connection.location(alias)
    if not database_exists(location):
        return [_missing_table(model) for model in models_of(alias)]
    present = existing_tables(alias)
    vendor = connections[alias].vendor
    missing: list[Shortfall] = []
    with translated_errors(alias):
        for model in models_of(alias):
            table = model._meta.db_table
            if table not in present:
                missing.append(_missing_table(model, vendor))
                continue
            columns = tables.real_columns(model)
            missing.extend(Shortfall(table, column,
                                     tables.add_columns_sql(model, [column], vendor))
                           for column in tables.missing_required(model, columns))
    return missing


def absent_optional_columns(alias: str) -> list[str]:
    """``Table.column`` of the declared optional columns the database's tables lack."""
    present = existing_tables(alias)
    absent: list[str] = []
    for model in models_of(alias):
        if model._meta.db_table not in present:
            continue
        absent.extend(f"{model._meta.db_table}.{field.column}"
                      for field in tables.absent_fields(model, tables.real_columns(model)))
    return absent
