"""The facility service: every session's controller on one Dask cluster, one loop.

One thread (the caller of :meth:`FacilityService.run`) owns every controller.  Each
pass it looks for new sessions (:mod:`.discovery`, every ``poll_seconds``), lets every
controller poll its session, shares the cluster's free task slots between the
sessions (:func:`.lag.share_slots`: the newest exposure of every session first, then
the backlogs in turn), submits, collects and stores.  Other threads (the HTTP API, the
alerts) read the latest :class:`~.model.FacilityStatus` snapshot, and ask for anything
else (an exposures page, pause, resume, retry) through :meth:`FacilityService.call`,
which the loop runs between passes: the controllers never see a second thread.

A session's run is the same as ``appion pipeline``'s (its run directory, lock, job row,
``failed.jsonl`` and ``handoff.jsonl``), so a restart resumes every session with
nothing lost or duplicated, and ``appion status`` reads each run directory as before.
The service itself keeps ``serve-state.json`` in its state directory: the discovery's
mark, and the sessions it was processing (and which are paused).
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sinedon
from appion.base.errors import AppionError
from appion.base.loop.controller import Controller, Events
from appion.base.loop.options import RuntimeSettings
from appion.base.loop.state import (
    RunLock,
    read_failures,
    read_handoffs_by_image,
    write_json_atomically,
)
from appion.base.step import ReportingStep, RunContext, Step, step_details
from appion.facility.config import FacilityConfig, SessionPlan
from appion.facility.discovery import SessionDiscovery, Sighting, epoch_seconds, start_mark
from appion.facility.lag import LagTracker, StageIds, share_slots
from appion.facility.model import (
    DiskUsage,
    ExposureQuality,
    FacilityStatus,
    SessionStatus,
    StepStatus,
    iso_utc,
)
from appion.facility.records import (
    IMAGE_KEYS,
    STATUSES,
    ExposureRecords,
    summaries_of,
)
from sinedon.errors import DatabaseBusy, DatabaseUnreachable, SinedonError

log = logging.getLogger("appion.facility")

STATE_NAME = "serve-state.json"
#: How often the snapshot is rebuilt (seconds).
SNAPSHOT_EVERY_S = 1.0
#: How often the values of newly stored exposures are read (seconds).
RECORDS_EVERY_S = 3.0
#: A session that could not be started is tried again after this long (seconds).
RESTART_DELAY_S = 60.0
#: How long the loop sleeps when nothing completes (seconds).
IDLE_WAIT_S = 0.2


@dataclass
class StartedRun:
    """What the command line builds for one session: the run, its steps, its settings."""

    run: RunContext
    steps: list[Step]
    settings: RuntimeSettings
    #: The session's options as the command line and its plan set them (for people).
    options: dict[str, Any] = field(default_factory=dict)


class SessionStarter(Protocol):
    """Builds a session's run as ``appion pipeline`` would (the command line's job)."""

    def __call__(self, sighting: Sighting, plan: SessionPlan) -> StartedRun: ...


@dataclass
class SessionRunner:
    """One session: its plan, and while active its controller and run."""

    sighting: Sighting
    plan: SessionPlan
    paused: bool = False
    error: str | None = None
    skipped: bool = False          # not to be started (classic run, rule)
    finished: bool = False
    retry_at: float = 0.0          # monotonic time of the next start attempt
    controller: Controller | None = None
    closed: Controller | None = None  # the last controller, for reads after it stopped
    lock: RunLock | None = None
    tracker: LagTracker | None = None
    records: ExposureRecords | None = None
    quality: tuple[ExposureQuality, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    rundir: str = ""

    @property
    def name(self) -> str:
        return self.sighting.session

    @property
    def project(self) -> int | None:
        return self.sighting.project

    def context(self):
        """This session's project database for the ``appiondata`` models."""
        project = self.project
        if project is None and self.controller is not None:
            project = self.controller.run.projectid
        return sinedon.project_context(project) if project is not None else nullcontext()


