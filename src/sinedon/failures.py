"""Database failures as one-line :class:`~sinedon.errors.SinedonError` messages.

A MariaDB/MySQL or SQLite exception is turned into what a user can act on: the
server cannot be reached (``DatabaseUnreachable``), a table is missing
(``MissingTable``), the database is busy (``DatabaseBusy``), naming the database
as ``sinedon.cfg`` configures it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sinedon import connection
from sinedon.errors import DatabaseBusy, DatabaseUnreachable, MissingTable, SinedonError

#: MySQL error codes meaning "the connection is gone, reconnect and try again".
_CONNECTION_LOST = {2006, 2013, 2055, 4031, 1927}
_CANNOT_CONNECT = {2002, 2003, 2005, 1045, 1044}
_UNKNOWN_DATABASE = 1049
_NO_SUCH_TABLE = 1146
_LOCK_WAIT_TIMEOUT, _DEADLOCK = 1205, 1213


def _error_code(error: BaseException) -> int | None:
    args = getattr(error, "args", ())
    cause = error.__cause__ or error
    for candidate in (cause, error):
        args = getattr(candidate, "args", ())
        if args and isinstance(args[0], int):
            return args[0]
    return None


def _translate(error: Exception, alias: str, table: str | None) -> SinedonError:
    where = connection.location(alias).describe()
    code = _error_code(error)
    cause = error.__cause__ or error
    cause_args: tuple[object, ...] = getattr(cause, "args", ())
    message = str(cause_args[-1]) if len(cause_args) > 1 else str(cause)
    if code in _CANNOT_CONNECT or code in _CONNECTION_LOST:
        return DatabaseUnreachable(
            f"cannot reach {where}: {message.splitlines()[0]}; check that the server is "
            "running and that host, port, user and passwd in sinedon.cfg are right")
    if code == _UNKNOWN_DATABASE:
        return DatabaseUnreachable(
            f"{where} does not exist; create it with 'appion db init' or ask your "
            "database administrator")
    if code == _NO_SUCH_TABLE or "no such table" in message:
        return MissingTable(
            f"table {table or '?'} is missing in {where}; create the tables with "
            f"'appion db init --database {alias.split('@')[0].removesuffix('data')}'")
    if "unable to open database file" in message:
        return DatabaseUnreachable(f"cannot open {where}: {message}; check the folder "
                                   "exists and is writable (APPION_HOME)")
    text = f"{where}: {message.splitlines()[0] if message else error!r}"
    if code in (_LOCK_WAIT_TIMEOUT, _DEADLOCK) or "database is locked" in message:
        return DatabaseBusy(text)
    return SinedonError(text)


def is_connection_lost(error: Exception) -> bool:
    return _error_code(error) in _CONNECTION_LOST or "gone away" in str(error)


@contextlib.contextmanager
def translated_errors(alias: str, table: str | None = None) -> Iterator[None]:
    """Turn database exceptions into one-line :class:`SinedonError`."""
    from django.db import DatabaseError, InterfaceError
    try:
        yield
    except SinedonError:
        raise
    except (DatabaseError, InterfaceError) as error:
        raise _translate(error, alias, table) from None
