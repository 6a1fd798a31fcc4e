"""Ordering of pending images: classic, --reverse and catch-up."""

import pytest

from appion.base.loop.policy import CATCHUP, CLASSIC, REVERSE, WorkQueue


def drain(queue: WorkQueue, step: int = 1) -> list[int]:
    taken = []
    while len(queue):
        taken.extend(queue.take(step))
    return taken


def test_classic_is_ascending_whatever_the_arrival_order():
    queue = WorkQueue(CLASSIC)
    queue.add([5, 1, 9, 3])
    queue.add([2, 5])
    assert drain(queue) == [1, 2, 3, 5, 9]


def test_reverse_is_newest_first():
    queue = WorkQueue(REVERSE)
    queue.add([5, 1, 9, 3])
    assert queue.take(2) == [9, 5]
    queue.add([12])
    assert drain(queue) == [12, 3, 1]


def test_catchup_takes_the_newest_batch_oldest_first():
    queue = WorkQueue(CATCHUP, batch_size=3)
    queue.add(range(1, 11))
    assert queue.take(3) == [8, 9, 10]
    assert queue.take(2) == [5, 6]


def test_catchup_serves_the_live_edge_after_at_most_one_batch():
    queue = WorkQueue(CATCHUP, batch_size=3)
    queue.add(range(1, 101))          # a backlog of 100
    assert queue.take(1) == [98]      # batch 98, 99, 100 formed
    queue.add([101, 102])             # new exposures land
    assert queue.take(2) == [99, 100]  # the batch in progress finishes
    assert queue.take(3) == [97, 101, 102]  # then the live edge, with the newest backlog
    assert len(queue) == 96


def test_discarded_ids_are_never_handed_out():
    for policy in (CLASSIC, REVERSE, CATCHUP):
        queue = WorkQueue(policy, batch_size=2)
        queue.add([1, 2, 3, 4])
        queue.discard([2, 4])
        assert sorted(drain(queue)) == [1, 3]
        assert 2 not in queue


def test_an_id_added_twice_is_handed_out_once():
    for policy in (CLASSIC, REVERSE, CATCHUP):
        queue = WorkQueue(policy, batch_size=2)
        queue.add([1, 2])
        queue.discard([1])
        queue.add([1, 1, 2])
        assert sorted(drain(queue, step=3)) == [1, 2]


def test_bad_policy_and_batch_size_are_refused():
    with pytest.raises(ValueError, match="unknown policy"):
        WorkQueue("random")
    with pytest.raises(ValueError, match="batch_size"):
        WorkQueue(CATCHUP, batch_size=0)
