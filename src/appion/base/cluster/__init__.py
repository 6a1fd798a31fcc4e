"""The Dask clusters the controller runs steps on.

``local`` (the default): worker processes on this machine, or one worker per GPU;
``slurm``: workers as Slurm jobs through dask-jobqueue, scaled adaptively between
``--min-workers`` and ``--max-workers``; ``--scheduler ADDRESS``: an existing Dask
scheduler (how Kubernetes or dask-gateway deployments are used; this process
neither starts nor stops its workers).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from appion.base.cluster.gpus import worker_gpu_ids
from appion.base.cluster.settings import (
    ClusterFlags,
    ClusterSettings,
    SlurmSettings,
    cluster_settings,
)
from appion.base.errors import AppionError

__all__ = ["ClusterFlags", "ClusterHandle", "ClusterSettings", "SlurmSettings", "cluster_settings",
           "open_cluster", "worker_gpu_ids"]

log = logging.getLogger(__name__)


@dataclass
class ClusterHandle:
    """A connected Dask client and what it runs on."""

    client: Any
    cluster: Any | None
    description: str

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # no dashboard (bokeh missing) or a closed client
            return None


#: Programs dask-jobqueue runs to start and stop Slurm workers.
SLURM_PROGRAMS = ("sbatch", "scancel")


def check_cluster_programs(settings: ClusterSettings) -> None:
    """Before anything starts: ``--cluster slurm`` needs Slurm's commands on ``PATH``
    (without them the workers never come and the run would wait for ever)."""
    if settings.scheduler or settings.kind != "slurm":
        return
    missing = [name for name in SLURM_PROGRAMS if shutil.which(name) is None]
    if missing:
        raise AppionError(f"--cluster slurm needs {' and '.join(missing)} on PATH, which "
                          "this host lacks; run on a Slurm submit host or use --cluster "
                          "local")


@contextlib.contextmanager
def open_cluster(settings: ClusterSettings, *, name: str = "appion",
                 log_directory: str | None = None) -> Iterator[ClusterHandle]:
    """Start (or connect to) the cluster and yield a client; close both on exit."""
    check_cluster_programs(settings)
    from distributed import Client
    _quiet_cluster_logs()
    cluster = None
    try:
        if settings.scheduler:
            client = Client(settings.scheduler, timeout="20s")
        elif settings.kind == "slurm":
            from appion.base.cluster.slurm import make_slurm_cluster
            cluster = make_slurm_cluster(settings, job_name=name, log_directory=log_directory)
            client = Client(cluster)
        else:
            from appion.base.cluster.local import make_local_cluster
            cluster = make_local_cluster(settings)
            client = Client(cluster)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        where = settings.scheduler or settings.kind
        raise AppionError(f"cannot start or reach the Dask cluster ({where}): {error}; "
                          "check --scheduler / --cluster and the cluster config") from None
    _quiet_task_failures(client)
    _quiet_cluster_logs()
    handle = ClusterHandle(client, cluster, settings.describe())
    try:
        yield handle
    finally:
        _close(handle)


class _DropComputeFailed(logging.Filter):
    """Drop the worker's multi-line "Compute Failed" report: the controller logs each
    failed attempt itself, in one line, with its retry."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Compute Failed")


def _install_filter(dask_worker=None) -> None:
    logger = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _DropComputeFailed) for f in logger.filters):
        logger.addFilter(_DropComputeFailed())


def _quiet_task_failures(client) -> None:
    try:
        client.run(_install_filter)
        client.register_worker_callbacks(_install_filter)
    except Exception as error:  # cosmetic only: never fail a run for it
        log.debug("could not quieten worker failure reports: %s", error)


def _quiet_cluster_logs() -> None:
    """The scheduler and nannies of a local cluster log each start and stop at INFO in
    this process; keep them at WARNING unless the root logger is at DEBUG (``-v``)."""
    if logging.getLogger().level <= logging.DEBUG:
        return
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("distributed", "dask_jobqueue", "tornado", "bokeh"):
            logger = logging.getLogger(name)
            if logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)


def quiet_worker_shutdown() -> None:
    """On a worker: no log of a heartbeat that meets the closing scheduler."""
    logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)


def _close(handle: ClusterHandle) -> None:
    # A worker whose heartbeat meets the closing scheduler logs a traceback (a shutdown
    # race in distributed); the workers stop logging first, so that stopping stays quiet.
    try:
        handle.client.run(quiet_worker_shutdown, wait=True)
    except Exception as error:  # a cluster that is already going away
        log.debug("quieting the Dask workers: %s", error)
    try:
        handle.client.close(timeout=10)
    except Exception as error:  # closing is best effort; the cluster close matters more
        log.debug("closing the Dask client: %s", error)
    if handle.cluster is not None:
        try:
            handle.cluster.close(timeout=30)
        except Exception as error:
            log.warning("closing the Dask cluster: %s", error)
