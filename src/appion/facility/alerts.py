"""Alert rules over the service's snapshots, and the manager that notifies people.

:func:`firing_alerts` is pure: rules and one :class:`FacilityStatus` in, the alerts
that hold now out.  :class:`AlertManager` remembers what it has told whom: a new
alert is sent, a lasting one repeated with a doubling back-off, a gone one resolved,
a silenced one kept quiet.  Sending goes through the notifiers of :mod:`.notify`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any

from appion.base.errors import UsageError
from appion.facility.model import QUALITY_WINDOW, DiskUsage, FacilityStatus, SessionStatus, iso_utc
from appion.facility.notify import Notice, Notifier, NotifyError

log = logging.getLogger(__name__)

#: (rule name, subject): the subject is a session name, or a disk path.
AlertKey = tuple[str, str]

#: The keys each kind accepts besides the common ones (True: required).
KIND_KEYS: dict[str, dict[str, bool]] = {
    "no_new_exposure": {"minutes": True},
    "lag": {"minutes": True, "step": False},
    "quality": {"window": False, "fraction": False, "ctf_resolution_worse_than": False,
                "drift_above": False},
    "failures": {"count": True},
    "disk": {"free_percent_below": True},
}
COMMON_KEYS = ("kind", "name", "sessions", "microscopes", "for_minutes")

#: How often one notice is tried on a failing notifier, and how many may wait.
MAX_SEND_ATTEMPTS = 5
MAX_OUTBOX = 200


# --- rules -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertRule:
    """One ``[[alert]]`` table; only the thresholds of its kind are set."""

    name: str
    kind: str
    minutes: float | None = None                    # no_new_exposure, lag
    step: str | None = None                         # lag: one step, None: any
    window: int = 25                                # quality
    fraction: float = 0.75                          # quality
    ctf_resolution_worse_than: float | None = None  # quality, Å
    drift_above: float | None = None                # quality, Å
    count: int | None = None                        # failures
    free_percent_below: float | None = None         # disk
    sessions: tuple[str, ...] = ()                  # globs; empty: every session
    microscopes: tuple[str, ...] = ()
    for_seconds: float = 0.0                        # must hold this long before a notice

    @property
    def thresholds(self) -> dict[str, float | int | str]:
        """The kind's thresholds, for display."""
        names = KIND_KEYS[self.kind]
        values = {name: getattr(self, name) for name in names}
        return {name: value for name, value in values.items() if value is not None}

    def applies_to(self, session: SessionStatus) -> bool:
        """Whether the session and microscope globs admit this session."""
        return (_matches(session.name, self.sessions)
                and _matches(session.microscope, self.microscopes))


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatchcase(value, pattern) for pattern in patterns)


def parse_alert_rules(tables: Sequence[Mapping[str, Any]]) -> tuple[AlertRule, ...]:
    """The ``[[alert]]`` tables of facility.toml, checked; names must be unique."""
    if not isinstance(tables, Sequence) or isinstance(tables, str):
        raise UsageError("facility.toml [[alert]]: must be an array of tables; "
                         "write each rule as an [[alert]] table")
    rules = tuple(parse_alert_rule(table, number) for number, table in enumerate(tables, 1))
    seen: set[str] = set()
    for number, rule in enumerate(rules, 1):
        if rule.name in seen:
            raise UsageError(f"facility.toml [[alert]] #{number} ({rule.name}): the name is "
                             "used by another rule; give each rule its own name = \"...\"")
        seen.add(rule.name)
    return rules


