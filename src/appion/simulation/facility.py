"""Several simulated microscopes at once (``appion simulate --scope``).

Each microscope (:class:`ScopeSpec`) writes its own live session in its own thread,
one exposure every ``interval_s`` seconds, starting ``start_delay_s`` seconds after
:func:`run_facility` was called, until it has written ``exposures`` or ``stop`` is
set (an exposure being written is finished first).

Session names are ``<prefix>-<microscope in lower case>``: ``26nov30a-krios1``.
The prefix is the one given (``--session``) or, without one, today's date the way
Leginon writes it (``%y%b%d`` in lower case) followed by the first letter ``a``–``z``
for which none of the run's session names exists yet.  Microscope names and the
prefix consist of letters, digits, ``-`` and ``_``; microscope names must differ in
lower case, so that session names are unique.

Database writes: every thread has its own connection (Django's connections are per
thread) and closes it when it ends.  Sessions are created one at a time (they share
the user and camera ``InstrumentData`` rows, which ``sinedon.set`` reads before it
inserts); exposures are written concurrently, each in its own transaction (SQLite
takes its write lock at ``BEGIN`` and waits out the busy timeout).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import math
import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sinedon
from appion.base.errors import AppionError, UsageError
from appion.simulation.cameras import CAMERAS
from appion.simulation.particles import ParticleSettings
from appion.simulation.session import SimulatedSession, add_exposure, start_session

log = logging.getLogger(__name__)

#: A microscope name or a session prefix: letters, digits, ``-`` and ``_``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
SCOPE_SYNTAX = "NAME:CAMERA:INTERVAL[:EXPOSURES[:START_DELAY_S]]"
_JOIN_POLL_S = 0.2


@dataclass(frozen=True)
class ScopeSpec:
    """One simulated microscope: its camera, pace and what its exposures look like."""

    name: str                  # the TEM's InstrumentData name
    camera: str                # a key of cameras.CAMERAS
    interval_s: float          # seconds from one exposure's start to the next
    exposures: int
    start_delay_s: float = 0.0
    preset: str = "enn"
    size: str = "small"
    seed: int = 0
    dose: float = 50.0
    defocus_um: tuple[float, float] = (1.0, 3.0)
    extras: bool = True        # tilted/hidden/trashed/rejected exposures (with >= 6)
    particles: ParticleSettings | None = None


@dataclass(frozen=True)
class FacilityExposure:
    """One exposure written by one microscope (what ``on_exposure`` receives)."""

    microscope: str
    session: str
    number: int                # 1-based
    total: int
    filename: str
    image_id: int


class FacilityError(AppionError):
    """One or more microscopes failed; ``written`` counts what the others wrote."""

    def __init__(self, failures: dict[str, str], written: dict[str, int]):
        super().__init__("; ".join(f"microscope {name} failed: {line}"
                                   for name, line in failures.items()))
        self.failures = failures
        self.written = written


def parse_scope_spec(text: str, default_exposures: int = 4) -> ScopeSpec:
    """``NAME:CAMERA:INTERVAL[:EXPOSURES[:START_DELAY_S]]`` as a :class:`ScopeSpec`.

    An empty or missing EXPOSURES is ``default_exposures``.  Raises a one-line
    :class:`argparse.ArgumentTypeError` for text that does not fit.
    """
    fields = text.split(":")
    if not 3 <= len(fields) <= 5:
        raise argparse.ArgumentTypeError(f"{text!r} is not {SCOPE_SYNTAX}")
    name, camera, interval, *rest = (part.strip() for part in fields)
    exposures = rest[0] if rest and rest[0] else str(default_exposures)
    delay = rest[1] if len(rest) > 1 and rest[1] else "0"
    return ScopeSpec(name=_scope_name(name, text), camera=_camera(camera, text),
                     interval_s=_seconds(interval, "INTERVAL", text, positive=True),
                     exposures=_count(exposures, text),
                     start_delay_s=_seconds(delay, "START_DELAY_S", text, positive=False))


def _scope_name(name: str, text: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"microscope name {name!r} in {text!r} must be letters, digits, - and _")
    return name


def _camera(camera: str, text: str) -> str:
    if camera not in CAMERAS:
        raise argparse.ArgumentTypeError(
            f"unknown camera {camera!r} in {text!r}; choose one of {', '.join(CAMERAS)}")
    return camera


def _seconds(value: str, what: str, text: str, *, positive: bool) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        need = "a positive" if positive else "a non-negative"
        raise argparse.ArgumentTypeError(
            f"{what} in {text!r} must be {need} number of seconds, not {value!r}")
    return seconds


def _count(value: str, text: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(
            f"EXPOSURES in {text!r} must be a whole number, 0 or more, not {value!r}")
    return int(value)


def leginon_date(day: datetime.date) -> str:
    """The date as Leginon starts session names: ``26nov30``."""
    return day.strftime("%y%b%d").lower()


def session_name(prefix: str, microscope: str) -> str:
    """``<prefix>-<microscope in lower case>``."""
    return f"{prefix}-{microscope.lower()}"


def default_prefix(day: datetime.date, microscopes: Iterable[str],
                   exists: Callable[[str], bool]) -> str:
    """``<date><letter>`` with the first letter for which no session name exists yet."""
    names = list(microscopes)
    for letter in string.ascii_lowercase:
        prefix = f"{leginon_date(day)}{letter}"
        if not any(exists(session_name(prefix, name)) for name in names):
            return prefix
    raise UsageError(f"sessions {leginon_date(day)}a to {leginon_date(day)}z exist already; "
                     "give a session prefix with --session")


def session_names(specs: Sequence[ScopeSpec], prefix: str | None,
                  exists: Callable[[str], bool],
                  today: datetime.date | None = None) -> dict[str, str]:
    """Microscope name -> its session's name; a usage error for names that clash."""
    _check_names(specs, prefix)
    if prefix is None:
        prefix = default_prefix(today or datetime.date.today(), (s.name for s in specs),
                                exists)
    names = {spec.name: session_name(prefix, spec.name) for spec in specs}
    for name in names.values():
        if exists(name):
            raise UsageError(f"session {name!r} already exists in the Leginon database; "
                             "choose another --session prefix")
    return names


