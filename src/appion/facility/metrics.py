"""Prometheus metrics of ``appion serve``, read from the service's latest snapshot.

:class:`FacilityCollector` asks the service for its :class:`~.model.FacilityStatus`
at every scrape and turns it into metric families; nothing is kept between scrapes.
It lives in its own :class:`~prometheus_client.CollectorRegistry`
(:func:`metrics_registry`), so the process's default registry and its other metrics
are not exposed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appion.facility.model import FacilityStatus, SessionStatus

SESSION_STEP = ("session", "step")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class StatusSource(Protocol):
    """What the collector needs of the service: its latest snapshot."""

    def status(self) -> FacilityStatus: ...


def _gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _counter(name: str, documentation: str) -> CounterMetricFamily:
    """A counter family; prometheus_client names its samples ``<name>_total``."""
    return CounterMetricFamily(name, documentation, labels=list(SESSION_STEP))


StepFamily = GaugeMetricFamily | CounterMetricFamily


def _step_families() -> dict[str, StepFamily]:
    return {
        "lag_seconds": _gauge(
            "appion_session_lag_seconds",
            "Seconds since the acquisition of the oldest exposure not yet through the step",
            SESSION_STEP),
        "lag_exposures": _gauge(
            "appion_session_lag_exposures", "Exposures not yet through the step",
            SESSION_STEP),
        "pending": _gauge(
            "appion_session_pending", "Exposures queued, running or retrying in the step",
            SESSION_STEP),
        "processed_total": _counter(
            "appion_exposures_processed", "Exposures through the step since the service started"),
        "failed_total": _counter(
            "appion_exposures_failed", "Exposures given up on since the service started"),
    }


def _finite(value: float) -> float:
    """Prometheus accepts NaN and infinities, but a snapshot never means them: 0 instead."""
    return value if math.isfinite(value) else 0.0


def _add_steps(families: dict[str, StepFamily], session: SessionStatus) -> None:
    for step in session.steps:
        labels = [session.name, step.step]
        for field, family in families.items():
            family.add_metric(labels, _finite(float(getattr(step, field))))


def _session_families(status: FacilityStatus) -> list[Metric]:
    steps = _step_families()
    active = _gauge("appion_session_active", "1 when a controller runs for the session",
                    ("session", "microscope"))
    collected = _gauge("appion_exposures_collected_per_hour",
                       "Exposures the session acquired in the last hour", ("session",))
    for session in status.sessions:
        _add_steps(steps, session)
        active.add_metric([session.name, session.microscope], 1.0 if session.active else 0.0)
        collected.add_metric([session.name], _finite(session.collected_per_hour))
    return [*steps.values(), active, collected]


def _service_families(status: FacilityStatus) -> list[Metric]:
    workers = _gauge("appion_workers", "Dask workers connected now")
    workers.add_metric([], float(status.workers))
    free = _gauge("appion_disk_free_bytes", "Free bytes on a run-directory filesystem",
                  ("path",))
    total = _gauge("appion_disk_total_bytes", "Size of a run-directory filesystem", ("path",))
    for disk in status.disks:
        free.add_metric([disk.path], float(disk.free_bytes))
        total.add_metric([disk.path], float(disk.total_bytes))
    return [workers, free, total]


def families(status: FacilityStatus) -> list[Metric]:
    """Every metric family of one snapshot."""
    return [*_session_families(status), *_service_families(status)]


class FacilityCollector(Collector):
    """A custom collector: the metric families of ``api.status()`` at scrape time."""

    def __init__(self, api: StatusSource):
        self.api = api

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so registering does not ask the service."""
        return iter(families(FacilityStatus(sessions=(), workers=0, started_at=0.0, now=0.0)))

    def collect(self) -> Iterator[Metric]:
        return iter(families(self.api.status()))


def metrics_registry(api: StatusSource) -> CollectorRegistry:
    """A registry of its own holding only a :class:`FacilityCollector` of ``api``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FacilityCollector(api))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus's text format."""
    return generate_latest(registry)
