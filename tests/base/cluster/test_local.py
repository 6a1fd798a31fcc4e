"""The local cluster's workers: Dask's profiler off (its call trees grew each worker by
~120 kB per exposure, benchmarks/soak.py), in every worker, also those added later."""

from __future__ import annotations

import dask
import pytest
from distributed import Client

from appion.base.cluster.local import make_local_cluster
from appion.base.cluster.settings import ClusterSettings


def _profiling(dask_worker) -> tuple[bool, int]:
    return (bool(dask.config.get("distributed.worker.profile.enabled")),
            len(dask_worker.profile_history))


@pytest.mark.slow
def test_workers_keep_no_profile_history():
    settings = ClusterSettings(min_workers=1, max_workers=2)
    with make_local_cluster(settings) as cluster, Client(cluster) as client:
        # a second worker, added later; adaptive bounds (not scale) so that the adaptive
        # loop cannot retire it, idle, while client.run talks to it
        cluster.adapt(minimum=2, maximum=2)
        client.wait_for_workers(2, timeout=60)
        client.gather(client.map(sum, [[i, 1] for i in range(20)]))
        states = client.run(_profiling)
    assert len(states) == 2
    assert all(state == (False, 0) for state in states.values()), states
    assert dask.config.get("distributed.worker.profile.enabled")  # this process untouched
