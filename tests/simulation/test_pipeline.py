"""Frames made in a background thread arrive in order; errors cross back; early stops stop."""

from __future__ import annotations

import threading
import time

import pytest

from appion.simulation.pipeline import prefetch


def test_prefetch_keeps_order_and_stays_bounded():
    made = []

    def frames():
        for index in range(20):
            made.append(index)
            yield index

    seen = []
    for item in prefetch(frames(), depth=2):
        time.sleep(0.002)
        # the producer runs ahead by at most the buffer plus the item in hand
        assert len(made) - len(seen) <= 4
        seen.append(item)
    assert seen == list(range(20))


def test_prefetch_raises_the_producers_error_in_the_consumer():
    def frames():
        yield 1
        raise OSError("disk full")

    got = []
    with pytest.raises(OSError, match="disk full"):
        for item in prefetch(frames()):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def frames():
        for index in range(1000):
            produced.append(index)
            yield index

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        for item in prefetch(frames(), depth=1):
            if item == 3:
                raise RuntimeError("writer failed")
    assert threading.active_count() == before
    assert len(produced) < 10
