"""``run_pipeline``: lock the run directory, start the cluster, run the controller."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

from appion.base.cluster import open_cluster
from appion.base.job import job_guard
from appion.base.loop.controller import Controller, Events
from appion.base.loop.options import RuntimeSettings
from appion.base.loop.state import RunLock
from appion.base.step import RunContext, Step

log = logging.getLogger("appion.loop")


def run_pipeline(steps: list[Step], run: RunContext, *, settings: RuntimeSettings,
                 events: Events | None = None) -> int:
    """Process the run's images through ``steps`` (a chain) until done or signalled.

    Returns the exit status: 0 when stopped normally (including SIGTERM/SIGINT),
    1 when results could not be stored.  The run's job row is set to ``D`` (done) on
    the way out, or ``E`` (error) for exit status 1 or any exception
    (:func:`appion.base.job.job_guard`).
    """
    job = run.job
    # the lock first: a second controller must not touch the first one's job row
    with RunLock(run.rundir), job_guard(job):  # acquiring it creates the run directory
        status = _run_locked(steps, run, settings, events)
        if status != 0:
            job.finish("E")
    return status


def _run_locked(steps: list[Step], run: RunContext, settings: RuntimeSettings,
                events: Events | None) -> int:
    with open_cluster(settings.cluster, name=f"appion-{run.runname}",
                      log_directory=str(run.rundir / "dask-logs")) as handle:
        dashboard = handle.dashboard_link
        log.info("Dask: %s; dashboard %s", handle.description, dashboard or "none")
        controller = Controller(steps, run, settings, handle.client, events=events,
                                dashboard=dashboard, cluster_description=handle.description)
        with _stop_on_signals(controller):
            controller.start()
            status = controller.loop()
    log.info("stopped: %s", "; ".join(
        f"{s.step.name} {s.counts.done} done, {s.counts.failed} failed"
        for s in controller.stages))
    return status


@contextlib.contextmanager
def _stop_on_signals(controller: Controller) -> Iterator[None]:
    """SIGTERM and SIGINT ask the controller to stop (a second one: at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        controller.request_stop(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
