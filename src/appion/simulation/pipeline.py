"""Overlap the simulator's stages: frames are made in a background thread while the
caller compresses and writes the previous ones, and bands of a frame share a pool.

Threads only change when work happens, never what is drawn: every band and
frame has its own random generator, so the output depends on the seed alone.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from appion.simulation.calc import FFT_WORKERS

T = TypeVar("T")
_END = object()
_POLL_S = 0.1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def band_pool() -> ThreadPoolExecutor:
    """The shared pool that renders and counts the bands of a frame (numpy releases the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=FFT_WORKERS,
                                       thread_name_prefix="simulate-band")
        return _pool


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead of the consumer.

    An exception in the producer is raised in the consumer; a consumer that stops
    early (an error while writing) stops the producer before returning.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as error:  # handed to the consumer, re-raised there
            put((_END, error))

    thread = threading.Thread(target=produce, name="simulate-frames", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
