"""The controller loop: discovery, ordering, Dask submission, storing, chaining.

Public API (used by every controller-driven command line)::

    add_runtime_options(parser)      # --cluster, --scheduler, workers, retries ...
    run_pipeline(steps, run) -> int  # the daemon; returns the exit status
"""

from appion.base.loop.options import RuntimeSettings, add_runtime_options, runtime_settings
from appion.base.loop.run import run_pipeline

__all__ = ["RuntimeSettings", "add_runtime_options", "run_pipeline", "runtime_settings"]
