"""Point sinedon at a project's databases: :func:`setup`.

The project's Appion database is the one ``processingdb`` names (classic Appion),
else ``ap<projectid>``; finding it reads the project database, so this module sits
above the dict API (:mod:`sinedon.api`) and the connection layer below it.
"""

from __future__ import annotations

import logging

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
        connection.configure_django(connection.databases(resolved))
        if projectid is not None:
            name = resolve_appion_database(resolved, int(projectid))
            resolved = resolved.with_appion_database(name)
            connection.configure_django(connection.databases(resolved))
        connection.state["config"] = resolved
        connection.state["projectid"] = projectid
        return resolved
