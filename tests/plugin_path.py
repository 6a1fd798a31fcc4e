"""Where the test-only step plug-ins live (``noop``, ``noop2`` and rows-only sessions).

``tests/plugins`` holds a package with its dist-info, so that ``importlib.metadata``
finds their ``appion.steps`` entry points in this process and, through
``PYTHONPATH``, in every subprocess (console scripts, Dask workers).  The tests'
conftest and the benchmarks that drive the controller call :func:`use_test_plugins`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent / "plugins"


def use_test_plugins() -> None:
    """Put :data:`PLUGINS` on ``sys.path`` and ``PYTHONPATH`` (once)."""
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    paths = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    if str(PLUGINS) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), *paths])
