"""Dict-based access to the models: ``get``, ``filter``, ``set``, ``update`` and bulk reads.

Rows go in and come out as plain dicts keyed by the Python field names of
:mod:`sinedon.columns` (``session``, ``dimension_x``, ``use_frames``; ``id`` is
``DEF_id``).  Leginon column names (``REF|SessionData|session``) are accepted as
keys too.  Only the columns the site's table really has are read and written
(:mod:`sinedon.tables`): a declared column the table lacks reads as ``None`` and is
not written.  Rows are inserted with the columns given and nothing else, so the
server sets ``DEF_timestamp``.  Every call translates database failures into one-line
:class:`~sinedon.errors.SinedonError` messages and retries once after a lost
connection, so a long-running controller survives a database restart.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from sinedon import connection, tables
from sinedon.errors import DatabaseUnreachable, SinedonError
from sinedon.failures import is_connection_lost, translated_errors

_IN_CHUNK = 500


def model_for(model: Any):
    """A model class from itself or its table name (``"AcquisitionImageData"``)."""
    from django.apps import apps
    if isinstance(model, str):
        for app_label in ("leginondata", "projectdata", "appiondata"):
            try:
                return apps.get_model(app_label, model)
            except LookupError:
                continue
        raise SinedonError(f"no table named {model!r} in the sinedon models")
    return model


def _alias(model) -> str:
    return connection.resolve_alias(model._meta.app_label)


def _field_names(model) -> dict[str, str]:
    """Map both Python names and column names to the Python field name."""
    names: dict[str, str] = {}
    for field in model._meta.concrete_fields:
        names[field.name] = field.name
        names[field.column] = field.name
    names["pk"] = "id"
    return names


def _normalise(model, values: dict[str, Any] | None) -> dict[str, Any]:
    if not values:
        return {}
    names = _field_names(model)
    normalised = {}
    for key, value in values.items():
        base, _, lookup = key.partition("__")
        if base not in names:
            raise SinedonError(f"{model._meta.db_table} has no column {base!r}")
        normalised[names[base] + (f"__{lookup}" if lookup else "")] = value
    return normalised


def _writable(model, values: dict[str, Any] | None,
              absent: frozenset[str] | None = None) -> dict[str, Any]:
    """``values`` by field name, without the declared columns the real table lacks
    (``absent``, learned here when not given)."""
    data = _normalise(model, values)
    absent = _absent(model) if absent is None else absent
    return {key: value for key, value in data.items() if key not in absent}


def _where(model, where: dict[str, Any] | None) -> dict[str, Any]:
    """Django lookups for ``where``; a condition on a column the table lacks holds only
    for ``None`` (an absent column reads as NULL)."""
    lookups = {}
    absent = _absent(model)
    for key, value in _lookups(_normalise(model, where)).items():
        base = key.partition("__")[0]
        if base not in absent:
            lookups[key] = value
        elif not (value is None or (key.endswith("__isnull") and value is True)):
            raise SinedonError(
                f"{model._meta.db_table} in {tables.describe(_alias(model))} "
                f"has no column for {base!r}; this Leginon/Appion version does not record it")
    return lookups


def _absent(model) -> frozenset[str]:
    return _run(model, lambda: tables.absent_field_names(model))


def _readable(model, fields: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """(field names to select, absent field names to fill with ``None``)."""
    absent = _absent(model)
    wanted = (list(_normalise(model, dict.fromkeys(fields))) if fields else
              [field.name for field in model._meta.concrete_fields])
    return ([name for name in wanted if name not in absent],
            [name for name in wanted if name in absent])


def _with_absent(rows: list[dict[str, Any]], absent: list[str]) -> list[dict[str, Any]]:
    if absent:
        for row in rows:
            row.update(dict.fromkeys(absent))
    return rows


def _lookups(where: dict[str, Any]) -> dict[str, Any]:
    """``None`` values mean ``IS NULL``."""
    return {(f"{key}__isnull" if value is None and "__" not in key else key):
            (True if value is None and "__" not in key else value)
            for key, value in where.items()}


def _run(model, operation, *, retry: bool = True):
    """Run ``operation()`` against ``model``'s database; reconnect once if the link dropped."""
    from django.db import DatabaseError, InterfaceError, connections
    alias = _alias(model)
    table = model._meta.db_table
    with translated_errors(alias, table):
        try:
            return operation()
        except (DatabaseError, InterfaceError) as error:
            in_transaction = not connections[alias].get_autocommit()
            if not retry or in_transaction or not is_connection_lost(error):
                raise
            connection.close_connection(alias)
            time.sleep(0.2)
            return operation()


def get(model, where: dict[str, Any] | None = None, **kwargs) -> dict[str, Any] | None:
    """The newest row (highest ``DEF_id``) matching ``where``, or ``None``."""
    rows = filter(model, {**(where or {}), **kwargs}, order_by="-id", limit=1)
    return rows[0] if rows else None


