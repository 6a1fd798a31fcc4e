"""What the controller runs on a worker: a step's task, its failure returned as plain data.

A task that raises comes back to the controller not as a Dask error but as a
:class:`TaskFailure` (a frozen dataclass of plain data, like every Result): the
error's one line and whether another attempt may succeed, decided on the worker,
where the exception is (:func:`appion.base.errors.is_retryable`).  The controller
then retries it with backoff or records it as failed at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appion.base.errors import InputNotReady, describe_error, is_retryable

log = logging.getLogger("appion.worker")


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised: ``error`` is ``"<ErrorType>: <line>"``; ``not_ready`` when
    the input is not there yet (:class:`~appion.base.errors.InputNotReady`): it is
    waited for, not counted as a failed attempt."""

    image_id: int
    error: str
    retryable: bool
    not_ready: bool = False


def run_attempt(run: Callable[[Any], Any], task: Any) -> Any:
    """``run(task)`` (a step's ``run_task``), or a :class:`TaskFailure` when it raises.

    Afterwards the C heap's free pages go back to the system (``malloc_trim``): the
    engines' large temporary arrays otherwise leave a worker's resident memory growing
    from task to task through fragmentation, though Python holds nothing.
    """
    try:
        return run(task)
    except Exception as error:
        log.debug("task of image %s failed", getattr(task, "image_id", "?"), exc_info=True)
        return TaskFailure(int(task.image_id), describe_error(error), is_retryable(error),
                           isinstance(error, InputNotReady))
    finally:
        trim_memory()


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _libc()


def trim_memory() -> None:
    """Give the C heap's free memory back to the system (glibc only; else nothing)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
