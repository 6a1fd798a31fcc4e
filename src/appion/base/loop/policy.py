"""In which order pending images are processed.

* ``classic``: ascending image id (old to new), as classic Appion's loop;
* ``reverse``: newest first (classic ``--reverse``);
* ``catchup``: the newest ``batch_size`` pending images form a batch, processed
  oldest first; the next batch is formed from what is pending then.  A session
  with a large backlog is worked through from the live edge backwards in
  chronological chunks, and an exposure that lands while a batch runs waits for at
  most one batch: the live edge is never starved.

:class:`WorkQueue` holds the pending ids of one step; it has no side effects and
no clock, so it is tested directly.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable

CLASSIC = "classic"
REVERSE = "reverse"
CATCHUP = "catchup"
POLICIES = (CLASSIC, REVERSE, CATCHUP)


class WorkQueue:
    """Pending image ids of one step, handed out in the order of a policy.

    Adding an id twice is harmless; ``discard`` removes an id wherever it is
    (lazily for the heaps, so both operations stay O(log n)).
    """

    def __init__(self, policy: str = CLASSIC, batch_size: int = 50):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.policy = policy
        self.batch_size = batch_size
        self._pending: set[int] = set()
        self._heap: list[int] = []  # ids (classic) or negated ids (reverse, catchup)
        self._batch: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, image_id: int) -> bool:
        return image_id in self._pending

    def add(self, image_ids: Iterable[int]) -> None:
        sign = 1 if self.policy == CLASSIC else -1
        for image_id in image_ids:
            image_id = int(image_id)
            if image_id not in self._pending:
                self._pending.add(image_id)
                heapq.heappush(self._heap, sign * image_id)

    def ids(self) -> set[int]:
        """A copy of the pending ids."""
        return set(self._pending)

    def discard(self, image_ids: Iterable[int]) -> None:
        self._pending.difference_update(int(image_id) for image_id in image_ids)

    def take(self, count: int) -> list[int]:
        """Remove and return up to ``count`` ids in policy order."""
        taken: list[int] = []
        while len(taken) < count and self._pending:
            image_id = self._next()
            if image_id is None:
                break
            self._pending.discard(image_id)
            taken.append(image_id)
        return taken

    def _next(self) -> int | None:
        if self.policy == CATCHUP:
            return self._next_of_batch()
        return self._pop_heap()

    def _pop_heap(self) -> int | None:
        sign = 1 if self.policy == CLASSIC else -1
        while self._heap:
            image_id = sign * heapq.heappop(self._heap)
            if image_id in self._pending:
                return image_id
        return None

    def _next_of_batch(self) -> int | None:
        while True:
            while self._batch:
                image_id = self._batch.popleft()
                if image_id in self._pending:
                    return image_id
            newest: list[int] = []
            while len(newest) < self.batch_size:
                popped = self._pop_heap()
                if popped is None:
                    break
                if popped not in newest:
                    newest.append(popped)
            if not newest:
                return None
            self._batch.extend(sorted(newest))
