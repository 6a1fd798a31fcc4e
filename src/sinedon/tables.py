"""What a site's tables really have, learned once per database and process.

Leginon's schema differs between versions (``PresetData.energy filter offset`` is in
2025 databases and not in 2024 ones) and classic sinedon adds columns the first time
it stores a value, so the models are a guess and the database is the truth.  This
module reads each table's columns once (introspection), tells :mod:`sinedon.api`
which declared fields to read and write, and says what an administrator must run
when a column Appion cannot do without is missing.  It never alters a table.
"""

from __future__ import annotations

import threading

from sinedon.columns import declared_columns
from sinedon.connection import resolve_alias
from sinedon.errors import MissingColumn, MissingTable
from sinedon.failures import translated_errors

_lock = threading.Lock()
_columns: dict[tuple[str, str, str], frozenset[str]] = {}


def forget() -> None:
    """Drop everything learned (after ``sinedon.setup`` re-points a database)."""
    with _lock:
        _columns.clear()


def _key(model) -> tuple[str, str, str]:
    """(alias, the database it points at now, table)."""
    from django.db import connections
    alias = resolve_alias(model._meta.app_label)
    settings = connections[alias].settings_dict
    where = f"{settings.get('HOST')}:{settings.get('PORT')}/{settings['NAME']}"
    return alias, where, model._meta.db_table


def describe(alias: str) -> str:
    from django.db import connections
    alias = resolve_alias(alias)
    settings = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"SQLite database {settings['NAME']}"
    return f"database '{settings['NAME']}' on {settings.get('HOST')}:{settings.get('PORT')}"


def real_columns(model) -> frozenset[str]:
    """The columns ``model``'s table has in the database in use (read once)."""
    key = _key(model)
    with _lock:
        known = _columns.get(key)
    if known is not None:
        return known
    found = _introspect(model)
    with _lock:
        _columns[key] = found
    return found


def _introspect(model) -> frozenset[str]:
    from django.db import connections

    alias, _, table = _key(model)
    where = describe(alias)
    with translated_errors(alias, table):
        database = connections[alias]
        if table not in database.introspection.table_names():
            name = model._meta.app_label.removesuffix("data")
            raise MissingTable(f"table {table} is missing in {where}; create the tables with "
                               f"'appion db init --database {name}' "
                               "('appion db check' prints the CREATE TABLE statement)")
        with database.cursor() as cursor:
            description = database.introspection.get_table_description(cursor, table)
    return frozenset(column.name for column in description)


def absent_fields(model, columns: frozenset[str]) -> list:
    """The model's declared fields whose column is not among ``columns``."""
    return [field for field in model._meta.concrete_fields if field.column not in columns]


def absent_field_names(model) -> frozenset[str]:
    """Python names of the declared (optional) fields the real table lacks, after checking
    that it has every required one (:class:`MissingColumn` otherwise)."""
    columns = real_columns(model)
    require_columns(model, columns)
    return frozenset(field.name for field in absent_fields(model, columns))


def missing_required(model, columns: frozenset[str]) -> list[str]:
    return [column.db_name for column in declared_columns(model)
            if column.required and column.db_name not in columns]


def require_columns(model, columns: frozenset[str]) -> None:
    """Raise :class:`MissingColumn` naming the first required column the table lacks."""
    missing = missing_required(model, columns)
    if missing:
        table = model._meta.db_table
        where = describe(model._meta.app_label)
        statement = add_columns_sql(model, missing)
        raise MissingColumn(f"table {table} in {where} has no column '{missing[0]}', which "
                            f"Appion needs; an administrator can add it with: {statement}")


def _quote(name: str, vendor: str) -> str:
    return f'"{name}"' if vendor == "sqlite" else f"`{name}`"


def _column_sql(column, vendor: str) -> str:
    default = " DEFAULT 0" if column.sql_type == "tinyint(1)" else " DEFAULT NULL"
    return f"{_quote(column.db_name, vendor)} {column.sql_type}{default}"


def add_columns_sql(model, db_names: list[str], vendor: str = "mysql") -> str:
    """``ALTER TABLE`` adding ``db_names`` as the model declares them."""
    by_name = {column.db_name: column for column in declared_columns(model)}
    additions = ", ".join(f"ADD COLUMN {_column_sql(by_name[name], vendor)}"
                          for name in db_names)
    return f"ALTER TABLE {_quote(model._meta.db_table, vendor)} {additions};"


def create_table_sql(model, vendor: str = "mysql") -> str:
    """The table as classic sinedon creates it: integer ``DEF_id``, a ``DEF_timestamp``
    set by the server, every declared column nullable, an index on each reference."""
    table = model._meta.db_table
    columns = declared_columns(model)
    if vendor == "sqlite":
        lines = ['"DEF_id" integer NOT NULL PRIMARY KEY AUTOINCREMENT',
                 "\"DEF_timestamp\" datetime NOT NULL DEFAULT (datetime('now', 'localtime'))",
                 *(_column_sql(column, vendor) for column in columns)]
        return f'CREATE TABLE "{table}" ({", ".join(lines)});'
    keys = ["PRIMARY KEY (`DEF_id`)", "KEY `DEF_timestamp` (`DEF_timestamp`)",
            *(f"KEY `{column.db_name[:64]}` (`{column.db_name}`)" for column in columns
              if column.db_name.startswith("REF|"))]
    lines = ["`DEF_id` int(16) NOT NULL AUTO_INCREMENT",
             "`DEF_timestamp` timestamp NOT NULL DEFAULT current_timestamp()",
             *(_column_sql(column, vendor) for column in columns), *keys]
    return (f"CREATE TABLE `{table}` ({', '.join(lines)}) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;")


def create_index_sql(model) -> list[str]:
    """SQLite indexes on ``DEF_timestamp`` and the references, as Leginon's MySQL tables
    have (MySQL declares them inside the table)."""
    table = model._meta.db_table
    return [f'CREATE INDEX "{table}_def_timestamp" ON "{table}" ("DEF_timestamp");'] + [
        f'CREATE INDEX "{table}_{column.name}" ON "{table}" ("{column.db_name}");'
        for column in declared_columns(model) if column.db_name.startswith("REF|")]