def parse_alert_rule(table: Mapping[str, Any], number: int) -> AlertRule:
    """One ``[[alert]]`` table (``number`` counts from 1, for messages)."""
    if not isinstance(table, Mapping):
        raise UsageError(f"facility.toml [[alert]] #{number}: must be a table; "
                         "write it as [[alert]] with kind = \"...\"")
    kind = table.get("kind")
    label = table.get("name") if isinstance(table.get("name"), str) else kind
    where = f"[[alert]] #{number}" + (f" ({label})" if isinstance(label, str) else "")
    if not isinstance(kind, str) or kind not in KIND_KEYS:
        raise _error(where, f"kind must be one of {', '.join(KIND_KEYS)}, not {kind!r}",
                     "set kind = \"lag\" for example")
    _check_keys(table, kind, where)
    common: dict[str, Any] = {
        "name": _text(table, "name", where, kind),
        "sessions": _globs(table, "sessions", where),
        "microscopes": _globs(table, "microscopes", where),
        "for_seconds": 60.0 * _number(table, "for_minutes", where, 0.0, zero=True)}
    if kind == "disk" and (common["sessions"] or common["microscopes"]):
        raise _error(where, "sessions and microscopes do not apply to kind disk",
                     "remove them")
    return AlertRule(kind=kind, **common, **_kind_values(table, kind, where))


def _kind_values(table: Mapping[str, Any], kind: str, where: str) -> dict[str, Any]:
    """The thresholds of one kind, checked."""
    if kind in ("no_new_exposure", "lag"):
        values: dict[str, Any] = {"minutes": _number(table, "minutes", where)}
        if kind == "lag":
            values["step"] = _text(table, "step", where, None)
        return values
    if kind == "failures":
        return {"count": _integer(table, "count", where, None)}
    if kind == "disk":
        percent = _number(table, "free_percent_below", where)
        if percent > 100:
            raise _error(where, "free_percent_below must be at most 100", "use e.g. 5")
        return {"free_percent_below": percent}
    return _quality_values(table, where)


def _quality_values(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    window = _integer(table, "window", where, 25)
    if window > QUALITY_WINDOW:
        raise _error(where, f"window must be at most {QUALITY_WINDOW}",
                     "the service keeps that many recent exposures")
    fraction = _number(table, "fraction", where, 0.75)
    if fraction > 1:
        raise _error(where, "fraction must be at most 1", "use e.g. 0.75 for 75 %")
    resolution = _number(table, "ctf_resolution_worse_than", where, None)
    drift = _number(table, "drift_above", where, None)
    if resolution is None and drift is None:
        raise _error(where, "needs ctf_resolution_worse_than or drift_above (Å)",
                     "add at least one of them")
    return {"window": window, "fraction": fraction,
            "ctf_resolution_worse_than": resolution, "drift_above": drift}


def _error(where: str, what: str, todo: str) -> UsageError:
    return UsageError(f"facility.toml {where}: {what}; {todo}")


def _check_keys(table: Mapping[str, Any], kind: str, where: str) -> None:
    allowed = (*COMMON_KEYS, *KIND_KEYS[kind])
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _error(where, f"unknown key {unknown[0]!r} for kind {kind}",
                     f"known keys: {', '.join(allowed)}")
    missing = [key for key, required in KIND_KEYS[kind].items()
               if required and key not in table]
    if missing:
        raise _error(where, f"kind {kind} needs {missing[0]}", f"add {missing[0]} = ...")


def _number(table: Mapping[str, Any], key: str, where: str, default: Any = ...,
            zero: bool = False) -> Any:
    """A positive number (or >= 0 with ``zero``); ``default`` when absent."""
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            value < 0 if zero else value <= 0):
        bound = "a number >= 0" if zero else "a positive number"
        raise _error(where, f"{key} must be {bound}, not {value!r}", f"write {key} = 10")
    return float(value)


def _integer(table: Mapping[str, Any], key: str, where: str, default: int | None) -> Any:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _error(where, f"{key} must be a positive whole number, not {value!r}",
                     f"write {key} = 10")
    return value


def _text(table: Mapping[str, Any], key: str, where: str, default: str | None) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise _error(where, f"{key} must be a non-empty string", f'write {key} = "..."')
    return value


