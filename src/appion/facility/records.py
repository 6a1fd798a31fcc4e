"""Every exposure of a session with the values its steps stored, kept up to date cheaply.

The dashboard plots a whole session (tens of thousands of exposures) and sorts its
table by any value, and the quality alerts look at the newest exposures: both read
:class:`ExposureRecords`, which keeps per exposure only the numbers they need.  A
refresh asks each step for the summaries of the images it stored since the last
refresh (``ReportingStep.summaries``, bulk queries), and Leginon for the ice thickness
of new exposures; nothing is read twice.  Paths and details of one exposure are read
when it is asked for (:meth:`ExposureRecords.describe`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from appion.base.retrieve.images import ice_thickness
from appion.base.step import ReportingStep, RunContext, Step
from appion.facility.lag import LagTracker
from appion.facility.model import QUALITY_WINDOW, ExposureQuality, iso_utc

#: The values kept per exposure (from any step's summaries, or Leginon).
VALUE_KEYS = ("drift_total_a", "defocus1_a", "defocus2_a", "astigmatism_angle_deg",
              "resolution_a", "ice_thickness_nm", "particles")
#: Worker-made images: the summary key of each kind's path.
IMAGE_KEYS = {"thumbnail": "thumbnail_path", "preview": "preview_path",
              "spectrum": "spectrum_path"}
SERIES_COLUMNS = ("image_id", "acquired_at", "drift_total_a", "defocus1_a", "defocus2_a",
                  "astigmatism_angle_deg", "resolution_a", "ice_thickness_nm")
STATUSES = ("done", "failed", "running", "pending")
MAX_PER_PAGE = 500
#: At most this many images per step are read by one refresh.
REFRESH_BATCH = 1000


def summaries_of(step: Step, run: RunContext, image_ids: Sequence[int]
                 ) -> dict[int, dict[str, Any]]:
    """What ``step`` stored for ``image_ids`` ({} for a step that cannot say)."""
    if not image_ids or not isinstance(step, ReportingStep):
        return {}
    return step.summaries(run, list(image_ids))


def _rounded(value: Any) -> Any:
    """A plotted value to 0.001 of its unit (Å, µm, degrees, nm): small JSON."""
    return round(value, 3) if isinstance(value, float) else value


class ExposureRecords:
    """One session's exposures: values, which worker-made images exist, acquisition."""

    def __init__(self, tracker: LagTracker,
                 read_ice: Callable[[list[int]], dict[int, float]] = ice_thickness):
        self.tracker = tracker
        self.read_ice = read_ice
        self.values: dict[int, dict[str, Any]] = {}
        self.images: dict[int, set[str]] = {}
        self._summarized: list[set[int]] = [set() for _ in tracker.steps]
        #: Whether the last refresh left stored results unread (its limit was reached).
        self.behind = False
        self._ice_read: set[int] = set()

    # -------------------------------------------------------------- refresh

    def refresh(self, steps: Sequence[Step], run: RunContext,
                done: Sequence[set[int]], limit: int = REFRESH_BATCH) -> int:
        """Read what the steps stored since the last refresh (``done[i]``: the ids step
        ``i`` has stored), newest first and at most ``limit`` images per step, and the
        ice thickness of new exposures; returns how many images were read.  A session
        resumed with tens of thousands of results is read over several refreshes, so
        that the service's loop is never held up for long."""
        read = self._read_ice()
        self.behind = False
        for index, step in enumerate(steps):
            waiting = done[index] - self._summarized[index]
            new = sorted(waiting, reverse=True)[:limit]
            self.behind = self.behind or len(waiting) > limit
            if not new:
                continue
            for image_id, summary in summaries_of(step, run, new).items():
                self._merge(self.tracker.exposure(index, image_id), summary)
            self._summarized[index].update(new)
            read += len(new)
        return read

    def _read_ice(self) -> int:
        new = [i for i in self.tracker.acquired if i not in self._ice_read]
        if not new:
            return 0
        for image_id, thickness in self.read_ice(new).items():
            self.values.setdefault(image_id, {})["ice_thickness_nm"] = thickness
        self._ice_read.update(new)
        return len(new)

    def _merge(self, exposure: int, summary: dict[str, Any]) -> None:
        values = self.values.setdefault(exposure, {})
        values.update((key, summary[key]) for key in VALUE_KEYS if key in summary)
        images = self.images.setdefault(exposure, set())
        images.update(kind for kind, key in IMAGE_KEYS.items() if summary.get(key))

    # --------------------------------------------------------------- reads

    def quality(self, through_all: Callable[[int], bool]) -> tuple[ExposureQuality, ...]:
        """The newest :data:`QUALITY_WINDOW` exposures through every step, oldest first."""
        chosen: list[ExposureQuality] = []
        for exposure in sorted(self.tracker.acquired, reverse=True):
            if len(chosen) == QUALITY_WINDOW:
                break
            if through_all(exposure):
                values = self.values.get(exposure, {})
                chosen.append(ExposureQuality(
                    image_id=exposure, acquired_at=self.tracker.acquired[exposure],
                    ctf_resolution_a=values.get("resolution_a"),
                    drift_a=values.get("drift_total_a")))
        return tuple(reversed(chosen))

    def series(self) -> dict[str, Any]:
        """Every exposure in acquisition order, one row of :data:`SERIES_COLUMNS` each."""
        rows = []
        for exposure, acquired in sorted(self.tracker.acquired.items(),
                                         key=lambda item: (item[1], item[0])):
            values = self.values.get(exposure, {})
            rows.append([exposure, round(acquired, 3),
                         *(_rounded(values.get(key)) for key in SERIES_COLUMNS[2:])])
        return {"columns": list(SERIES_COLUMNS), "rows": rows}

    def history(self, now: float, hours: float, bucket_s: float,
                processed_times: Iterable[float]) -> dict[str, Any]:
        """Exposures collected and processed (through the last step) per bucket of the
        last ``hours``."""
        count = max(1, int(hours * 3600 // bucket_s))
        start = now - count * bucket_s
        collected, processed = [0] * count, [0] * count
        for times, counts in ((self.tracker.acquired.values(), collected),
                              (processed_times, processed)):
            for moment in times:
                if start <= moment < now:
                    counts[min(count - 1, int((moment - start) // bucket_s))] += 1
        return {"bucket_seconds": bucket_s, "buckets": [
            {"start": iso_utc(start + index * bucket_s), "collected": collected[index],
             "processed": processed[index]} for index in range(count)]}

    def ordered(self, sort: str, descending: bool) -> list[int]:
        """Exposure ids sorted by acquisition or by a value (unknown values last)."""
        acquired = self.tracker.acquired
        if sort == "acquired_at":
            return sorted(acquired, key=lambda i: (acquired[i], i), reverse=descending)
        if sort not in VALUE_KEYS:
            raise ValueError(f"cannot sort by {sort!r}; use acquired_at or one of "
                             f"{', '.join(VALUE_KEYS)}")
        known = [i for i in acquired if self.values.get(i, {}).get(sort) is not None]
        known_set = set(known)
        unknown = sorted((i for i in acquired if i not in known_set),
                         key=lambda i: acquired[i], reverse=True)
        known.sort(key=lambda i: (self.values[i][sort], acquired[i]), reverse=descending)
        return known + unknown

    def neighbours(self, exposure: int) -> tuple[int | None, int | None]:
        """The exposures acquired just before and just after ``exposure``."""
        order = self.ordered("acquired_at", False)
        index = bisect.bisect_left([self.tracker.acquired[i] for i in order],
                                   self.tracker.acquired.get(exposure, 0.0))
        while index < len(order) and order[index] != exposure:
            index += 1
        if index >= len(order):
            return None, None
        return (order[index - 1] if index else None,
                order[index + 1] if index + 1 < len(order) else None)

    def image_flags(self, exposure: int) -> dict[str, bool]:
        have = self.images.get(exposure, set())
        return {kind: kind in have for kind in IMAGE_KEYS}
