"""What the service knows at one moment: frozen snapshots every other part reads.

The service builds one :class:`FacilityStatus` every few seconds; the HTTP API, the
Prometheus collector and the alert rules read that snapshot and nothing else, so they
never touch the controllers' state from another thread.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass


def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (``2026-11-30T16:00:00Z``); ``None`` (or not
    finite) gives ``None``."""
    if epoch is None or not math.isfinite(epoch):
        return None
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StepStatus:
    """One step of one session."""

    step: str
    done: int                      # exposures through the step (stored)
    failed: int                    # exposures given up on (failed.jsonl)
    pending: int                   # exposures not yet through (queued, running, retrying)
    running: int
    lag_seconds: float             # now - acquisition of the oldest exposure not yet through
    lag_exposures: int             # exposures not yet through the step
    processed_per_hour: float      # completions in the last hour
    latency_p50_s: float | None    # acquisition -> result, over the last hour
    latency_p95_s: float | None
    eta_seconds: float | None      # to catch up at current rates; 0 caught up; None never
    processed_total: int           # since the service started (Prometheus counters)
    failed_total: int


@dataclass(frozen=True)
class ExposureQuality:
    """The values quality alerts look at, for one exposure."""

    image_id: int
    acquired_at: float             # epoch seconds
    ctf_resolution_a: float | None = None
    drift_a: float | None = None


@dataclass(frozen=True)
class DiskUsage:
    """The filesystem holding run directories."""

    path: str
    total_bytes: int
    free_bytes: int

    @property
    def free_fraction(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True)
class SessionStatus:
    """One session the service processes (or could not start)."""

    name: str
    session_id: int
    microscope: str
    camera: str
    preset: str
    project: int
    active: bool                   # a controller runs for it
    paused: bool
    collected: int                 # exposures of the session that the run selects
    collected_per_hour: float
    last_exposure_at: float | None  # epoch seconds of the newest exposure's acquisition
    rundir: str
    steps: tuple[StepStatus, ...] = ()
    quality: tuple[ExposureQuality, ...] = ()  # newest last, at most QUALITY_WINDOW
    error: str | None = None       # why the session could not be started

    def step(self, name: str) -> StepStatus | None:
        return next((status for status in self.steps if status.step == name), None)


#: How many recent exposures a snapshot carries for quality alerts.
QUALITY_WINDOW = 50


@dataclass(frozen=True)
class FacilityStatus:
    """Everything at one moment."""

    sessions: tuple[SessionStatus, ...]
    workers: int                   # Dask workers connected now
    started_at: float              # epoch seconds
    now: float                     # epoch seconds of this snapshot
    disks: tuple[DiskUsage, ...] = ()

    def session(self, name: str) -> SessionStatus | None:
        return next((status for status in self.sessions if status.name == name), None)