def _globs(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _error(where, f"{key} must be a list of name patterns",
                     f'write {key} = ["24nov*"]')
    return tuple(value)


# --- evaluation ------------------------------------------------------------------------

@dataclass(frozen=True)
class Alert:
    """One rule holding for one subject, at one snapshot."""

    rule: str
    kind: str
    subject: str
    summary: str
    values: Mapping[str, Any]
    severity: str = "warning"

    @property
    def key(self) -> AlertKey:
        return (self.rule, self.subject)


def firing_alerts(rules: Iterable[AlertRule], status: FacilityStatus) -> dict[AlertKey, Alert]:
    """Every alert that holds in ``status``, by (rule name, subject)."""
    found: list[Alert | None] = []
    for rule in rules:
        if rule.kind == "disk":
            found += [check_disk(rule, disk) for disk in status.disks]
        else:
            check = SESSION_CHECKS[rule.kind]
            found += [check(rule, session, status.now)
                      for session in status.sessions if rule.applies_to(session)]
    return {alert.key: alert for alert in found if alert is not None}


def check_no_new_exposure(rule: AlertRule, session: SessionStatus, now: float) -> Alert | None:
    """An active, running session whose newest exposure is too old."""
    if not session.active or session.paused or session.last_exposure_at is None:
        return None
    idle = now - session.last_exposure_at
    if idle <= _minutes(rule.minutes):
        return None
    summary = (f"{_who(session)}: no new exposure for {_duration(idle)} "
               f"(rule: {rule.name}, > {rule.minutes:g} min)")
    values = {**_session_values(session), "last_exposure_at": iso_utc(session.last_exposure_at),
              "minutes_since": round(idle / 60, 1), "threshold_minutes": rule.minutes}
    return _alert(rule, session.name, summary, values)


def check_lag(rule: AlertRule, session: SessionStatus, now: float) -> Alert | None:
    """An active, running session with a step (or the given one) too far behind."""
    if not session.active or session.paused:
        return None
    steps = [s for s in session.steps if rule.step is None or s.step == rule.step]
    late = [s for s in steps if s.lag_seconds > _minutes(rule.minutes)]
    if not late:
        return None
    worst = max(late, key=lambda s: s.lag_seconds)
    summary = (f"{_who(session)}: {worst.step} is {_duration(worst.lag_seconds)} behind "
               f"({worst.lag_exposures} exposures) (rule: {rule.name}, > {rule.minutes:g} min)")
    values = {**_session_values(session), "step": worst.step,
              "lag_minutes": round(worst.lag_seconds / 60, 1),
              "lag_exposures": worst.lag_exposures, "threshold_minutes": rule.minutes}
    return _alert(rule, session.name, summary, values)


def check_quality(rule: AlertRule, session: SessionStatus, now: float) -> Alert | None:
    """At least ``fraction`` of the last ``window`` judged exposures are bad."""
    if not session.active:
        return None
    resolution, drift = rule.ctf_resolution_worse_than, rule.drift_above
    known = [q for q in session.quality
             if (resolution is None or q.ctf_resolution_a is not None)
             and (drift is None or q.drift_a is not None)][-rule.window:]
    if len(known) < rule.window:
        return None
    bad = sum(1 for q in known
              if (resolution is not None and (q.ctf_resolution_a or 0.0) > resolution)
              or (drift is not None and (q.drift_a or 0.0) > drift))
    if bad < rule.fraction * rule.window:
        return None
    summary = (f"{_who(session)}: {bad} of the last {rule.window} exposures "
               f"{_quality_criteria(rule)} (rule: {rule.name}, ≥ {rule.fraction * 100:g} %)")
    values = {**_session_values(session), "window": rule.window, "bad": bad,
              "fraction_bad": round(bad / rule.window, 3), "threshold_fraction": rule.fraction}
    if resolution is not None:
        values["ctf_resolution_worse_than"] = resolution
    if drift is not None:
        values["drift_above"] = drift
    return _alert(rule, session.name, summary, values)


def _quality_criteria(rule: AlertRule) -> str:
    parts = []
    if rule.ctf_resolution_worse_than is not None:
        parts.append(f"CTF fit worse than {rule.ctf_resolution_worse_than:g} Å")
    if rule.drift_above is not None:
        parts.append(f"drift above {rule.drift_above:g} Å")
    return "have " + " or ".join(parts)


def check_failures(rule: AlertRule, session: SessionStatus, now: float) -> Alert | None:
    """An active session whose steps have given up on at least ``count`` exposures."""
    failed = {s.step: s.failed for s in session.steps if s.failed}
    total = sum(failed.values())
    if not session.active or total < (rule.count or 0):
        return None
    detail = ", ".join(f"{step} {count}" for step, count in failed.items())
    summary = (f"{_who(session)}: {total} exposures failed ({detail}) "
               f"(rule: {rule.name}, ≥ {rule.count})")
    values = {**_session_values(session), "failed": total, "failed_by_step": failed,
              "threshold_count": rule.count}
    return _alert(rule, session.name, summary, values)


def check_disk(rule: AlertRule, disk: DiskUsage) -> Alert | None:
    """A run-directory filesystem with less free space than the rule allows."""
    percent = disk.free_fraction * 100
    if percent >= (rule.free_percent_below or 0.0):
        return None
    summary = (f"{disk.path}: {percent:.1f} % free ({_size(disk.free_bytes)} of "
               f"{_size(disk.total_bytes)}) (rule: {rule.name}, < {rule.free_percent_below:g} %)")
    values = {"path": disk.path, "free_percent": round(percent, 2),
              "free_bytes": disk.free_bytes, "total_bytes": disk.total_bytes,
              "threshold_percent": rule.free_percent_below}
    return _alert(rule, disk.path, summary, values)


SESSION_CHECKS: dict[str, Callable[[AlertRule, SessionStatus, float], Alert | None]] = {
    "no_new_exposure": check_no_new_exposure,
    "lag": check_lag,
    "quality": check_quality,
    "failures": check_failures,
}


def _alert(rule: AlertRule, subject: str, summary: str, values: dict[str, Any]) -> Alert:
    return Alert(rule=rule.name, kind=rule.kind, subject=subject, summary=summary,
                 values=values)


def _session_values(session: SessionStatus) -> dict[str, Any]:
    return {"session": session.name, "microscope": session.microscope}


def _who(session: SessionStatus) -> str:
    return f"{session.name} on {session.microscope}" if session.microscope else session.name


def _minutes(minutes: float | None) -> float:
    return 60.0 * (minutes or 0.0)


def _duration(seconds: float) -> str:
    """``"12 min"`` below two hours, ``"3.5 h"`` above."""
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def _size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"  # pragma: no cover - the loop returns


# --- settings --------------------------------------------------------------------------

@dataclass(frozen=True)
class Silence:
    """No notices for matching alerts until ``until`` (epoch seconds)."""

    until: float
    rule: str | None = None        # glob on the rule name; None: any
    session: str | None = None     # glob on the subject (session name or disk path)

    def matches(self, key: AlertKey, now: float) -> bool:
        return (now < self.until
                and (self.rule is None or fnmatchcase(key[0], self.rule))
                and (self.session is None or fnmatchcase(key[1], self.session)))


@dataclass(frozen=True)
class AlertSettings:
    """The ``[alerts]`` table: back-off between repeats and silences."""

    repeat_minutes: float = 30.0
    max_repeat_minutes: float = 240.0
    silences: tuple[Silence, ...] = ()

    def repeat_after(self, sent: int) -> float:
        """Seconds after the ``sent``-th firing notice before the next one."""
        minutes = self.repeat_minutes * 2 ** max(sent - 1, 0)
        return 60.0 * min(minutes, self.max_repeat_minutes)


def parse_alert_settings(table: Mapping[str, Any]) -> AlertSettings:
    """The ``[alerts]`` table: ``repeat_minutes``, ``max_repeat_minutes``, ``silence``."""
    if not isinstance(table, Mapping):
        raise _error("[alerts]", "must be a table", "write [alerts] with repeat_minutes = 30")
    unknown = sorted(set(table) - {"repeat_minutes", "max_repeat_minutes", "silence"})
    if unknown:
        raise _error("[alerts]", f"unknown key {unknown[0]!r}",
                     "known keys: repeat_minutes, max_repeat_minutes, silence")
    repeat = _number(table, "repeat_minutes", "[alerts]", 30.0)
    longest = _number(table, "max_repeat_minutes", "[alerts]", max(240.0, repeat))
    if longest < repeat:
        raise _error("[alerts]", "max_repeat_minutes is below repeat_minutes",
                     "make it at least repeat_minutes")
    entries = table.get("silence", [])
    if not isinstance(entries, list):
        raise _error("[alerts]", "silence must be a list of tables",
                     'write silence = [{ rule = "lag", until = "2024-12-01T08:00" }]')
    silences = tuple(parse_silence(entry, number) for number, entry in enumerate(entries, 1))
    return AlertSettings(repeat, longest, silences)


def parse_silence(entry: Any, number: int) -> Silence:
    """One silence: optional ``rule`` and ``session`` globs, and ``until``."""
    where = f"[alerts] silence #{number}"
    if not isinstance(entry, Mapping):
        raise _error(where, "must be a table", 'write { rule = "lag", until = "..." }')
    unknown = sorted(set(entry) - {"rule", "session", "until"})
    if unknown:
        raise _error(where, f"unknown key {unknown[0]!r}", "known keys: rule, session, until")
    if "until" not in entry:
        raise _error(where, "needs until", 'add until = "2024-12-01T08:00" (local) or "...Z"')
    return Silence(until=_moment(entry["until"], where),
                   rule=_text(entry, "rule", where, None),
                   session=_text(entry, "session", where, None))


def _moment(value: Any, where: str) -> float:
    """Epoch seconds of an ISO 8601 text or TOML date/time; naive means local time."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _error(where, f"until {value!r} is not an ISO 8601 time",
                         'write e.g. "2024-12-01T08:00" (local) or "2024-12-01T07:00Z"'
                         ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise _error(where, "until must be a date and time",
                     'write e.g. until = "2024-12-01T08:00"')
    return value.timestamp()


# --- the manager -----------------------------------------------------------------------

@dataclass
class _Track:
    """What the manager knows about one alert that holds."""

    alert: Alert
    since: float                   # clock time it was first seen
    sent: int = 0                  # firing notices queued (first + repeats)
    last_sent: float = 0.0
    delivered: set[int] = field(default_factory=set)  # notifiers that got a firing notice
    silenced: bool = False


@dataclass
class _Outgoing:
    """One notice for one notifier, waiting to be (re)tried."""

    key: AlertKey
    notifier: int
    notice: Notice
    attempts: int = 0


class AlertManager:
    """Turns successive snapshots into notices.  ``evaluate`` runs on one thread (it
    sends synchronously); ``active`` and ``as_json`` may be read from any thread."""

    def __init__(self, rules: Sequence[AlertRule], settings: AlertSettings,
                 notifiers: Sequence[Notifier], clock: Callable[[], float] = time.time):
        self.rules = tuple(rules)
        self.settings = settings
        self.notifiers = tuple(notifiers)
        self._clock = clock
        self._by_name = {rule.name: rule for rule in self.rules}
        self._tracks: dict[AlertKey, _Track] = {}
        self._outbox: list[_Outgoing] = []
        self._lock = threading.Lock()
        self._active: tuple[Alert, ...] = ()
        self._described: tuple[dict[str, Any], ...] = ()

    def evaluate(self, status: FacilityStatus) -> tuple[Notice, ...]:
        """Compare ``status`` with what was firing; queue and send notices.  Returns
        the notices queued by this call (each goes to every notifier concerned)."""
        with self._lock:
            now = self._clock()
            firing = firing_alerts(self.rules, status)
            queued = self._resolve_gone(firing, now)
            queued += [n for key, alert in sorted(firing.items())
                       if (n := self._update(key, alert, now)) is not None]
            self._publish(now)
            self._flush()
            return tuple(queued)

    def active(self) -> tuple[Alert, ...]:
        """The alerts that hold now (pending, silenced or notified), by key."""
        return self._active

    def as_json(self) -> list[dict[str, Any]]:
        """The active alerts as JSON-ready dicts, with their notification state."""
        return [dict(entry) for entry in self._described]

    def _update(self, key: AlertKey, alert: Alert, now: float) -> Notice | None:
        track = self._tracks.setdefault(key, _Track(alert=alert, since=now))
        track.alert = alert
        track.silenced = any(s.matches(key, now) for s in self.settings.silences)
        rule = self._by_name[alert.rule]
        if track.silenced or now - track.since < rule.for_seconds:
            return None
        if track.sent and now < track.last_sent + self.settings.repeat_after(track.sent):
            return None
        notice = _notice(alert, "firing", now, repeat=track.sent)
        track.sent += 1
        track.last_sent = now
        if track.sent == 1:
            log.info("alert firing: %s", alert.summary)
        self._queue(key, notice, range(len(self.notifiers)))
        return notice

    def _resolve_gone(self, firing: Mapping[AlertKey, Alert], now: float) -> list[Notice]:
        notices = []
        for key in [key for key in self._tracks if key not in firing]:
            track = self._tracks.pop(key)
            self._outbox = [out for out in self._outbox if out.key != key]
            silenced = any(s.matches(key, now) for s in self.settings.silences)
            if not track.delivered or silenced:
                continue
            log.info("alert resolved: %s", track.alert.summary)
            notice = _notice(track.alert, "resolved", now)
            self._queue(key, notice, sorted(track.delivered))
            notices.append(notice)
        return notices

    def _queue(self, key: AlertKey, notice: Notice, notifiers: Iterable[int]) -> None:
        for index in notifiers:
            self._outbox = [out for out in self._outbox
                            if (out.key, out.notifier) != (key, index)]
            self._outbox.append(_Outgoing(key, index, notice))
        while len(self._outbox) > MAX_OUTBOX:
            dropped = self._outbox.pop(0)
            log.warning("alert notice dropped (too many waiting): %s", dropped.notice.text())

    def _flush(self) -> None:
        """Try every waiting notice; a notifier that fails is skipped until next time."""
        failing: set[int] = set()
        waiting = []
        for out in self._outbox:
            if out.notifier in failing or not self._send(out):
                if out.notifier not in failing:
                    failing.add(out.notifier)
                    out.attempts += 1
                if out.attempts < MAX_SEND_ATTEMPTS:
                    waiting.append(out)
                else:
                    log.warning("alert notice given up after %d attempts via %s: %s",
                                out.attempts, self._label(out.notifier), out.notice.text())
        self._outbox = waiting

    def _send(self, out: _Outgoing) -> bool:
        notifier = self.notifiers[out.notifier]
        try:
            notifier.send(out.notice)
        except NotifyError as error:
            log.warning("alert notice not sent via %s (will retry): %s",
                        self._label(out.notifier), error)
            return False
        except Exception as error:  # a notifier's bug must not stop the others
            log.warning("alert notice not sent via %s (will retry): %s",
                        self._label(out.notifier), type(error).__name__)
            return False
        track = self._tracks.get(out.key)
        if track is not None and out.notice.state == "firing":
            track.delivered.add(out.notifier)
        return True

    def _label(self, index: int) -> str:
        return str(getattr(self.notifiers[index], "label", type(self.notifiers[index]).__name__))

    def _publish(self, now: float) -> None:
        tracks = sorted(self._tracks.items())
        self._active = tuple(track.alert for _, track in tracks)
        self._described = tuple(self._describe(track, now) for _, track in tracks)

    def _describe(self, track: _Track, now: float) -> dict[str, Any]:
        alert = track.alert
        state = "silenced" if track.silenced else "firing" if track.sent else "pending"
        return {"rule": alert.rule, "kind": alert.kind, "subject": alert.subject,
                "severity": alert.severity, "summary": alert.summary, "state": state,
                "since": iso_utc(track.since), "notices": track.sent,
                "values": dict(alert.values)}


def _notice(alert: Alert, state: str, at: float, repeat: int = 0) -> Notice:
    return Notice(state=state, summary=alert.summary, rule=alert.rule, subject=alert.subject,
                  values=dict(alert.values), at=at, severity=alert.severity, repeat=repeat)
