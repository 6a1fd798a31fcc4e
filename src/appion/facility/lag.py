"""How far behind a session is: lag, rates, latency and ETA per step (pure; no clock).

A step sees its own image ids: the first step the exposures, later steps what the
step before handed on (the aligned micrographs).  :class:`LagTracker` maps every id
back to its exposure, so that each step's lag is counted in exposures and measured
from their acquisition times:

* an exposure is *through* a step when the step stored its result or gave up on it,
  when an earlier step gave up on it, or when an earlier step handed nothing on;
* ``lag_seconds`` is now minus the acquisition time of the oldest exposure not yet
  through the step (0 when caught up); ``lag_exposures`` counts those exposures;
* rates and latencies are over the last hour; the ETA is the lag divided by how much
  faster exposures leave the step than they arrive (``None`` while they do not).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The window of rates and latency percentiles (seconds).
WINDOW_S = 3600.0
#: How long completion times are kept for the history charts (seconds).
HISTORY_S = 24 * 3600.0


@dataclass(frozen=True)
class StageIds:
    """One step's ids as the controller has them (copies)."""

    done: set[int]
    failed: set[int]
    running: set[int]
    waiting: set[int]


@dataclass(frozen=True)
class StepLag:
    """What :meth:`LagTracker.step_lag` measures for one step."""

    done: int
    failed: int
    pending: int
    running: int
    lag_seconds: float
    lag_exposures: int
    processed_per_hour: float
    latency_p50_s: float | None
    latency_p95_s: float | None
    eta_seconds: float | None
    processed_total: int
    failed_total: int


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank) of ascending values; ``None`` if empty."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def catch_up_eta(lag_exposures: int, processed_per_hour: float,
                 collected_per_hour: float) -> float | None:
    """Seconds to catch up at the current rates: 0 when caught up, ``None`` when the
    step does not gain on the microscope."""
    if lag_exposures == 0:
        return 0.0
    gain_per_hour = processed_per_hour - collected_per_hour
    if gain_per_hour <= 0:
        return None
    return lag_exposures / gain_per_hour * 3600.0


def share_slots(free: int, wants: dict[str, int]) -> dict[str, int]:
    """Split ``free`` task slots between sessions wanting ``wants[name]`` each: first one
    slot to every session that wants any (its live edge: the controllers hand out the
    newest exposure first), then the rest one by one in turn, so that no backlog starves
    another session."""
    given = dict.fromkeys(wants, 0)
    hungry = [name for name in sorted(wants) if wants[name] > 0]
    while free > 0 and hungry:
        for name in list(hungry):
            if free == 0:
                break
            given[name] += 1
            free -= 1
            if given[name] >= wants[name]:
                hungry.remove(name)
    return given


