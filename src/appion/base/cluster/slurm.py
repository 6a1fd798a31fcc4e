"""Dask workers as Slurm jobs through dask-jobqueue, scaled adaptively."""

from __future__ import annotations

import sys

from appion.base.cluster.settings import ClusterSettings, worker_config_exports


def slurm_cluster_options(settings: ClusterSettings, *, job_name: str,
                          log_directory: str | None) -> dict:
    """The ``SLURMCluster`` keyword arguments (pure, so the job script is testable)."""
    slurm = settings.slurm
    extra = list(slurm.job_extra)
    if settings.gpus_per_worker:
        extra.append(f"--gres=gpu:{settings.gpus_per_worker}")
    options = {
        "queue": slurm.partition, "account": slurm.account, "walltime": slurm.walltime,
        "memory": slurm.memory, "cores": settings.threads_per_worker, "processes": 1,
        "job_name": job_name, "python": sys.executable,
        "job_extra_directives": extra,
        "job_script_prologue": [*worker_config_exports(), *slurm.prologue],
        "log_directory": log_directory,
        "scheduler_options": {"dashboard_address": ":0"},
    }
    if settings.gpus_per_worker:
        options["worker_extra_args"] = ["--resources", f"GPU={settings.gpus_per_worker}"]
    return options


def make_slurm_cluster(settings: ClusterSettings, *, job_name: str,
                       log_directory: str | None = None):
    """A ``SLURMCluster`` adapting between ``min_workers`` and ``max_workers`` jobs."""
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(**slurm_cluster_options(settings, job_name=job_name,
                                                   log_directory=log_directory))
    cluster.adapt(minimum=settings.min_workers, maximum=settings.max_workers)
    return cluster
