"""sinedon: the Leginon, project and Appion databases as Django models.

Call :func:`setup` once per process (again to switch project), then use the
dict API::

    import sinedon
    sinedon.setup(projectid=12)
    image = sinedon.get("AcquisitionImageData", {"filename": name})
    sinedon.set("ApPathData", {"path": "/data/appion/run1"})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sinedon.api import (
        atomic,
        copy_row,
        count,
        delete,
        filter,
        get,
        ids,
        insert,
        insert_many,
        max_id,
        model_for,
        newest,
        rows_by_ids,
        set,
        table_exists,
        update,
    )
    from sinedon.config import (
        ALIASES,
        APPION,
        LEGINON,
        PROJECT,
        SinedonConfig,
        embedded_config,
        load_config,
        read_config_file,
    )
    from sinedon.connection import (
        close_all,
        close_connection,
        current_config,
    )
    from sinedon.errors import (
        ConfigError,
        DatabaseBusy,
        DatabaseUnreachable,
        MissingColumn,
        MissingTable,
        NotSetUp,
        SinedonError,
    )
    from sinedon.project import (
        project_context,
        setup,
    )

#: Where each public name lives: a submodule is imported when one of its names is first
#: used, so that ``import sinedon.errors`` (every command does) does not load Django.
_HOMES = {
    "atomic": "sinedon.api",
    "copy_row": "sinedon.api",
    "count": "sinedon.api",
    "delete": "sinedon.api",
    "filter": "sinedon.api",
    "get": "sinedon.api",
    "ids": "sinedon.api",
    "insert": "sinedon.api",
    "insert_many": "sinedon.api",
    "max_id": "sinedon.api",
    "model_for": "sinedon.api",
    "newest": "sinedon.api",
    "rows_by_ids": "sinedon.api",
    "set": "sinedon.api",
    "table_exists": "sinedon.api",
    "update": "sinedon.api",
    "ALIASES": "sinedon.config",
    "APPION": "sinedon.config",
    "LEGINON": "sinedon.config",
    "PROJECT": "sinedon.config",
    "SinedonConfig": "sinedon.config",
    "embedded_config": "sinedon.config",
    "load_config": "sinedon.config",
    "read_config_file": "sinedon.config",
    "close_all": "sinedon.connection",
    "close_connection": "sinedon.connection",
    "current_config": "sinedon.connection",
    "ConfigError": "sinedon.errors",
    "DatabaseBusy": "sinedon.errors",
    "DatabaseUnreachable": "sinedon.errors",
    "MissingColumn": "sinedon.errors",
    "MissingTable": "sinedon.errors",
    "NotSetUp": "sinedon.errors",
    "SinedonError": "sinedon.errors",
    "project_context": "sinedon.project",
    "setup": "sinedon.project",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "ALIASES", "APPION", "LEGINON", "PROJECT", "ConfigError", "DatabaseBusy",
    "DatabaseUnreachable", "MissingColumn", "MissingTable", "NotSetUp", "SinedonConfig",
    "SinedonError", "atomic", "close_all", "close_connection", "copy_row", "count",
    "current_config", "delete", "embedded_config", "filter", "get", "ids", "insert", "insert_many",
    "load_config", "max_id", "model_for", "newest", "project_context", "read_config_file",
    "rows_by_ids", "set",
    "setup", "table_exists", "update",
]