class LagTracker:
    """The exposures of one session's run and where each is in the chain of steps."""

    def __init__(self, steps: Sequence[str], started_at: float):
        self.steps = list(steps)
        self.started_at = started_at
        self.acquired: dict[int, float] = {}       # exposure id -> acquisition (epoch s)
        self._acquired_sorted: list[float] = []
        self.exposure_of: dict[int, int] = {}      # a later step's id -> its exposure
        self.outputs: list[dict[int, list[int]]] = [{} for _ in self.steps]
        self.handed_nothing: list[set[int]] = [set() for _ in self.steps]
        self._completions: list[deque[tuple[float, float]]] = [deque() for _ in self.steps]
        self._done_times: list[deque[float]] = [deque() for _ in self.steps]
        self.processed_total = [0] * len(self.steps)
        self.failed_total = [0] * len(self.steps)

    # ---------------------------------------------------------------- events

    def add_exposures(self, acquired: dict[int, float]) -> None:
        """New exposures of the run with their acquisition times (epoch s)."""
        for image_id, when in acquired.items():
            if image_id not in self.acquired:
                self.acquired[image_id] = when
                bisect.insort(self._acquired_sorted, when)

    def drop_exposures(self, image_ids: Iterable[int]) -> None:
        """Exposures the run will not process after all (rejected while queued)."""
        for image_id in image_ids:
            when = self.acquired.pop(int(image_id), None)
            if when is not None:
                del self._acquired_sorted[bisect.bisect_left(self._acquired_sorted, when)]

    def stage_ids_of(self, stage: int, exposure: int) -> list[int]:
        """The ids ``stage`` takes for ``exposure`` (none until handed on to it)."""
        if stage == 0:
            return [exposure]
        return list(self.outputs[stage - 1].get(exposure, ()))

    def exposure(self, stage: int, image_id: int) -> int:
        """The exposure a stage's image id comes from."""
        return image_id if stage == 0 else self.exposure_of.get(image_id, image_id)

    def handed_on(self, stage: int, image_id: int, outputs: Iterable[int]) -> None:
        """A stage stored ``image_id`` and handed ``outputs`` to the next stage (restart:
        also called for the handoffs recorded before)."""
        root = self.exposure(stage, image_id)
        outputs = [int(o) for o in outputs]
        self.outputs[stage][root] = outputs
        for output in outputs:
            self.exposure_of[output] = root
        if not outputs:
            self.handed_nothing[stage].add(root)
        else:
            self.handed_nothing[stage].discard(root)

    def stored(self, stage: int, image_id: int, now: float) -> None:
        """A result stored at ``now`` (epoch s): counts and latency."""
        root = self.exposure(stage, image_id)
        self.processed_total[stage] += 1
        times = self._done_times[stage]
        times.append(now)
        while times and times[0] < now - HISTORY_S:
            times.popleft()
        acquired = self.acquired.get(root)
        if acquired is not None:
            self._completions[stage].append((now, max(0.0, now - acquired)))

    def done_times(self, stage: int) -> list[float]:
        """When the stage stored its results over the last :data:`HISTORY_S` (epoch s)."""
        return list(self._done_times[stage])

    def gave_up(self, stage: int, image_id: int) -> None:
        self.failed_total[stage] += 1

    # -------------------------------------------------------------- measures

    def collected_per_hour(self, now: float) -> float:
        start = bisect.bisect_left(self._acquired_sorted, now - WINDOW_S)
        return float(len(self._acquired_sorted) - start)

    def newest_acquired(self) -> float | None:
        return self._acquired_sorted[-1] if self._acquired_sorted else None

    def step_lag(self, stage_ids: Sequence[StageIds], stage: int, now: float) -> StepLag:
        """The lag of step ``stage`` from every stage's ids (``stage_ids[i]``)."""
        through = self._through(stage_ids, stage)
        behind = [when for image_id, when in self.acquired.items() if image_id not in through]
        completions = self._recent(stage, now)
        latencies = sorted(latency for _, latency in completions)
        processed_per_hour = float(len(completions))
        ids = stage_ids[stage]
        lag_exposures = len(behind)
        return StepLag(
            done=len(ids.done), failed=len(ids.failed), pending=lag_exposures,
            running=len(ids.running),
            lag_seconds=max(0.0, now - min(behind)) if behind else 0.0,
            lag_exposures=lag_exposures, processed_per_hour=processed_per_hour,
            latency_p50_s=percentile(latencies, 0.50),
            latency_p95_s=percentile(latencies, 0.95),
            eta_seconds=catch_up_eta(lag_exposures, processed_per_hour,
                                     self.collected_per_hour(now)),
            processed_total=self.processed_total[stage], failed_total=self.failed_total[stage])

    def _through(self, stage_ids: Sequence[StageIds], stage: int) -> set[int]:
        """Exposures that will not come to ``stage`` any more, or went through it."""
        through = {self.exposure(stage, i) for i in stage_ids[stage].done | stage_ids[stage].failed}
        for earlier in range(stage):
            through.update(self.exposure(earlier, i) for i in stage_ids[earlier].failed)
            through.update(self.handed_nothing[earlier])
        return through

    def _recent(self, stage: int, now: float) -> deque[tuple[float, float]]:
        completions = self._completions[stage]
        while completions and completions[0][0] < now - WINDOW_S:
            completions.popleft()
        return completions