def filter(model, where: dict[str, Any] | None = None, *, order_by: str | Iterable[str] = "id",
           limit: int | None = None, fields: Iterable[str] | None = None
           ) -> list[dict[str, Any]]:
    """Rows matching ``where`` (Django lookups such as ``id__gt`` allowed), as dicts."""
    model = model_for(model)
    lookups = _where(model, where)
    ordering = [order_by] if isinstance(order_by, str) else list(order_by)
    columns, absent = _readable(model, fields)

    def operation():
        query = model.objects.filter(**lookups).order_by(*ordering)
        if limit is not None:
            query = query[:limit]
        return list(query.values(*columns))

    return _with_absent(_run(model, operation), absent)


def count(model, where: dict[str, Any] | None = None) -> int:
    model = model_for(model)
    lookups = _where(model, where)
    return _run(model, lambda: model.objects.filter(**lookups).count())


def _db_values(model, data: dict[str, Any]) -> dict[str, Any]:
    """Field values as the database stores them, keyed by column name."""
    from django.db import connections
    database = connections[_alias(model)]
    fields = {field.name: field for field in model._meta.concrete_fields}
    return {fields[name].column: fields[name].get_db_prep_save(value, database)
            for name, value in data.items()}


def _insert_sql(database, model, columns: Iterable[str]) -> str:
    """``INSERT`` naming exactly ``columns`` (the server fills in the rest)."""
    quote = database.ops.quote_name
    table = quote(model._meta.db_table)
    columns = list(columns)
    if columns:
        names = ", ".join(quote(column) for column in columns)
        return f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
    if database.vendor == "sqlite":
        return f"INSERT INTO {table} DEFAULT VALUES"
    return f"INSERT INTO {table} () VALUES ()"


def _insert_columns(model, values: dict[str, Any]) -> int:
    """``INSERT`` exactly these columns (the server fills in the rest); the new id."""
    from django.db import connections
    database = connections[_alias(model)]
    with database.cursor() as cursor:
        cursor.execute(_insert_sql(database, model, values), list(values.values()))
        return int(cursor.lastrowid)


def insert(model, values: dict[str, Any]) -> int:
    """Insert one row unconditionally; return its ``DEF_id``.

    The server sets ``DEF_timestamp`` unless ``values`` gives one explicitly (the
    simulator recreating an acquisition's time); it is never taken from this host's
    clock by default.
    """
    model = model_for(model)
    data = _writable(model, values)
    if data.get("def_timestamp") is None:
        data.pop("def_timestamp", None)
    return _run(model, lambda: _insert_columns(model, _db_values(model, data)), retry=False)


def insert_many(model, rows: Iterable[dict[str, Any]], *, batch_size: int = 2000) -> int:
    """Insert many rows, all with the same columns, in batches; return how many.

    Like :func:`insert`, only the given columns are named (the server sets the rest).
    """
    from django.db import connections
    model = model_for(model)
    absent = _absent(model)
    prepared = [_db_values(model, _writable(model, row, absent)) for row in rows]
    if not prepared:
        return 0
    columns = list(prepared[0])
    if any(list(row) != columns for row in prepared):
        raise SinedonError(f"insert_many into {model._meta.db_table}: every row must give the "
                           "same columns")
    database = connections[_alias(model)]
    statement = _insert_sql(database, model, columns)

    def operation(batch):
        with database.cursor() as cursor:
            cursor.executemany(statement, [list(row.values()) for row in batch])

    for start in range(0, len(prepared), batch_size):
        batch = prepared[start:start + batch_size]
        _run(model, lambda batch=batch: operation(batch), retry=False)
    return len(prepared)


def set(model, values: dict[str, Any]) -> int:  # noqa: A001 - the classic sinedon name
    """Insert ``values`` unless an identical row exists; return the row's ``DEF_id``.

    Identical means equal in every given column (``DEF_timestamp`` aside), as the
    classic sinedon ``insert(force=False)`` does.
    """
    from django.db import transaction
    model = model_for(model)
    data = _writable(model, values)
    data.pop("def_timestamp", None)
    data.pop("id", None)
    alias = _alias(model)

    def operation():
        with transaction.atomic(using=alias):
            existing = (model.objects.filter(**_lookups(data)).order_by("id")
                        .values_list("id", flat=True).first())
            if existing is not None:
                return existing
            return _insert_columns(model, _db_values(model, data))

    return _run(model, operation, retry=False)


def _select_row(model, row_id: int) -> dict[str, Any] | None:
    """Every real column of one row, declared or not, keyed by column name."""
    from django.db import connections
    database = connections[_alias(model)]
    quote = database.ops.quote_name
    with database.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quote(model._meta.db_table)} "
                       f"WHERE {quote('DEF_id')} = %s", [row_id])
        found = cursor.fetchone()
        if found is None:
            return None
        return {column[0]: value for column, value in zip(cursor.description, found)}


def _find_identical(model, values: dict[str, Any]) -> int | None:
    """The oldest row equal to ``values`` in every column (NULL equals NULL)."""
    from django.db import connections
    database = connections[_alias(model)]
    quote = database.ops.quote_name
    same = "IS" if database.vendor == "sqlite" else "<=>"
    condition = " AND ".join(f"{quote(column)} {same} %s" for column in values) or "1=1"
    with database.cursor() as cursor:
        cursor.execute(f"SELECT {quote('DEF_id')} FROM {quote(model._meta.db_table)} "
                       f"WHERE {condition} ORDER BY {quote('DEF_id')} LIMIT 1",
                       list(values.values()))
        found = cursor.fetchone()
    return int(found[0]) if found else None


