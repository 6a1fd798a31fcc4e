"""sinedon: the Leginon, project and Appion databases as Django models.

Call :func:`setup` once per process (again to switch project), then use the
dict API::

    import sinedon
    sinedon.setup(projectid=12)
    image = sinedon.get("AcquisitionImageData", {"filename": name})
    sinedon.set("ApPathData", {"path": "/data/appion/run1"})
"""

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
from sinedon.connection import close_all, close_connection, current_config
from sinedon.errors import (
                         ConfigError,
                         DatabaseBusy,
                         DatabaseUnreachable,
                         MissingColumn,
                         MissingTable,
                         NotSetUp,
                         SinedonError,
)
from sinedon.project import project_context, setup

__all__ = [
    "ALIASES", "APPION", "LEGINON", "PROJECT", "ConfigError", "DatabaseBusy",
    "DatabaseUnreachable", "MissingColumn", "MissingTable", "NotSetUp", "SinedonConfig",
    "SinedonError", "atomic", "close_all", "close_connection", "copy_row", "count",
    "current_config", "delete", "embedded_config", "filter", "get", "ids", "insert", "insert_many",
    "load_config", "max_id", "model_for", "newest", "project_context", "read_config_file",
    "rows_by_ids", "set",
    "setup", "table_exists", "update",
]
