"""The controller: finds new images, runs the steps on Dask, stores every result once.

One controller per run directory.  It keeps in memory the newest image id seen,
the status-row high-water marks (in :class:`~appion.base.loop.feed.ImageFeed`),
the ids each step has done (read once at start from ``step.done_image_ids``, then
maintained), the pending ids per step (ordered by the policy), and the futures in
flight.  Workers only run ``step.run_task``; ``step.prepare`` and ``step.store``
run here, so workers never touch a database.  A stored step's new image ids (the
aligned micrographs) go straight to the next step's queue.

Before any image is taken, the steps' engine programs are checked on a worker
(:mod:`appion.base.loop.preflight`).  A task's failure comes back as a
:class:`~appion.base.loop.worker.TaskFailure` saying whether it may heal: if so it
is retried with a doubling delay up to ``--retries``, then recorded in
``failed.jsonl``; if not (a bad option, an unreadable input, a missing program,
see :func:`appion.base.errors.is_retryable`) it is recorded at once.  An input that
is not there yet (:class:`~appion.base.errors.InputNotReady`, a movie still being
transferred) is not a failure: the image is prepared again after a growing delay,
without counting attempts, for at most ``--input-wait`` seconds, and only then
recorded (as ``not_ready``, which a restart waits for again); with ``--no-wait`` it
is left for a later run.  A result whose
store meets an unreachable database stays in memory and is stored when the database
is back.  SIGTERM/SIGINT stop polling and
submitting, let the running tasks finish (bounded by ``--stop-timeout``), store
what finished, and return 0; a second signal stops at once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import appion.base.loop.preflight as preflight
import appion.base.loop.state as state
import sinedon
from appion.base.errors import AppionError, InputNotReady, describe_error, is_retryable
from appion.base.loop.display import Progress, StepCounts, make_display, snapshot
from appion.base.loop.feed import ImageFeed
from appion.base.loop.options import RuntimeSettings
from appion.base.loop.pending import done_image_ids
from appion.base.loop.policy import WorkQueue
from appion.base.loop.worker import TaskFailure, run_attempt
from appion.base.step import RunContext, Step
from sinedon.errors import DatabaseBusy, DatabaseUnreachable, SinedonError

log = logging.getLogger("appion.loop")

#: Longest wait between attempts to reach an unreachable database (seconds).
MAX_DATABASE_BACKOFF_S = 30.0
#: Longest delay before a retry (seconds).
MAX_RETRY_DELAY_S = 300.0
#: Longest delay between two looks at an input that is not there yet (seconds).
MAX_INPUT_LOOK_S = 10.0
STATUS_EVERY_S = 2.0


def task_key(step_name: str, runname: str, image_id: int, attempt: int) -> str:
    """The deterministic Dask key of one attempt at one image."""
    return f"{step_name}-{runname}-{image_id}-try{attempt}"


def retry_delay(first_delay_s: float, attempt: int) -> float:
    """Delay before attempt ``attempt + 1``: ``first_delay_s`` doubled each time."""
    return min(MAX_RETRY_DELAY_S, first_delay_s * 2 ** max(0, attempt - 1))


RETRY, LEAVE, GIVE_UP = "retry", "leave", "give up"


def after_failure(*, retryable: bool, attempt: int, retries: int, stopping: bool) -> str:
    """What follows failed attempt number ``attempt`` at an image.

    :data:`GIVE_UP` (record it in ``failed.jsonl``) at once when the error cannot heal,
    or after ``retries`` retries; else :data:`RETRY` with backoff, or :data:`LEAVE` it
    for a restart when the controller is stopping.
    """
    if not retryable or attempt > retries:
        return GIVE_UP
    return LEAVE if stopping else RETRY


@dataclass
class Attempt:
    """One submission of one task (mutable bookkeeping of the controller)."""

    stage: int
    task: Any
    number: int
    key: str = ""
    running_since: float | None = None
    future: Any = None

    @property
    def image_id(self) -> int:
        return int(self.task.image_id)


@dataclass
class Events:
    """Hooks for benchmarks and tests: called with ``(stage, image_id, monotonic time)``."""

    on_submit: Callable[[int, int, float], None] | None = None
    on_store: Callable[[int, int, float], None] | None = None
    #: Called with ``(stage, image_id, outputs)`` once a result is stored (``outputs``:
    #: the ids handed to the next stage, maybe none).
    on_handoff: Callable[[int, int, list[int]], None] | None = None
    #: Called with ``(stage, image_id)`` when an image is given up on.
    on_give_up: Callable[[int, int], None] | None = None
    #: Called with the ids of the first step's new images (found by a poll, or taken
    #: back after a reject was undone), before they are queued.
    on_images: Callable[[list[int]], None] | None = None
    #: Called with the ids of queued first-step images dropped as rejected.
    on_rejected: Callable[[list[int]], None] | None = None
    #: Called from a Dask thread whenever a task completes (to wake a waiting caller).
    on_completion: Callable[[], None] | None = None
    #: Set when the session is known to be over (e.g. ``appion demo``'s microscope is
    #: done): after one more poll the controller exits once nothing is pending.
    session_ended: threading.Event | None = None


@dataclass
class _Backoff:
    """A doubling delay for database outages."""

    delay_s: float = 0.5
    until: float = 0.0
    reason: str | None = None

    def failed(self, now: float, reason: str) -> None:
        self.delay_s = min(MAX_DATABASE_BACKOFF_S, self.delay_s * 2) if self.reason else 0.5
        self.until, self.reason = now + self.delay_s, reason

    def succeeded(self) -> bool:
        """Reset; ``True`` when this ends an outage."""
        was_down, self.reason, self.delay_s, self.until = self.reason is not None, None, 0.5, 0
        return was_down

    def blocked(self, now: float) -> bool:
        return self.reason is not None and now < self.until


@dataclass
class _Waiting:
    """An image whose input is not there yet: since when, how often looked at."""

    since: float
    error: str
    looks: int = 0

    def next_delay(self, first_s: float) -> float:
        return min(MAX_INPUT_LOOK_S, first_s * 2 ** max(0, self.looks - 1))


@dataclass
class _StepState:
    step: Step
    queue: WorkQueue
    done: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    counts: StepCounts = field(default_factory=StepCounts)


class Controller:
    """Runs ``steps`` (a chain) for ``run`` on a Dask ``client``."""

    def __init__(self, steps: Sequence[Step], run: RunContext, settings: RuntimeSettings,
                 client: Any, *, events: Events | None = None, dashboard: str | None = None,
                 cluster_description: str = ""):
        if not steps:
            raise AppionError("no steps to run; give at least one with --steps")
        self.run = run
        self.settings = settings
        self.client = client
        self.rundir = run.rundir
        self.feed = ImageFeed(run.selection, run.session["id"])
        self.events = events or Events()
        self.stages = [_StepState(step, WorkQueue(settings.policy, settings.batch_size))
                       for step in steps]
        self.progress = Progress({s.step.name: s.counts for s in self.stages},
                                 dashboard=dashboard, cluster=cluster_description)
        self.display = make_display(settings.display)
        self.inflight: dict[str, Attempt] = {}
        self.retries: list[tuple[float, int, Attempt]] = []
        self.unstored: deque[tuple[Attempt, Any]] = deque()
        self.deferred: dict[tuple[int, int], float] = {}
        self.waiting: dict[tuple[int, int], _Waiting] = {}
        self.completions: queue.Queue[str] = queue.Queue()
        self.stop_requested = threading.Event()
        self.stop_now = threading.Event()
        self.database = _Backoff()
        self._sequence = itertools.count()
        self._taken_first = 0
        self._polled_once = False
        self._polled_after_end = False
        self._last_new_image = time.monotonic()
        self._last_status = 0.0
        self._next_poll = 0.0
        self._next_timeout_check = 0.0

    # ----------------------------------------------------------------- start

    def start(self, stop: threading.Event | None = None) -> None:
        """Engine programs, per-run rows of every step, what is done already, failures,
        chain handoffs.  Waiting for a worker to check the programs ends when ``stop``
        (default: this controller's stop request) is set."""
        preflight.check_programs(self.client, [s.step for s in self.stages],
                                 key=f"preflight-{self.run.runname}-{self.run.session['id']}",
                                 stop=stop or self.stop_requested)
        if self.settings.retry_failed:
            state.clear_failures(self.rundir)
        failures = state.read_failures(self.rundir)
        for index, stage in enumerate(self.stages):
            stage.step.init_run(self.run)
            stage.done = done_image_ids(stage.step, self.run)
            stage.counts.previously_done = len(stage.done)
            stage.failed = {f.image_id for f in failures
                            if f.step == stage.step.name and not f.not_ready}
            stage.counts.failed = len(stage.failed)
            if index:
                handed = state.read_handoffs(self.rundir, self.stages[index - 1].step.name)
                self._enqueue(index, handed)
        log.info("run %s in %s: %s", self.run.runname, self.rundir, ", ".join(
            f"{s.step.name} {len(s.done)} done before" for s in self.stages))

    # ------------------------------------------------------------------ loop

    def loop(self) -> int:
        """Poll, submit, collect and store until told to stop or nothing is left."""
        with self.display:
            while not self.stop_requested.is_set():
                now = time.monotonic()
                self.poll(now)
                self.submit(now)
                self.collect(self._collect_timeout(now))
                self.housekeeping(now)
                if self.finished(time.monotonic()):
                    break
            return self.close()

    # The phases of one pass, for a caller that drives several controllers (``appion
    # serve``) and shares the cluster's capacity between them.

    def poll(self, now: float) -> None:
        """Look for new images and status changes; store results kept during an outage."""
        self._maybe_poll(now)
        self._flush_unstored(now)

    def submit(self, now: float, capacity: int | None = None) -> None:
        """Submit what is ready, at most ``capacity`` tasks (default: up to the batch
        size in flight)."""
        self._submit_ready(now, capacity)

    def collect(self, timeout: float) -> None:
        """Collect finished tasks (waiting at most ``timeout`` for the first) and store."""
        self._collect(timeout=timeout)

    def housekeeping(self, now: float) -> None:
        """Cancel tasks past ``--task-timeout``; report progress."""
        self._check_timeouts(now)
        self._report(now)

    def finished(self, now: float) -> bool:
        """Whether the run is over (nothing pending, and no more images to wait for)."""
        return self._finished(now)

    def close(self) -> int:
        """Let running tasks finish (bounded), store them, write the final status;
        returns the exit status (1: results could not be stored)."""
        self._drain()
        self._report(time.monotonic(), force=True)
        return 0 if not self.unstored else 1

    def ready_count(self, now: float) -> int:
        """How many tasks :meth:`submit` would start now with unlimited capacity."""
        if self.stop_requested.is_set() or self.database.blocked(now):
            return 0
        ready = sum(1 for when, _, _ in self.retries if when <= now)
        ready += sum(len(stage.queue) for stage in self.stages[1:])
        first = len(self.stages[0].queue)
        if self.settings.limit is not None:
            first = min(first, max(0, self.settings.limit - self._taken_first))
        return ready + first

    def retry_failed(self) -> int:
        """Try again every image given up on (``failed.jsonl`` is kept as ``.old``);
        returns how many."""
        state.clear_failures(self.rundir)
        count = 0
        for index, stage in enumerate(self.stages):
            failed, stage.failed = sorted(stage.failed), set()
            stage.counts.failed = 0
            self._enqueue(index, failed)
            count += len(failed)
        return count

    def image_ids(self, stage_index: int) -> tuple[set[int], set[int], set[int], set[int]]:
        """``(done, failed, running, waiting)`` ids of a stage, copies; waiting: queued,
        retrying, deferred or kept for storing."""
        stage = self.stages[stage_index]
        running = {a.image_id for a in self.inflight.values() if a.stage == stage_index}
        waiting = stage.queue.ids() | self._busy_ids(stage_index)
        waiting.update(image for index, image in self.deferred if index == stage_index)
        return set(stage.done), set(stage.failed), running, waiting - running

    def stop_submitting(self) -> None:
        """Take no new task; the loop's caller then lets the running ones finish."""
        self.progress.stopping = True
        self.stop_requested.set()

    def request_stop(self, signum: int) -> None:
        if self.stop_requested.is_set():
            self.stop_now.set()
            return
        log.info("received %s: no new tasks; letting %d running task(s) finish "
                 "(at most %.0f s; signal again to stop at once)",
                 signal.Signals(signum).name, len(self.inflight), self.settings.stop_timeout_s)
        self.progress.stopping = True
        self.stop_requested.set()

    # ----------------------------------------------------------------- polls

    def _polling(self) -> bool:
        return (self.settings.wait and not self._polled_after_end) or not self._polled_once

    def _maybe_poll(self, now: float) -> None:
        if now < self._next_poll or self.database.blocked(now):
            return
        self._next_poll = now + self.settings.poll_interval_s
        try:
            ended = self.events.session_ended is not None and self.events.session_ended.is_set()
            if self._polling():
                new_ids = self.feed.poll()
                self._polled_once = True
                self._polled_after_end = ended
                if new_ids:
                    self._last_new_image = now
                    if self.events.on_images:
                        self.events.on_images(list(new_ids))
                    self._enqueue(0, new_ids)
            rejected, restored = self.feed.status_changes()
        except (DatabaseUnreachable, DatabaseBusy) as error:
            self._database_failed(now, error)
            return
        self._database_ok()
        if rejected:
            self._drop_rejected(rejected)
        if restored:
            self._restore(restored)
        self._release_deferred(now)
        self.progress.waiting_for_images = self.settings.wait

    def _enqueue(self, stage_index: int, image_ids: Sequence[int]) -> None:
        stage = self.stages[stage_index]
        busy = self._busy_ids(stage_index)
        fresh = [i for i in image_ids if i not in stage.done and i not in stage.failed
                 and i not in busy]
        stage.queue.add(fresh)
        stage.counts.pending = len(stage.queue)

    def _busy_ids(self, stage_index: int) -> set[int]:
        busy = {a.image_id for a in self.inflight.values() if a.stage == stage_index}
        busy.update(a.image_id for _, _, a in self.retries if a.stage == stage_index)
        busy.update(a.image_id for a, _ in self.unstored if a.stage == stage_index)
        return busy

    def _drop_rejected(self, rejected: set[int]) -> None:
        first = self.stages[0]
        dropped = [i for i in rejected if i in first.queue]
        first.queue.discard(dropped)
        first.counts.pending = len(first.queue)
        if dropped and self.events.on_rejected:
            self.events.on_rejected(list(dropped))
        if dropped:
            log.info("skipping %d image(s) rejected since they were found: %s",
                     len(dropped), ", ".join(map(str, sorted(dropped)[:10])))

    def _restore(self, restored: list[int]) -> None:
        first = self.stages[0]
        before = len(first.queue)
        if self.events.on_images:
            self.events.on_images(list(restored))
        self._enqueue(0, restored)
        if len(first.queue) > before:
            log.info("taking %d image(s) back that are no longer rejected: %s",
                     len(first.queue) - before, ", ".join(map(str, restored[:10])))

    def _release_deferred(self, now: float) -> None:
        ready: dict[int, list[int]] = {}
        for (stage_index, image_id), when in list(self.deferred.items()):
            if when <= now:
                del self.deferred[(stage_index, image_id)]
                ready.setdefault(stage_index, []).append(image_id)
        for stage_index, image_ids in ready.items():
            self._enqueue(stage_index, image_ids)

    # ------------------------------------------------------------ submitting

    def _capacity(self, limit: int | None = None, submitted: int = 0) -> int:
        free = self.settings.batch_size - len(self.inflight)
        return free if limit is None else min(free, limit - submitted)

    def _submit_ready(self, now: float, limit: int | None = None) -> None:
        if self.stop_requested.is_set() or self.database.blocked(now):
            return
        before = len(self.inflight)
        while self.retries and self.retries[0][0] <= now and self._capacity(
                limit, len(self.inflight) - before) > 0:
            _, _, attempt = heapq.heappop(self.retries)
            self.stages[attempt.stage].counts.retrying -= 1
            self._submit(attempt, now)
        for stage_index in reversed(range(len(self.stages))):
            capacity = self._capacity(limit, len(self.inflight) - before)
            if capacity <= 0:
                return
            if stage_index == 0 and self.settings.limit is not None:
                capacity = min(capacity, self.settings.limit - self._taken_first)
            if capacity > 0 and len(self.stages[stage_index].queue):
                self._submit_stage(stage_index, capacity, now)

    def _submit_stage(self, stage_index: int, count: int, now: float) -> None:
        stage = self.stages[stage_index]
        image_ids = stage.queue.take(count)
        if stage_index == 0:
            self._taken_first += len(image_ids)
        try:
            tasks = self._prepare(stage_index, image_ids)
        except (DatabaseUnreachable, DatabaseBusy) as error:
            stage.queue.add(image_ids)
            if stage_index == 0:
                self._taken_first -= len(image_ids)
            self._database_failed(now, error)
            return
        prepared = {int(task.image_id) for task in tasks}
        skipped = [i for i in image_ids if i not in prepared and i not in stage.failed]
        for image_id in skipped:  # classic: not ready yet (e.g. movie missing), not done
            self.deferred[(stage_index, image_id)] = now + self.settings.poll_interval_s
        for task in tasks:
            self._submit(Attempt(stage_index, task, 1), now)
        stage.counts.pending = len(stage.queue)

    def _prepare(self, stage_index: int, image_ids: list[int]) -> list[Any]:
        """``step.prepare`` on the batch; on a user error, image by image to find it."""
        stage = self.stages[stage_index]
        if not image_ids:
            return []
        try:
            return list(stage.step.prepare(self.run, image_ids))
        except (DatabaseUnreachable, DatabaseBusy):
            raise
        except (AppionError, SinedonError) as batch_error:
            if len(image_ids) == 1:
                self._give_up(stage_index, image_ids[0], str(batch_error), 0)
                return []
        tasks: list[Any] = []
        for image_id in image_ids:
            tasks.extend(self._prepare(stage_index, [image_id]))
        return tasks

    def _submit(self, attempt: Attempt, now: float) -> None:
        stage = self.stages[attempt.stage]
        attempt.key = task_key(stage.step.name, self.run.runname, attempt.image_id,
                               attempt.number)
        attempt.running_since = None
        attempt.future = self.client.submit(run_attempt, stage.step.run_task, attempt.task,
                                            key=attempt.key, pure=False,
                                            priority=attempt.stage)
        self.inflight[attempt.key] = attempt
        attempt.future.add_done_callback(self._completed_callback)
        stage.counts.running += 1
        if self.events.on_submit and attempt.number == 1:
            self.events.on_submit(attempt.stage, attempt.image_id, now)

    def _completed_callback(self, future: Any) -> None:
        self.completions.put(future.key)
        if self.events.on_completion:
            self.events.on_completion()

    # ------------------------------------------------------------ collecting

    def _collect_timeout(self, now: float) -> float:
        if self.unstored or self.retries or self.deferred:
            return 0.2
        until_poll = self._next_poll - now if self._polling() else 0.5
        return max(0.0, min(0.5, until_poll))

    def _collect(self, timeout: float) -> None:
        try:
            keys = [self.completions.get(timeout=timeout)]
        except queue.Empty:
            return
        while True:
            try:
                keys.append(self.completions.get_nowait())
            except queue.Empty:
                break
        finished: list[Attempt] = []
        for key in keys:
            attempt = self.inflight.pop(key, None)
            if attempt is None:  # cancelled after a timeout: already handled
                continue
            self.stages[attempt.stage].counts.running -= 1
            status = attempt.future.status
            if status == "finished":
                finished.append(attempt)
            elif status == "cancelled":
                self._attempt_failed(attempt, "cancelled by the Dask scheduler")
            else:
                error = attempt.future.exception()
                if isinstance(error, InputNotReady):
                    self._input_not_ready(attempt, describe_error(error))
                else:
                    self._attempt_failed(attempt, describe_error(error),
                                         retryable=is_retryable(error))
        for attempt, result in self._gather(finished):
            if isinstance(result, TaskFailure) and result.not_ready:
                self._input_not_ready(attempt, result.error)
            elif isinstance(result, TaskFailure):
                self._attempt_failed(attempt, result.error, retryable=result.retryable)
            else:
                self._store(attempt, result)

    def _gather(self, finished: list[Attempt]) -> list[tuple[Attempt, Any]]:
        if not finished:
            return []
        try:
            results = self.client.gather([a.future for a in finished])
            pairs = list(zip(finished, results))
        except Exception:  # one result was lost (its worker died): fetch one by one
            pairs = []
            for attempt in finished:
                try:
                    pairs.append((attempt, attempt.future.result()))
                except Exception as error:
                    self._attempt_failed(attempt, describe_error(error))
        for attempt, _ in pairs:
            attempt.future = None  # release the result on the cluster
        return pairs

    def _attempt_failed(self, attempt: Attempt, error: str, *, retryable: bool = True
                        ) -> None:
        stage = self.stages[attempt.stage]
        attempt.future = None
        action = after_failure(retryable=retryable, attempt=attempt.number,
                               retries=self.settings.retries,
                               stopping=self.stop_requested.is_set())
        if action == RETRY:
            delay = retry_delay(self.settings.retry_delay_s, attempt.number)
            log.warning("%s of image %d failed (attempt %d of %d): %s; retrying in %.0f s",
                        stage.step.name, attempt.image_id, attempt.number,
                        self.settings.retries + 1, error, delay)
            retry = Attempt(attempt.stage, attempt.task, attempt.number + 1)
            heapq.heappush(self.retries, (time.monotonic() + delay, next(self._sequence),
                                          retry))
            stage.counts.retrying += 1
        elif action == LEAVE:
            log.info("%s of image %d failed while stopping: %s; it will be tried again "
                     "after a restart", stage.step.name, attempt.image_id, error)
        else:
            self._give_up(attempt.stage, attempt.image_id, error, attempt.number)

    def _input_not_ready(self, attempt: Attempt, error: str) -> None:
        """Prepare the image again later, up to ``--input-wait``; not a failed attempt."""
        key, now = (attempt.stage, attempt.image_id), time.monotonic()
        attempt.future = None
        waiting = self.waiting.setdefault(key, _Waiting(now, error))
        waiting.looks += 1
        waiting.error = error
        if self.stop_requested.is_set():
            return
        waited = now - waiting.since
        if waited >= self.settings.input_wait_s:
            del self.waiting[key]
            self._give_up(attempt.stage, attempt.image_id,
                          f"{error} (not there after {waited:.0f} s of --input-wait)",
                          attempt.number, not_ready=True)
            return
        if waiting.looks == 1:
            log.info("%s of image %d waits for its input (at most %.0f s, --input-wait): %s",
                     self.stages[attempt.stage].step.name, attempt.image_id,
                     self.settings.input_wait_s, error)
        self.deferred[key] = now + waiting.next_delay(self.settings.poll_interval_s)

    def _give_up(self, stage_index: int, image_id: int, error: str, attempts: int, *,
                 not_ready: bool = False) -> None:
        stage = self.stages[stage_index]
        log.error("%s of image %d failed after %d attempt(s): %s; recorded in %s and "
                  "skipped", stage.step.name, image_id, attempts, error, state.FAILED_NAME)
        state.record_failure(self.rundir, state.Failure(stage.step.name, image_id, error,
                                                        attempts, time.time(), not_ready))
        self.waiting.pop((stage_index, image_id), None)
        stage.failed.add(image_id)
        stage.counts.failed = len(stage.failed)
        if self.events.on_give_up:
            self.events.on_give_up(stage_index, image_id)

    # --------------------------------------------------------------- storing

    def _store(self, attempt: Attempt, result: Any) -> None:
        stage = self.stages[attempt.stage]
        now = time.monotonic()
        if self.database.blocked(now):
            self.unstored.append((attempt, result))
            return
        try:
            outputs = stage.step.store(self.run, result)
        except SinedonError as error:
            if not _transient(error):
                self._give_up(attempt.stage, attempt.image_id, f"storing: {error}",
                              attempt.number)
                return
            self.unstored.append((attempt, result))
            self._database_failed(now, error)
            return
        except AppionError as error:
            self._give_up(attempt.stage, attempt.image_id, f"storing: {error}",
                          attempt.number)
            return
        self._database_ok()
        self._stored(attempt, list(outputs or ()), time.monotonic())

    def _stored(self, attempt: Attempt, outputs: list[int], now: float) -> None:
        stage = self.stages[attempt.stage]
        stage.done.add(attempt.image_id)
        self.waiting.pop((attempt.stage, attempt.image_id), None)
        stage.counts.done += 1
        self.progress.completed(now)
        if self.events.on_store:
            self.events.on_store(attempt.stage, attempt.image_id, now)
        if self.events.on_handoff:
            self.events.on_handoff(attempt.stage, attempt.image_id, outputs)
        next_stage = attempt.stage + 1
        if outputs and next_stage < len(self.stages):
            state.record_handoff(self.rundir, stage.step.name, attempt.image_id, outputs)
            self._enqueue(next_stage, outputs)

    def _flush_unstored(self, now: float) -> None:
        if not self.unstored or self.database.blocked(now):
            return
        while self.unstored and not self.database.blocked(time.monotonic()):
            attempt, result = self.unstored.popleft()
            self._store(attempt, result)

    def _database_failed(self, now: float, error: Exception) -> None:
        first = self.database.reason is None
        self.database.failed(now, str(error))
        self.progress.database_down = str(error)
        sinedon.close_all()
        if first:
            log.warning("database unreachable: %s; results are kept in memory and stored "
                        "when it is back", error)
        else:
            log.info("database still unreachable (%d result(s) kept); next try in %.0f s",
                     len(self.unstored), self.database.delay_s)

    def _database_ok(self) -> None:
        if self.database.succeeded():
            log.info("database reachable again; storing %d kept result(s)",
                     len(self.unstored))
        self.progress.database_down = None

    # -------------------------------------------------------------- timeouts

    def _check_timeouts(self, now: float) -> None:
        timeout = self.settings.task_timeout_s
        if not timeout or now < self._next_timeout_check or not self.inflight:
            return
        self._next_timeout_check = now + min(1.0, timeout / 4)
        unknown = [a.key for a in self.inflight.values() if a.running_since is None]
        if unknown:
            states = self.client.run_on_scheduler(_task_states, keys=unknown)
            for key in unknown:
                attempt = self.inflight.get(key)
                if attempt is not None and states.get(key) in ("processing", "memory",
                                                               "erred"):
                    attempt.running_since = now
        expired = [a for a in self.inflight.values()
                   if a.running_since is not None and now - a.running_since > timeout]
        for attempt in expired:
            del self.inflight[attempt.key]
            self.stages[attempt.stage].counts.running -= 1
            attempt.future.cancel()
            self._attempt_failed(attempt, f"timed out after {timeout:g} s (--task-timeout)")

    # ---------------------------------------------------------------- ending

    def _pending_work(self) -> bool:
        return bool(self.inflight or self.retries or self.unstored
                    or (self.waiting and self.settings.wait)
                    or any(len(s.queue) for s in self.stages[1:])
                    or (len(self.stages[0].queue) and not self._limit_reached()))

    def _limit_reached(self) -> bool:
        return self.settings.limit is not None and self._taken_first >= self.settings.limit

    def _finished(self, now: float) -> bool:
        if self._pending_work() or not self._polled_once:
            return False
        if not self.settings.wait or self._polled_after_end:
            self._log_left_waiting()
            return True
        give_up = self.settings.give_up_s
        if give_up and now - self._last_new_image > give_up and not self.deferred:
            log.info("no new image for %.0f minutes: stopping (--give-up-minutes)",
                     give_up / 60)
            return True
        return False

    def _log_left_waiting(self) -> None:
        for (stage_index, image_id), waiting in self.waiting.items():
            log.warning("%s of image %d: input not there yet, left for a later run "
                        "(not recorded as failed): %s", self.stages[stage_index].step.name,
                        image_id, waiting.error)
        others = len(self.deferred) - len(self.waiting)
        if others > 0:
            log.info("%d image(s) were not ready (e.g. movie not written yet) and are "
                     "left for a later run", others)

    def _drain(self) -> None:
        """Let the tasks in flight finish (bounded) and store them; cancel the rest."""
        deadline = time.monotonic() + self.settings.stop_timeout_s
        while (self.inflight or self.unstored) and not self.stop_now.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            self._flush_unstored(now)
            self._collect(timeout=0.2)
            self._report(now)
        if self.inflight:
            log.warning("stopping with %d task(s) unfinished; they will run again after "
                        "a restart", len(self.inflight))
            for attempt in self.inflight.values():
                attempt.future.cancel()
            self.inflight.clear()
        if self.unstored:
            log.error("%d result(s) could not be stored (database unreachable: %s); "
                      "their images will be processed again after a restart",
                      len(self.unstored), self.database.reason)

    # ------------------------------------------------------------- reporting

    def _report(self, now: float, *, force: bool = False) -> None:
        self.display.update(self.progress, force=force)
        if force or now - self._last_status >= STATUS_EVERY_S:
            self._last_status = now
            self.write_status(running=not force)

    def write_status(self, *, running: bool) -> None:
        import os
        import socket
        data = snapshot(self.progress)
        data.update(state="running" if running else "stopped", pid=os.getpid(),
                    host=socket.gethostname(), runname=self.run.runname,
                    session=self.run.session.get("name"))
        try:
            state.write_status(self.rundir, data)
        except OSError as error:
            log.warning("cannot write %s: %s", state.STATUS_NAME, error)


def _transient(error: SinedonError) -> bool:
    """A database error that goes away by itself: unreachable, locked, deadlocked."""
    return isinstance(error, (DatabaseUnreachable, DatabaseBusy))


def _task_states(dask_scheduler=None, keys=()) -> dict[str, str]:
    """On the scheduler: the state of each task key (``processing`` once started)."""
    tasks = dask_scheduler.tasks
    return {key: tasks[key].state for key in keys if key in tasks}