class FacilityService:
    """Processes every session the configuration takes, on one Dask ``client``."""

    def __init__(self, config: FacilityConfig, starter: SessionStarter, client: Any, *,
                 total_slots: int, default_preset: str | None, state_dir: Path,
                 cluster_description: str = "", clock: Callable[[], float] = time.time):
        self.config = config
        self.starter = starter
        self.client = client
        self.total_slots = max(1, total_slots)
        self.default_preset = default_preset
        self.state_dir = Path(state_dir)
        self.cluster_description = cluster_description
        self.clock = clock
        self.started_at = clock()
        self.runners: dict[int, SessionRunner] = {}
        self.discovery: SessionDiscovery | None = None
        self.wake = threading.Event()
        self._calls: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future]] = (
            queue.Queue())
        self._status = FacilityStatus((), 0, self.started_at, self.started_at)
        self._status_lock = threading.Lock()
        self._next_discovery = 0.0
        self._next_snapshot = 0.0
        self._next_records = 0.0
        self.alerts: Any = None           # the AlertManager, when the command line has one
        self._saved_state: dict[str, Any] | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------ interfaces

    def status(self) -> FacilityStatus:
        """The latest snapshot (any thread)."""
        with self._status_lock:
            return self._status

    def call(self, function: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run ``function`` in the service's loop between two passes and return its
        result (any thread)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((function, future))
        self.wake.set()
        return future.result(timeout=timeout)

    def control(self, session: str, action: str) -> str:
        """``pause``, ``resume`` or ``retry`` a session (any thread)."""
        if action not in ("pause", "resume", "retry"):
            raise ValueError(f"unknown action {action!r}; use pause, resume or retry")
        return self.call(lambda: self._control(session, action))

    # ------------------------------------------------------------------ loop

    def run(self, stop: threading.Event) -> int:
        """Process sessions until ``stop`` is set; then let running tasks finish, store
        them and close every run.  Returns 1 when results could not be stored."""
        self._stop = stop
        self._load_state()
        log.info("serving: configuration %s; %s; %d task slots", self.config.source,
                 self.cluster_description or "Dask", self.total_slots)
        while not stop.is_set():
            self._pass(time.monotonic())
            self.wake.wait(IDLE_WAIT_S)
            self.wake.clear()
        return self._stop_all()

    def _pass(self, now: float) -> None:
        self._run_calls()
        if now >= self._next_discovery:
            self._next_discovery = now + self.config.service.poll_seconds
            self._discover()
        self._start_due(now)
        active = [runner for runner in self.runners.values() if runner.controller]
        for runner in active:
            self._guarded(runner, lambda r, c: c.poll(now))
        self._submit(active, now)
        for runner in active:
            self._guarded(runner, lambda r, c: self._collect(r, c, now))
        if now >= self._next_records:
            self._next_records = now + RECORDS_EVERY_S
            for runner in active:
                self._guarded(runner, self._refresh_records)
            if any(r.records is not None and r.records.behind for r in active):
                self._next_records = now  # a resumed session's backlog: on next pass
        if now >= self._next_snapshot:
            self._next_snapshot = now + SNAPSHOT_EVERY_S
            self._publish()
            self._save_state()

    def _guarded(self, runner: SessionRunner,
                 action: Callable[[SessionRunner, Controller], Any]) -> None:
        """Run ``action`` for one session's controller in its project's context; an
        error stops that session (recorded, retried later), not the service."""
        controller = runner.controller
        if controller is None:
            return
        try:
            with runner.context():
                action(runner, controller)
        except (DatabaseUnreachable, DatabaseBusy) as error:
            # the controller rides out outages itself; the service's own reads wait too
            log.warning("session %s: %s; trying again", runner.name, error)
        except (AppionError, SinedonError) as error:
            log.error("session %s: %s; stopping it, trying again in %.0f s", runner.name,
                      error, RESTART_DELAY_S)
            self._close_runner(runner, status="E", error=str(error))

    def _submit(self, active: list[SessionRunner], now: float) -> None:
        inflight = sum(len(r.controller.inflight) for r in active if r.controller)
        wants = {str(r.sighting.session_id): (0 if r.paused or r.controller is None
                                              else r.controller.ready_count(now))
                 for r in active}
        shares = share_slots(self.total_slots - inflight, wants)
        for runner in active:
            share = shares.get(str(runner.sighting.session_id), 0)
            if share > 0:
                self._guarded(runner, _submitter(now, share))

    def _collect(self, runner: SessionRunner, controller: Controller, now: float) -> None:
        controller.collect(0.0)
        controller.housekeeping(now)
        if controller.finished(time.monotonic()):
            log.info("session %s: no new exposure for %.0f minutes; finished",
                     runner.name, runner.plan.idle_minutes)
            self._close_runner(runner, status="D")
            runner.finished = True

    def _run_calls(self) -> None:
        while True:
            try:
                function, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function())
            except Exception as error:  # handed to the caller's thread
                future.set_exception(error)

    # ------------------------------------------------------------- sessions

    def _discover(self) -> None:
        if self.discovery is None:
            mark = (self._saved_state or {}).get("mark")
            if mark is None:
                mark = start_mark(self.config.service.lookback_hours * 3600)
            self.discovery = SessionDiscovery(int(mark))
        try:
            sightings = self.discovery.poll()
        except SinedonError as error:
            log.warning("cannot look for new sessions: %s; trying again", error)
            return
        for sighting in sightings:
            self._sighted(sighting)

    def _sighted(self, sighting: Sighting) -> None:
        runner = self.runners.get(sighting.session_id)
        if runner is not None:
            if runner.finished and sighting.preset == runner.plan.preset:
                log.info("session %s: new exposures; processing it again", runner.name)
                runner.finished, runner.retry_at = False, 0.0
            return
        plan = self.config.plan(sighting, default_preset=self.default_preset)
        if plan is None:
            return
        log.info("found session %s (microscope %s, camera %s, preset %s, project %s)",
                 sighting.session, sighting.microscope or "?", sighting.camera or "?",
                 sighting.preset, sighting.project)
        self.runners[sighting.session_id] = SessionRunner(sighting, plan)

    def _start_due(self, now: float) -> None:
        for runner in list(self.runners.values()):
            if self._stop.is_set():
                return
            if (runner.controller is None and not runner.finished and not runner.skipped
                    and now >= runner.retry_at):
                self._start(runner, now)

    def _start(self, runner: SessionRunner, now: float) -> None:
        runner.retry_at = now + RESTART_DELAY_S
        try:
            with runner.context():
                started = self.starter(runner.sighting, runner.plan)
                steps = self._steps_without_classic_runs(runner, started)
                if not steps:
                    return
                lock = RunLock(started.run.rundir)
                lock.acquire()
                try:
                    controller = self._controller(runner, started, steps)
                    controller.start(stop=self._stop)
                except BaseException:
                    lock.release()
                    raise
        except (AppionError, SinedonError) as error:
            runner.error = str(error)
            log.error("session %s: cannot start: %s; trying again in %.0f s", runner.name,
                      error, RESTART_DELAY_S)
            return
        runner.controller, runner.lock, runner.error = controller, lock, None
        runner.rundir = str(started.run.rundir)
        log.info("session %s: processing %s in %s", runner.name,
                 ",".join(step.name for step in steps), runner.rundir)

    def _steps_without_classic_runs(self, runner: SessionRunner, started: StartedRun
                                    ) -> list[Step]:
        """The chain up to the first step that already has another run in the session
        (a classic run launched from the web), unless the plan reprocesses them."""
        if runner.plan.reprocess_classic:
            return list(started.steps)
        for index, step in enumerate(started.steps):
            if not isinstance(step, ReportingStep):
                continue
            others = [name for name in step.classic_runs(runner.sighting.session_id)
                      if name != started.run.runname]
            if others:
                reason = (f"{step.name} already has run(s) {', '.join(sorted(others))} in "
                          "this session; set reprocess_classic = true to process it too")
                if index == 0:
                    runner.skipped, runner.error = True, f"not processed: {reason}"
                    log.info("session %s: %s", runner.name, runner.error)
                else:
                    log.info("session %s: stopping the chain before %s", runner.name, reason)
                return list(started.steps[:index])
        return list(started.steps)

    def _controller(self, runner: SessionRunner, started: StartedRun,
                    steps: Sequence[Step]) -> Controller:
        tracker = LagTracker([step.name for step in steps], self.clock())
        runner.tracker, runner.records = tracker, ExposureRecords(tracker)
        runner.options = dict(started.options)
        events = Events(
            on_images=lambda ids: self._new_images(runner, ids),
            on_rejected=lambda ids: tracker.drop_exposures(ids),
            on_store=lambda stage, image_id, _: tracker.stored(stage, image_id, self.clock()),
            on_handoff=tracker.handed_on,
            on_give_up=tracker.gave_up,
            on_completion=self.wake.set)
        for index, step in enumerate(steps[:-1]):
            for image_id, outputs in read_handoffs_by_image(started.run.rundir, step.name):
                tracker.handed_on(index, image_id, outputs)
        return Controller(steps, started.run, started.settings, self.client, events=events,
                          cluster_description=self.cluster_description)

    def _new_images(self, runner: SessionRunner, image_ids: list[int]) -> None:
        """Acquisition times of a session's new exposures, for its lag."""
        rows = sinedon.rows_by_ids("AcquisitionImageData", image_ids, fields=["def_timestamp"])
        now = self.clock()
        assert runner.tracker is not None
        runner.tracker.add_exposures({
            image_id: epoch_seconds(rows.get(image_id, {}).get("def_timestamp")) or now
            for image_id in image_ids})

    def _close_runner(self, runner: SessionRunner, *, status: str,
                      error: str | None = None) -> bool:
        """Stop a session's controller (letting its tasks finish), set its job row,
        release its run directory.  Returns ``False`` when results were left unstored."""
        controller, runner.controller = runner.controller, None
        runner.closed = controller or runner.closed
        stored = True
        if controller is not None:
            controller.stop_submitting()
            try:
                with runner.context():
                    stored = controller.close() == 0
                    controller.run.job.finish("E" if error or not stored else status)
            except (AppionError, SinedonError) as close_error:
                log.error("session %s: closing: %s", runner.name, close_error)
                stored = False
        if runner.lock is not None:
            runner.lock.release()
            runner.lock = None
        runner.error = error
        runner.retry_at = time.monotonic() + RESTART_DELAY_S
        return stored

    def _stop_all(self) -> int:
        """Stop submitting everywhere, let every session's tasks finish together, then
        close every run."""
        active = [runner for runner in self.runners.values() if runner.controller]
        log.info("stopping: letting the running tasks of %d session(s) finish", len(active))
        controllers = [runner.controller for runner in active if runner.controller]
        for controller in controllers:
            controller.stop_submitting()
        deadline = time.monotonic() + max(
            (controller.settings.stop_timeout_s for controller in controllers), default=0.0)
        while time.monotonic() < deadline and any(c.inflight for c in controllers):
            for runner in active:
                self._guarded(runner, lambda r, c: c.collect(0.0))
            self.wake.wait(IDLE_WAIT_S)
            self.wake.clear()
        stored = [self._close_runner(runner, status="D") for runner in active]
        self._publish()
        self._save_state()
        return 0 if all(stored) else 1

    # -------------------------------------------------------------- control

    def _runner_named(self, name: str) -> SessionRunner | None:
        return next((r for r in self.runners.values() if r.name == name), None)

    def _control(self, name: str, action: str) -> str:
        runner = self._runner_named(name)
        if runner is None:
            raise KeyError(name)
        if action == "pause":
            runner.paused = True
            message = f"session {name} paused: no new tasks (running ones finish)"
        elif action == "resume":
            runner.paused = False
            message = f"session {name} resumed"
        else:
            message = self._retry(runner)
        log.info("%s", message)
        self._publish()
        self._save_state()
        return message

    def _retry(self, runner: SessionRunner) -> str:
        if runner.controller is None:
            runner.skipped, runner.finished, runner.retry_at = False, False, 0.0
            return f"session {runner.name} will be started again"
        with runner.context():
            count = runner.controller.retry_failed()
        return f"session {runner.name}: {count} failed exposure(s) queued again"

    # ------------------------------------------------------------ exposures

    def exposures(self, session: str, page: int, per_page: int, sort: str = "acquired_at",
                  descending: bool = True, status: str | None = None
                  ) -> dict[str, Any] | None:
        """A page of a session's exposures, sorted by acquisition (newest first) or by a
        value, maybe only those with a step in ``status``; each with its values, each
        step's state and stored results (any thread); ``None`` for an unknown session."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        return self.call(lambda: self._exposure_page(session, page, per_page, sort,
                                                     descending, status))

    def exposure(self, session: str, image_id: int) -> dict[str, Any] | None:
        """Everything about one exposure (any thread); ``None`` when unknown."""
        return self.call(lambda: self._exposure(session, image_id))

    def series(self, session: str) -> dict[str, Any] | None:
        """Every exposure's values in acquisition order, for plots (any thread)."""
        return self.call(lambda: self._with_view(session, lambda view: view.records.series()))

    def history(self, session: str, hours: float = 6.0, bucket_s: float = 600.0
                ) -> dict[str, Any] | None:
        """Exposures collected and processed per ``bucket_s`` over the last ``hours``."""
        def build(view: _View) -> dict[str, Any]:
            last = len(view.controller.stages) - 1
            return view.records.history(self.clock(), hours, bucket_s,
                                        view.records.tracker.done_times(last))
        return self.call(lambda: self._with_view(session, build))

    def image_path(self, session: str, image_id: int, kind: str) -> str | None:
        """The worker-made image ``kind`` (thumbnail, preview, spectrum) of an exposure."""
        if kind not in IMAGE_KEYS:
            return None
        def find(view: _View) -> str | None:
            for index, stage in enumerate(view.controller.stages):
                ids = view.records.tracker.stage_ids_of(index, image_id)
                for summary in summaries_of(stage.step, view.controller.run, ids).values():
                    if summary.get(IMAGE_KEYS[kind]):
                        return str(summary[IMAGE_KEYS[kind]])
            return None
        return self.call(lambda: self._with_view(session, find))

    def facility(self) -> dict[str, Any]:
        """The service as a whole: workers, cluster, thresholds, active alerts."""
        status = self.status()
        return {"now": iso_utc(status.now), "started_at": iso_utc(status.started_at),
                "workers": status.workers, "cluster": self.cluster_description,
                "thresholds": thresholds(self.config.alert_rules),
                "alerts": self.alerts.as_json() if self.alerts is not None else []}

    def _view(self, name: str) -> _View | None:
        runner = self._runner_named(name)
        controller = runner.controller or runner.closed if runner else None
        if runner is None or controller is None or runner.records is None:
            return None
        return _View(runner, controller, runner.records)

    def _with_view(self, name: str, build: Callable[[_View], Any]) -> Any:
        view = self._view(name)
        if view is None:
            return None
        with view.runner.context():
            self._refresh_before_read(view)
            return build(view)

    def _refresh_before_read(self, view: _View) -> None:
        """A read shows every result stored so far, not those of the last refresh."""
        if view.runner.controller is not None:
            self._refresh_records(view.runner, view.runner.controller)

    def _exposure_page(self, name: str, page: int, per_page: int, sort: str,
                       descending: bool, status: str | None) -> dict[str, Any] | None:
        view = self._view(name)
        if view is None:
            return None if self._runner_named(name) is None else _empty_page(
                name, page, per_page)
        with view.runner.context():
            self._refresh_before_read(view)
        states = view.states()
        ordered = view.records.ordered(sort, descending)
        if status is not None:
            ordered = [i for i in ordered if status in states(i).values()]
        chosen = ordered[(page - 1) * per_page: page * per_page]
        with view.runner.context():
            described = view.describe(chosen, states, details=False)
        return {"session": name, "page": page, "per_page": per_page, "total": len(ordered),
                "sort": sort, "descending": descending, "exposures": described}

    def _exposure(self, name: str, image_id: int) -> dict[str, Any] | None:
        view = self._view(name)
        if view is None or image_id not in view.records.tracker.acquired:
            return None
        with view.runner.context():
            described = view.describe([image_id], view.states(), details=True)[0]
        previous, following = view.records.neighbours(image_id)
        controller = view.controller
        described.update(
            session=name, previous=previous, next=following,
            run={"runname": controller.run.runname, "rundir": str(controller.rundir),
                 "steps": [stage.step.name for stage in controller.stages],
                 "options": view.runner.options})
        return described

    def _refresh_records(self, runner: SessionRunner, controller: Controller) -> None:
        """Values of what was stored since the last refresh; the quality window."""
        records = runner.records
        if records is None:
            return
        done = [controller.image_ids(index)[0] for index in range(len(controller.stages))]
        records.refresh([stage.step for stage in controller.stages], controller.run, done)
        last = len(controller.stages) - 1
        runner.quality = records.quality(lambda exposure: bool(
            (ids := records.tracker.stage_ids_of(last, exposure))
            and all(i in done[last] for i in ids)))

    # ------------------------------------------------------------- snapshot

    def _publish(self) -> None:
        now = self.clock()
        sessions = tuple(self._session_status(runner, now) for runner in self.runners.values())
        status = FacilityStatus(sessions=sessions, workers=self._workers(), now=now,
                                started_at=self.started_at, disks=self._disks())
        with self._status_lock:
            self._status = status

    def _session_status(self, runner: SessionRunner, now: float) -> SessionStatus:
        controller, tracker = runner.controller, runner.tracker
        steps: tuple[StepStatus, ...] = ()
        if controller is not None and tracker is not None:
            ids = [StageIds(*controller.image_ids(i)) for i in range(len(controller.stages))]
            steps = tuple(StepStatus(step=stage.step.name,
                                     **vars(tracker.step_lag(ids, index, now)))
                          for index, stage in enumerate(controller.stages))
        sighting = runner.sighting
        quality = runner.quality
        return SessionStatus(
            name=sighting.session, session_id=sighting.session_id,
            microscope=sighting.microscope, camera=sighting.camera, preset=runner.plan.preset,
            project=int(sighting.project or 0), active=controller is not None,
            paused=runner.paused, collected=len(tracker.acquired) if tracker else 0,
            collected_per_hour=tracker.collected_per_hour(now) if tracker else 0.0,
            last_exposure_at=(tracker.newest_acquired() if tracker else None)
            or sighting.newest_at or None,
            rundir=runner.rundir, steps=steps, quality=quality, error=runner.error)

    def _workers(self) -> int:
        try:
            return len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # a scheduler that is going away: no workers
            return 0

    def _disks(self) -> tuple[DiskUsage, ...]:
        seen: dict[int, DiskUsage] = {}
        for runner in self.runners.values():
            if not runner.rundir or runner.controller is None:
                continue
            path = Path(runner.rundir)
            try:
                device = path.stat().st_dev
                usage = shutil.disk_usage(path)
            except OSError:
                continue
            seen.setdefault(device, DiskUsage(str(path.parent), usage.total, usage.free))
        return tuple(seen.values())

    # ---------------------------------------------------------------- state

    def _load_state(self) -> None:
        import json
        path = self.state_dir / STATE_NAME
        try:
            self._saved_state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            raise AppionError(f"cannot read {path}: {error}; move it away to start afresh "
                              "(sessions are then found again from the lookback)") from None
        for saved in self._saved_state.get("sessions", []):
            sighting = Sighting(**{**saved["sighting"], "image_ids": ()})
            plan = self.config.plan(sighting, default_preset=self.default_preset)
            if plan is None:
                continue
            runner = SessionRunner(sighting, plan, paused=bool(saved.get("paused")),
                                   finished=bool(saved.get("finished")))
            self.runners[sighting.session_id] = runner
        log.info("resuming: %d session(s) from %s", len(self.runners), path)

    def _save_state(self) -> None:
        sessions = [{"sighting": {k: v for k, v in vars(r.sighting).items()
                                  if k != "image_ids"},
                     "paused": r.paused, "finished": r.finished}
                    for r in self.runners.values() if not r.skipped]
        mark = self.discovery.mark if self.discovery else (self._saved_state or {}).get("mark")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomically(self.state_dir / STATE_NAME,
                                  {"mark": mark, "sessions": sessions})
        except OSError as error:
            log.warning("cannot write %s: %s", self.state_dir / STATE_NAME, error)