def _check_names(specs: Sequence[ScopeSpec], prefix: str | None) -> None:
    if not specs:
        raise UsageError("no microscope to simulate; give at least one --scope "
                         f"{SCOPE_SYNTAX}")
    if prefix is not None and not NAME_PATTERN.fullmatch(prefix):
        raise UsageError(f"session prefix {prefix!r} must be letters, digits, - and _")
    seen: set[str] = set()
    for spec in specs:
        if spec.name.lower() in seen:
            raise UsageError(f"microscope name {spec.name!r} is given twice (names are "
                             "compared in lower case); give each --scope its own name")
        seen.add(spec.name.lower())


def _session_exists(name: str) -> bool:
    return sinedon.get("SessionData", {"name": name}) is not None


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    if isinstance(error, AppionError) and lines:
        return lines[0]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


@dataclass
class _Shared:
    """What every microscope thread of one run shares."""

    root: Path
    projectid: int | None
    stop: threading.Event
    started: float
    on_exposure: Callable[[FacilityExposure], None] | None
    on_session: Callable[[ScopeSpec, SimulatedSession], None] | None
    setup_lock: threading.Lock = field(default_factory=threading.Lock)
    report_lock: threading.Lock = field(default_factory=threading.Lock)


class _Microscope(threading.Thread):
    """One microscope: waits for its start, makes its session, writes its exposures."""

    def __init__(self, spec: ScopeSpec, session_name: str, shared: _Shared):
        super().__init__(name=f"microscope-{spec.name}", daemon=True)
        self.spec, self.session_name, self.shared = spec, session_name, shared
        self.written = 0
        self.started_session = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._collect()
        except BaseException as error:  # reported by run_facility
            self.error = error
            log.error("microscope %s failed: %s", self.spec.name, _one_line(error))
            log.debug("microscope %s failed", self.spec.name, exc_info=True)
        finally:
            sinedon.close_all()  # this thread's connections

    def _collect(self) -> None:
        shared, spec = self.shared, self.spec
        delay = shared.started + spec.start_delay_s - time.monotonic()
        if shared.stop.wait(max(0.0, delay)):
            return
        session = self._start()
        for index in range(spec.exposures):
            if shared.stop.is_set():
                return
            began = time.monotonic()
            exposure = add_exposure(session, index)
            self.written += 1
            self._report(FacilityExposure(spec.name, session.name, index + 1, spec.exposures,
                                          exposure.filename, exposure.image_id))
            if index + 1 < spec.exposures:
                shared.stop.wait(max(0.0, spec.interval_s - (time.monotonic() - began)))

    def _start(self) -> SimulatedSession:
        spec, shared = self.spec, self.shared
        with shared.setup_lock:
            session = start_session(
                shared.root, self.session_name, spec.camera, size=spec.size, seed=spec.seed,
                preset=spec.preset, dose=spec.dose, defocus_um=spec.defocus_um,
                projectid=shared.projectid, extras=spec.extras and spec.exposures >= 6,
                particles=spec.particles, microscope=spec.name)
        self.started_session = True
        if shared.on_session is not None:
            with shared.report_lock:
                shared.on_session(spec, session)
        return session

    def _report(self, exposure: FacilityExposure) -> None:
        if self.shared.on_exposure is not None:
            with self.shared.report_lock:
                self.shared.on_exposure(exposure)


def run_facility(root: Path, specs: Sequence[ScopeSpec], *, session_prefix: str | None = None,
                 stop: threading.Event,
                 on_exposure: Callable[[FacilityExposure], None] | None = None,
                 on_session: Callable[[ScopeSpec, SimulatedSession], None] | None = None,
                 projectid: int | None = 1) -> dict[str, int]:
    """Run every microscope in its own thread until each is done or ``stop`` is set.

    sinedon must be set up for ``projectid`` with the tables created.  Returns
    session name -> exposures written, for each session that was created (a
    microscope stopped before its start delay has none).  Callbacks are called one
    at a time, from the microscopes' threads.  Raises :class:`FacilityError` (one
    line) when a microscope failed, after the others have finished.
    """
    names = session_names(specs, session_prefix, _session_exists)
    shared = _Shared(Path(root), projectid, stop, time.monotonic(), on_exposure, on_session)
    threads = [_Microscope(spec, names[spec.name], shared) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(_JOIN_POLL_S)
    written = {thread.session_name: thread.written for thread in threads
               if thread.started_session}
    failures = {thread.spec.name: _one_line(thread.error) for thread in threads
                if thread.error is not None}
    if failures:
        raise FacilityError(failures, written)
    return written
