"""Lag, rates, latency and ETA of a session's steps, and the sharing of task slots."""

from __future__ import annotations

import pytest

from appion.facility.lag import LagTracker, StageIds, catch_up_eta, percentile, share_slots

T0 = 1_000_000.0


def ids(done=(), failed=(), running=(), waiting=()) -> StageIds:
    return StageIds(set(done), set(failed), set(running), set(waiting))


def tracker_with(exposures: dict[int, float]) -> LagTracker:
    tracker = LagTracker(["motioncor", "ctf"], T0)
    tracker.add_exposures(exposures)
    return tracker


def test_lag_is_the_age_of_the_oldest_exposure_not_through_the_step():
    tracker = tracker_with({1: T0, 2: T0 + 10, 3: T0 + 20})
    stages = [ids(done=[1], waiting=[2, 3]), ids()]
    first = tracker.step_lag(stages, 0, T0 + 30)
    assert (first.lag_seconds, first.lag_exposures) == (20.0, 2)
    # nothing handed on yet: every exposure is behind at ctf
    second = tracker.step_lag(stages, 1, T0 + 30)
    assert (second.lag_seconds, second.lag_exposures) == (30.0, 3)


def test_later_steps_map_their_ids_back_to_exposures():
    tracker = tracker_with({1: T0, 2: T0 + 10})
    tracker.handed_on(0, 1, [101])
    tracker.handed_on(0, 2, [102])
    tracker.handed_on(1, 101, [101])
    assert tracker.exposure(1, 102) == 2
    assert tracker.stage_ids_of(1, 2) == [102]
    stages = [ids(done=[1, 2]), ids(done=[101], waiting=[102])]
    lag = tracker.step_lag(stages, 1, T0 + 60)
    assert (lag.lag_seconds, lag.lag_exposures) == (50.0, 1)
    caught_up = tracker.step_lag([ids(done=[1, 2]), ids(done=[101, 102])], 1, T0 + 60)
    assert (caught_up.lag_seconds, caught_up.lag_exposures, caught_up.eta_seconds) == (
        0.0, 0, 0.0)


def test_an_exposure_failed_or_handed_nothing_earlier_is_through_later_steps():
    tracker = tracker_with({1: T0, 2: T0 + 10, 3: T0 + 20})
    tracker.handed_on(0, 2, [])
    tracker.handed_on(0, 3, [103])
    stages = [ids(done=[2, 3], failed=[1]), ids(done=[103])]
    assert tracker.step_lag(stages, 1, T0 + 100).lag_exposures == 0
    assert tracker.step_lag(stages, 0, T0 + 100).failed == 1


def test_rejected_exposures_are_no_longer_counted():
    tracker = tracker_with({1: T0, 2: T0 + 10})
    tracker.drop_exposures([1])
    assert tracker.step_lag([ids(waiting=[2]), ids()], 0, T0 + 20).lag_seconds == 10.0
    assert tracker.collected_per_hour(T0 + 20) == 1.0


def test_rates_latency_and_eta_over_the_last_hour():
    exposures = {i: T0 + 60 * i for i in range(1, 11)}
    tracker = tracker_with(exposures)
    for image_id in range(1, 9):
        tracker.stored(0, image_id, T0 + 60 * image_id + 30 + image_id)
    tracker.stored(0, 9, T0 + 60 * 9 + 500)
    now = T0 + 60 * 10 + 1
    stages = [ids(done=range(1, 10), waiting=[10]), ids()]
    lag = tracker.step_lag(stages, 0, now)
    assert lag.processed_per_hour == 9.0
    assert lag.processed_total == 9
    assert lag.latency_p50_s == 35.0
    assert lag.latency_p95_s == 500.0
    # 10 collected and 9 processed in the hour: not gaining
    assert lag.eta_seconds is None
    later = tracker.step_lag(stages, 0, now + 3600 - 60 * 5)
    assert later.processed_per_hour < 9.0


def test_catch_up_eta():
    assert catch_up_eta(0, 0.0, 100.0) == 0.0
    assert catch_up_eta(10, 100.0, 100.0) is None
    assert catch_up_eta(10, 120.0, 100.0) == pytest.approx(1800.0)


def test_percentile_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([1.0], 0.95) == 1.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0


def test_share_slots_gives_every_live_edge_a_slot_then_shares_fairly():
    assert share_slots(3, {"a": 100, "b": 1, "c": 5}) == {"a": 1, "b": 1, "c": 1}
    assert share_slots(8, {"a": 100, "b": 1, "c": 5}) == {"a": 4, "b": 1, "c": 3}
    assert share_slots(2, {"a": 100, "b": 100, "c": 100}) == {"a": 1, "b": 1, "c": 0}
    assert share_slots(0, {"a": 5}) == {"a": 0}
    assert share_slots(10, {"a": 0, "b": 2}) == {"a": 0, "b": 2}