def copy_row(model, row_id: int, changes: dict[str, Any] | None = None, *,
             reuse_identical: bool = False) -> int:
    """Insert a copy of row ``row_id`` with ``changes``; return the new row's id.

    Every column the real table has is copied, declared in the model or not (a
    production row keeps its tilt series, phase plate, queue …), as classic
    sinedon's ``initializer=`` does; ``DEF_id`` and ``DEF_timestamp`` are the new
    row's own.  With ``reuse_identical``, an existing row equal in every column is
    returned instead (classic ``insert(force=False)`` compares the whole row).
    """
    from django.db import transaction
    model = model_for(model)
    data = _db_values(model, _writable(model, changes))

    def operation():
        with transaction.atomic(using=_alias(model)):
            source = _select_row(model, row_id)
            if source is None:
                raise SinedonError(f"{model._meta.db_table} has no row {row_id} to copy")
            values = {column: value for column, value in source.items()
                      if column not in ("DEF_id", "DEF_timestamp")}
            values.update(data)
            existing = _find_identical(model, values) if reuse_identical else None
            return existing if existing is not None else _insert_columns(model, values)

    return _run(model, operation, retry=False)


def update(model, row_id: int, values: dict[str, Any]) -> int:
    """Change columns of row ``row_id``; return the number of rows changed (0 or 1)."""
    model = model_for(model)
    data = _writable(model, values)
    data.pop("def_timestamp", None)
    if not data:
        return 0
    return _run(model, lambda: model.objects.filter(pk=row_id).update(**data), retry=False)


def delete(model, where: dict[str, Any]) -> int:
    """Delete the rows matching ``where`` (never everything: ``where`` must be given)."""
    if not where:
        raise SinedonError("refusing to delete every row: give a condition")
    model = model_for(model)
    lookups = _where(model, where)
    return _run(model, lambda: model.objects.filter(**lookups).delete()[0], retry=False)


def ids(model, where: dict[str, Any] | None = None, *, after_id: int = 0,
        limit: int | None = None, newest_first: bool = False) -> list[int]:
    """Only the ids of matching rows with ``DEF_id > after_id``, ascending (or newest first)."""
    model = model_for(model)
    lookups = _where(model, where)
    if after_id:
        lookups["id__gt"] = after_id

    def operation():
        query = (model.objects.filter(**lookups).order_by("-id" if newest_first else "id")
                 .values_list("id", flat=True))
        return list(query[:limit] if limit is not None else query)

    return _run(model, operation)


def rows_by_ids(model, row_ids: Iterable[int], fields: Iterable[str] | None = None
                ) -> dict[int, dict[str, Any]]:
    """Rows for a list of ids, in chunked ``IN`` queries, keyed by id."""
    model = model_for(model)
    wanted = sorted(dict.fromkeys(int(row_id) for row_id in row_ids))
    columns, absent = _readable(model, fields)
    if "id" not in columns:
        columns.append("id")
    rows: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start:start + _IN_CHUNK]
        found = _run(model, lambda chunk=chunk: list(
            model.objects.filter(id__in=chunk).values(*columns)))
        rows.update((row["id"], row) for row in _with_absent(found, absent))
    return rows


def newest(model, where: dict[str, Any] | None = None, limit: int = 1
           ) -> list[dict[str, Any]]:
    """The ``limit`` newest matching rows, newest first."""
    return filter(model, where, order_by="-id", limit=limit)


def max_id(model, where: dict[str, Any] | None = None) -> int:
    """The highest ``DEF_id`` matching ``where`` (0 for none)."""
    found = ids(model, where, limit=1, newest_first=True)
    return found[0] if found else 0


@contextlib.contextmanager
def atomic(alias: str) -> Iterator[None]:
    """A transaction on one database alias (``leginondata``, ``appiondata`` …).

    Database failures anywhere in it, BEGIN and COMMIT included, come out as one-line
    :class:`SinedonError`; when the connection was lost (:class:`DatabaseUnreachable`,
    and then the transaction may or may not have been committed) the outermost block
    drops the connection, so that the caller's next attempt reconnects.  Retrying is
    the caller's choice: only it can run the block again (idempotently).
    """
    from django.db import transaction
    alias = connection.resolve_alias(alias)
    try:
        with translated_errors(alias), transaction.atomic(using=alias):
            yield
    except DatabaseUnreachable:
        if not _in_atomic_block(alias):
            connection.close_connection(alias)
        raise


def _in_atomic_block(alias: str) -> bool:
    from django.db import connections
    return bool(connections[alias].in_atomic_block)


def table_exists(alias: str, table: str) -> bool:
    from django.db import connections
    alias = connection.resolve_alias(alias)
    with translated_errors(alias, table):
        return table in connections[alias].introspection.table_names()
