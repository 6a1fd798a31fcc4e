"""A session's exposures with their stored values: refresh, sort, series, history."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from appion.facility.lag import LagTracker
from appion.facility.records import ExposureRecords
from tests.facility.fake_steps import QuietReportingStep

T0 = 1_800_000_000.0


@dataclass
class ReportingFake(QuietReportingStep):
    """A step that reports stored values (the ReportingStep protocol) and counts reads."""

    name: str
    stored: dict[int, dict] = field(default_factory=dict)
    asked: list[list[int]] = field(default_factory=list)

    def summaries(self, run, image_ids):
        self.asked.append(list(image_ids))
        return {i: self.stored[i] for i in image_ids if i in self.stored}


@pytest.fixture
def session():
    tracker = LagTracker(["motioncor", "ctf"], T0)
    tracker.add_exposures({1: T0, 2: T0 + 60, 3: T0 + 120})
    for exposure in (1, 2, 3):
        tracker.handed_on(0, exposure, [100 + exposure])
    motion = ReportingFake("motioncor", {1: {"drift_total_a": 5.0, "thumbnail_path": "/t1"},
                                         2: {"drift_total_a": 1.0}})
    ctf = ReportingFake("ctf", {101: {"resolution_a": 4.0, "defocus1_a": 1e4},
                                102: {"resolution_a": 9.0}})
    ice = {2: 35.0}
    records = ExposureRecords(tracker, read_ice=lambda ids: {i: ice[i] for i in ids if i in ice})
    return records, motion, ctf


def test_refresh_reads_each_stored_image_once(session):
    records, motion, ctf = session
    records.refresh([motion, ctf], None, [{1, 2}, {101}])
    assert records.values[1] == {"drift_total_a": 5.0, "resolution_a": 4.0,
                                 "defocus1_a": 1e4}
    assert records.values[2] == {"drift_total_a": 1.0, "ice_thickness_nm": 35.0}
    assert records.image_flags(1) == {"thumbnail": True, "preview": False, "spectrum": False}
    records.refresh([motion, ctf], None, [{1, 2}, {101, 102}])
    assert motion.asked == [[2, 1]] and ctf.asked == [[101], [102]]
    assert records.values[2]["resolution_a"] == 9.0


def test_sorting_series_and_neighbours(session):
    records, motion, ctf = session
    records.refresh([motion, ctf], None, [{1, 2}, {101, 102}])
    assert records.ordered("acquired_at", True) == [3, 2, 1]
    assert records.ordered("resolution_a", False) == [1, 2, 3]  # unknown values last
    assert records.ordered("resolution_a", True) == [2, 1, 3]
    with pytest.raises(ValueError, match="cannot sort by 'filename'"):
        records.ordered("filename", True)
    series = records.series()
    assert series["columns"][:3] == ["image_id", "acquired_at", "drift_total_a"]
    assert [row[0] for row in series["rows"]] == [1, 2, 3]
    assert series["rows"][1][series["columns"].index("ice_thickness_nm")] == 35.0
    assert records.neighbours(2) == (1, 3)
    assert records.neighbours(1) == (None, 2)
    assert records.neighbours(99) == (None, None)


def test_history_buckets_collected_and_processed(session):
    records, _, _ = session
    history = records.history(T0 + 600, hours=1, bucket_s=300,
                              processed_times=[T0 + 30, T0 + 400, T0 + 10_000])
    assert history["bucket_seconds"] == 300 and len(history["buckets"]) == 12
    assert [b["collected"] for b in history["buckets"][-2:]] == [3, 0]
    assert [b["processed"] for b in history["buckets"][-2:]] == [1, 1]
    assert sum(b["collected"] for b in history["buckets"]) == 3


def test_quality_window_holds_exposures_through_every_step(session):
    records, motion, ctf = session
    records.refresh([motion, ctf], None, [{1, 2}, {101, 102}])
    quality = records.quality(lambda exposure: exposure in (1, 2))
    assert [(q.image_id, q.ctf_resolution_a, q.drift_a) for q in quality] == [
        (1, 4.0, 5.0), (2, 9.0, 1.0)]


def test_a_large_backlog_is_read_over_several_refreshes_newest_first(session):
    records, motion, ctf = session
    records.refresh([motion, ctf], None, [{1, 2, 3}, set()], limit=2)
    assert motion.asked == [[3, 2]] and records.behind
    records.refresh([motion, ctf], None, [{1, 2, 3}, set()], limit=2)
    assert motion.asked == [[3, 2], [1]] and not records.behind
    assert records.values[1]["drift_total_a"] == 5.0
