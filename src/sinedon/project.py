"""Point sinedon at a project's databases: :func:`setup`.

The project's Appion database is the one ``processingdb`` names (classic Appion),
else ``ap<projectid>``; finding it reads the project database, so this module sits
above the dict API (:mod:`sinedon.api`) and the connection layer below it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sinedon import api, connection, tables
from sinedon.config import PROJECT, SinedonConfig, check_database_name, load_config

log = logging.getLogger(__name__)


def resolve_appion_database(config: SinedonConfig, projectid: int) -> str:
    """The project's Appion database: ``processingdb.appiondb``, else ``ap<projectid>``."""
    row = None
    try:
        if api.table_exists(PROJECT, "processingdb"):
            row = api.get("processingdb", {"project": projectid})
    except Exception as error:  # an unreachable project database is reported by callers
        log.debug("no processingdb lookup for project %s: %s", projectid, error)
    if row and row.get("appiondb"):
        return check_database_name(row["appiondb"], f"processingdb (project {projectid})")
    return f"ap{projectid}"


def setup(projectid: int | None = None,
          config: SinedonConfig | str | None = None) -> SinedonConfig:
    """Point the ``leginondata``, ``projectdata`` and ``appiondata`` aliases at the databases.

    ``projectid`` selects the project's Appion database as classic Appion does.
    Returns the configuration in force.
    """
    with connection.lock:
        tables.forget()
        resolved = load_config(config)
        if not _same_servers(connection.state.get("config"), resolved):
            connection.forget_project_aliases()
            _project_databases.clear()
        connection.configure_django(connection.databases(resolved))
        if projectid is not None:
            name = resolve_appion_database(resolved, int(projectid))
            resolved = resolved.with_appion_database(name)
            connection.configure_django(connection.databases(resolved))
        connection.state["config"] = resolved
        connection.state["projectid"] = projectid
        return resolved


#: Each project's Appion database name, as :func:`project_context` resolved it.
_project_databases: dict[int, str] = {}


def _same_servers(old: SinedonConfig | None, new: SinedonConfig) -> bool:
    """Whether two configurations differ at most in the project's Appion database."""
    return old is not None and old.with_appion_database("") == new.with_appion_database("")


@contextlib.contextmanager
def project_context(projectid: int) -> Iterator[str]:
    """Within the block, this thread's ``appiondata`` models use project ``projectid``'s
    Appion database, whichever project :func:`setup` chose for the process (a service
    processing sessions of several projects switches with this, without reconnecting).
    Yields the database's name."""
    name = _project_databases.get(int(projectid))
    if name is None:
        name = resolve_appion_database(connection.current_config(), int(projectid))
        _project_databases[int(projectid)] = name
    with connection.appion_database(name):
        yield name
