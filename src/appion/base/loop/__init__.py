"""The controller loop: discovery, ordering, Dask submission, storing, chaining.

Public API (used by every controller-driven command)::

    run_pipeline(steps, run, settings=settings) -> int  # the daemon; the exit status

The command line builds ``settings`` (:class:`RuntimeSettings`) from the runtime
flags (:mod:`appion.cli.runtime_options`).
"""

from appion.base.loop.options import RuntimeSettings, default_settings
from appion.base.loop.run import run_pipeline

__all__ = ["RuntimeSettings", "default_settings", "run_pipeline"]
