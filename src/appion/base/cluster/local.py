"""A Dask cluster on this machine: worker processes, or one worker per GPU."""

from __future__ import annotations

import logging

from appion.base.cluster.gpus import split_gpus, worker_environment
from appion.base.cluster.settings import WORKER_CONFIG, ClusterSettings


def make_local_cluster(settings: ClusterSettings):
    """A ``LocalCluster`` (adaptive between min and max workers), or a ``SpecCluster``
    of one pinned worker per GPU group when GPU ids are given."""
    if settings.gpu_ids:
        return _gpu_cluster(settings)
    from distributed import LocalCluster
    cluster = LocalCluster(n_workers=settings.max_workers if not settings.adaptive
                           else settings.min_workers,
                           threads_per_worker=settings.threads_per_worker, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR,
                           config=WORKER_CONFIG)
    if settings.adaptive:
        cluster.adapt(minimum=settings.min_workers, maximum=settings.max_workers)
    return cluster


def _gpu_cluster(settings: ClusterSettings):
    from distributed import Nanny, Scheduler, SpecCluster
    groups = split_gpus(settings.gpu_ids, settings.gpus_per_worker)
    workers = {
        f"gpu{'-'.join(map(str, group))}": {
            "cls": Nanny,
            "options": {"nthreads": 1, "env": worker_environment(group),
                        "resources": {"GPU": len(group)},
                        "silence_logs": logging.WARNING, "config": WORKER_CONFIG},
        } for group in groups}
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR,
                       name="appion-gpu")