def _submitter(now: float, share: int) -> Callable[[SessionRunner, Controller], None]:
    def submit(runner: SessionRunner, controller: Controller) -> None:
        controller.submit(now, share)
    return submit


class _View:
    """A session's controller (running or closed) and records, for reads."""

    def __init__(self, runner: SessionRunner, controller: Controller,
                 records: ExposureRecords):
        self.runner, self.controller, self.records = runner, controller, records

    def states(self) -> Callable[[int], dict[str, str]]:
        """``exposure -> {step: state}`` over the controller's ids of this moment."""
        tracker = self.records.tracker
        stages = [(stage.step.name, *self.controller.image_ids(index))
                  for index, stage in enumerate(self.controller.stages)]

        def of(exposure: int) -> dict[str, str]:
            found = {}
            for index, (name, done, failed, running, _) in enumerate(stages):
                found[name] = step_state(tracker.stage_ids_of(index, exposure), done,
                                         failed, running)
            return found
        return of

    def describe(self, exposures: list[int], states: Callable[[int], dict[str, str]], *,
                 details: bool) -> list[dict[str, Any]]:
        """Each exposure with its values, images, and each step's state, error, stored
        results (and details)."""
        controller, tracker = self.controller, self.records.tracker
        rows = sinedon.rows_by_ids("AcquisitionImageData", exposures, fields=["filename"])
        failures = {(f.step, f.image_id): f.error for f in read_failures(controller.rundir)}
        described = []
        results: list[dict[int, dict[str, Any]]] = []
        for index, stage in enumerate(controller.stages):
            ids = [i for exposure in exposures for i in tracker.stage_ids_of(index, exposure)]
            results.append(summaries_of(stage.step, controller.run, ids))
        for exposure in exposures:
            state = states(exposure)
            steps: dict[str, Any] = {}
            for index, stage in enumerate(controller.stages):
                ids = tracker.stage_ids_of(index, exposure)
                name = stage.step.name
                entry: dict[str, Any] = {
                    "status": state[name],
                    "error": next((failures[(name, i)] for i in ids if (name, i) in failures),
                                  None) if state[name] == "failed" else None,
                    "results": {k: v for i in ids for k, v in results[index].get(i, {}).items()}}
                if details:
                    entry["details"] = {k: v for i in ids for k, v in
                                        step_details(stage.step, controller.run, i).items()}
                steps[name] = entry
            described.append({
                "image_id": exposure, "filename": rows.get(exposure, {}).get("filename"),
                "acquired_at": iso_utc(tracker.acquired.get(exposure)),
                "values": dict(self.records.values.get(exposure, {})),
                "images": self.records.image_flags(exposure), "steps": steps})
        return described


