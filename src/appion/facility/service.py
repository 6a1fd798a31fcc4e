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
from appion.base.step import ReportingStep, RunContext, Step
from appion.facility.config import FacilityConfig, SessionPlan
from appion.facility.discovery import SessionDiscovery, Sighting, epoch_seconds, start_mark
from appion.facility.lag import LagTracker, StageIds, share_slots
from appion.facility.model import (
    QUALITY_WINDOW,
    DiskUsage,
    ExposureQuality,
    FacilityStatus,
    SessionStatus,
    StepStatus,
    iso_utc,
)
from sinedon.errors import SinedonError

log = logging.getLogger("appion.facility")

STATE_NAME = "serve-state.json"
#: How often the snapshot is rebuilt (seconds).
SNAPSHOT_EVERY_S = 1.0
#: How often the quality values of new exposures are read (seconds).
QUALITY_EVERY_S = 10.0
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
    lock: RunLock | None = None
    tracker: LagTracker | None = None
    quality: dict[int, ExposureQuality] = field(default_factory=dict)
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
        self._next_quality = 0.0
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

    def exposures(self, session: str, page: int, per_page: int) -> dict[str, Any] | None:
        """A page of a session's exposures, newest first, with each step's state and
        stored results (any thread); ``None`` for an unknown session."""
        return self.call(lambda: self._exposure_page(session, page, per_page))

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
        if now >= self._next_quality:
            self._next_quality = now + QUALITY_EVERY_S
            for runner in active:
                self._guarded(runner, self._read_quality)
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
        runner.tracker = tracker
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

    def _exposure_page(self, name: str, page: int, per_page: int) -> dict[str, Any] | None:
        runner = self._runner_named(name)
        if runner is None:
            return None
        tracker = runner.tracker
        newest_first = sorted(tracker.acquired, reverse=True) if tracker else []
        chosen = newest_first[(page - 1) * per_page: page * per_page]
        page_data: dict[str, Any] = {"session": name, "page": page, "per_page": per_page,
                                     "total": len(newest_first), "exposures": []}
        if not chosen or runner.controller is None or tracker is None:
            return page_data
        with runner.context():
            page_data["exposures"] = self._describe_exposures(runner, chosen)
        return page_data

    def _describe_exposures(self, runner: SessionRunner, image_ids: list[int]
                            ) -> list[dict[str, Any]]:
        controller, tracker = runner.controller, runner.tracker
        assert controller is not None and tracker is not None
        rows = sinedon.rows_by_ids("AcquisitionImageData", image_ids, fields=["filename"])
        failures = {(f.step, f.image_id): f.error for f in read_failures(controller.rundir)}
        described: list[dict[str, Any]] = [
            {"image_id": image_id, "filename": rows.get(image_id, {}).get("filename"),
             "acquired_at": iso_utc(tracker.acquired.get(image_id)), "steps": {}}
            for image_id in image_ids]
        for index, stage in enumerate(controller.stages):
            done, failed, running, _ = controller.image_ids(index)
            step_ids = {root: tracker.stage_ids_of(index, root) for root in image_ids}
            summaries = _summaries(stage.step, controller.run,
                                   [i for ids in step_ids.values() for i in ids if i in done])
            for exposure in described:
                ids = step_ids[exposure["image_id"]]
                exposure["steps"][stage.step.name] = _step_state(
                    ids, done, failed, running, summaries,
                    next((failures.get((stage.step.name, i)) for i in ids
                          if (stage.step.name, i) in failures), None))
        return described

    def _read_quality(self, runner: SessionRunner, controller: Controller) -> None:
        """The CTF fit resolution and drift of the newest exposures through every step."""
        tracker = runner.tracker
        if tracker is None:
            return
        newest = sorted(tracker.acquired, reverse=True)[:QUALITY_WINDOW]
        last_done = controller.image_ids(len(controller.stages) - 1)[0]
        wanted = [root for root in newest if root not in runner.quality
                  and any(i in last_done for i in tracker.stage_ids_of(
                      len(controller.stages) - 1, root))]
        if not wanted:
            return
        values: dict[int, dict[str, Any]] = {root: {} for root in wanted}
        for index, stage in enumerate(controller.stages):
            ids = {i: root for root in wanted for i in tracker.stage_ids_of(index, root)}
            for image_id, summary in _summaries(stage.step, controller.run, list(ids)).items():
                values[ids[image_id]].update(summary)
        for root, merged in values.items():
            runner.quality[root] = ExposureQuality(
                image_id=root, acquired_at=tracker.acquired.get(root, 0.0),
                ctf_resolution_a=merged.get("resolution_a"), drift_a=merged.get("drift_total_a"))
        for root in sorted(runner.quality)[:-QUALITY_WINDOW]:
            del runner.quality[root]

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
        quality = tuple(runner.quality[k] for k in sorted(runner.quality))
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


def _summaries(step: Step, run: RunContext, image_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not image_ids or not isinstance(step, ReportingStep):
        return {}
    return step.summaries(run, image_ids)


def _step_state(ids: list[int], done: set[int], failed: set[int], running: set[int],
                summaries: dict[int, dict[str, Any]], error: str | None) -> dict[str, Any]:
    """One exposure at one step: ``done`` (with its results), ``failed`` (with the
    error), ``running`` or ``pending``."""
    if ids and all(i in done for i in ids):
        results: dict[str, Any] = {}
        for image_id in ids:
            results.update(summaries.get(image_id, {}))
        return {"status": "done", "error": None, "results": results}
    if any(i in failed for i in ids):
        return {"status": "failed", "error": error, "results": {}}
    if any(i in running for i in ids):
        return {"status": "running", "error": None, "results": {}}
    return {"status": "pending", "error": None, "results": {}}