def step_state(ids: list[int], done: set[int], failed: set[int], running: set[int]) -> str:
    """One exposure at one step, from the ids the step takes for it."""
    if ids and all(i in done for i in ids):
        return "done"
    if any(i in failed for i in ids):
        return "failed"
    if any(i in running for i in ids):
        return "running"
    return "pending"


def thresholds(rules: Sequence[Any]) -> dict[str, float | None]:
    """The alert rules' thresholds the dashboard draws (the first rule of each kind)."""
    found: dict[str, float | None] = {"lag_minutes": None, "stall_minutes": None,
                                      "ctf_resolution_a": None, "drift_a": None}
    for rule in rules:
        if rule.kind == "lag" and found["lag_minutes"] is None:
            found["lag_minutes"] = rule.minutes
        elif rule.kind == "no_new_exposure" and found["stall_minutes"] is None:
            found["stall_minutes"] = rule.minutes
        elif rule.kind == "quality":
            if found["ctf_resolution_a"] is None:
                found["ctf_resolution_a"] = rule.ctf_resolution_worse_than
            if found["drift_a"] is None:
                found["drift_a"] = rule.drift_above
    return found


def _empty_page(name: str, page: int, per_page: int) -> dict[str, Any]:
    return {"session": name, "page": page, "per_page": per_page, "total": 0,
            "exposures": []}
