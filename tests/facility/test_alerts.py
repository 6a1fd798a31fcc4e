"""Alert rules on built snapshots, and the manager's notices with a fake clock."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from appion.base.errors import UsageError
from appion.facility.alerts import (
    MAX_SEND_ATTEMPTS,
    AlertManager,
    AlertRule,
    AlertSettings,
    firing_alerts,
    parse_alert_rules,
    parse_alert_settings,
)
from appion.facility.model import (
    DiskUsage,
    ExposureQuality,
    FacilityStatus,
    SessionStatus,
    StepStatus,
)
from appion.facility.notify import Notice, NotifyError

NOW = 1_733_000_000.0
MINUTE = 60.0


def step(name: str, **values: object) -> StepStatus:
    base = dict(step=name, done=10, failed=0, pending=0, running=0, lag_seconds=0.0,
                lag_exposures=0, processed_per_hour=60.0, latency_p50_s=30.0,
                latency_p95_s=60.0, eta_seconds=0.0, processed_total=10, failed_total=0)
    base.update(values)
    return StepStatus(**base)  # type: ignore[arg-type]


def session(name: str = "24nov30a", **values: object) -> SessionStatus:
    base = dict(name=name, session_id=7, microscope="Krios1", camera="K3", preset="enn",
                project=1, active=True, paused=False, collected=100, collected_per_hour=120.0,
                last_exposure_at=NOW - 60, rundir=f"/data/{name}/rundir",
                steps=(step("motioncor"), step("ctf")))
    base.update(values)
    return SessionStatus(**base)  # type: ignore[arg-type]


def status(*sessions: SessionStatus, disks: tuple[DiskUsage, ...] = (),
           now: float = NOW) -> FacilityStatus:
    return FacilityStatus(sessions=sessions, workers=2, started_at=NOW - 3600, now=now,
                          disks=disks)


def rules(*tables: dict) -> tuple[AlertRule, ...]:
    return parse_alert_rules(list(tables))


def qualities(resolutions: list[float | None], drifts: list[float | None] | None = None
              ) -> tuple[ExposureQuality, ...]:
    drifts = drifts if drifts is not None else [None] * len(resolutions)
    return tuple(ExposureQuality(image_id=i, acquired_at=NOW - 100 + i, ctf_resolution_a=r,
                                 drift_a=d)
                 for i, (r, d) in enumerate(zip(resolutions, drifts)))


# --- rules -----------------------------------------------------------------------------

STALLED = {"kind": "no_new_exposure", "name": "stalled", "minutes": 10}


def test_no_new_exposure_fires_with_a_readable_summary():
    found = firing_alerts(rules(STALLED), status(session(last_exposure_at=NOW - 12 * MINUTE)))
    alert = found[("stalled", "24nov30a")]
    assert alert.summary == ("24nov30a on Krios1: no new exposure for 12 min "
                             "(rule: stalled, > 10 min)")
    assert alert.severity == "warning"
    assert alert.values["minutes_since"] == 12.0
    assert alert.values["threshold_minutes"] == 10


@pytest.mark.parametrize("changes", [
    {"last_exposure_at": NOW - 8 * MINUTE},
    {"last_exposure_at": None},
    {"last_exposure_at": NOW - 60 * MINUTE, "paused": True},
    {"last_exposure_at": NOW - 60 * MINUTE, "active": False},
])
def test_no_new_exposure_stays_quiet(changes):
    assert firing_alerts(rules(STALLED), status(session(**changes))) == {}


def test_lag_of_one_step_or_any_step():
    late = session(steps=(step("motioncor", lag_seconds=5 * MINUTE),
                          step("ctf", lag_seconds=25 * MINUTE, lag_exposures=42)))
    ctf = firing_alerts(rules({"kind": "lag", "minutes": 20, "step": "ctf"}), status(late))
    assert ctf[("lag", "24nov30a")].summary == (
        "24nov30a on Krios1: ctf is 25 min behind (42 exposures) (rule: lag, > 20 min)")
    assert firing_alerts(rules({"kind": "lag", "minutes": 20, "step": "motioncor"}),
                         status(late)) == {}
    anything = firing_alerts(rules({"kind": "lag", "minutes": 4}), status(late))
    assert anything[("lag", "24nov30a")].values["step"] == "ctf"
    assert firing_alerts(rules({"kind": "lag", "minutes": 4}),
                         status(replace(late, paused=True))) == {}


def test_quality_fires_at_the_fraction_of_known_exposures():
    rule = rules({"kind": "quality", "window": 25, "fraction": 0.75,
                  "ctf_resolution_worse_than": 6.0})
    nineteen_bad = qualities([8.0] * 19 + [3.5] * 6 + [None] * 5)
    found = firing_alerts(rule, status(session(quality=nineteen_bad)))
    alert = found[("quality", "24nov30a")]
    assert alert.values["bad"] == 19
    assert "19 of the last 25 exposures have CTF fit worse than 6 Å" in alert.summary
    eighteen_bad = qualities([8.0] * 18 + [3.5] * 7)
    assert firing_alerts(rule, status(session(quality=eighteen_bad))) == {}


def test_quality_needs_a_full_window_of_known_values():
    rule = rules({"kind": "quality", "window": 25, "ctf_resolution_worse_than": 6.0})
    only_24_known = qualities([9.0] * 24 + [None] * 10)
    assert firing_alerts(rule, status(session(quality=only_24_known))) == {}


def test_quality_on_drift_or_on_both_values():
    drifty = qualities([3.0] * 25, [50.0] * 20 + [5.0] * 5)
    drift_rule = rules({"kind": "quality", "window": 25, "drift_above": 30.0})
    assert ("quality", "24nov30a") in firing_alerts(drift_rule, status(session(quality=drifty)))
    both = rules({"kind": "quality", "window": 25, "ctf_resolution_worse_than": 6.0,
                  "drift_above": 30.0})
    assert ("quality", "24nov30a") in firing_alerts(both, status(session(quality=drifty)))
    drift_not_known = qualities([9.0] * 25, [None] * 25)
    assert firing_alerts(both, status(session(quality=drift_not_known))) == {}


def test_failures_fire_on_the_sum_and_resolve_when_it_falls():
    rule = rules({"kind": "failures", "count": 10})
    failing = session(steps=(step("motioncor", failed=7), step("ctf", failed=3)))
    alert = firing_alerts(rule, status(failing))[("failures", "24nov30a")]
    assert alert.summary == ("24nov30a on Krios1: 10 exposures failed (motioncor 7, ctf 3) "
                             "(rule: failures, ≥ 10)")
    retried = session(steps=(step("motioncor", failed=1), step("ctf", failed=3)))
    assert firing_alerts(rule, status(retried)) == {}


def test_disk_is_keyed_by_path():
    rule = rules({"kind": "disk", "free_percent_below": 5})
    full = DiskUsage(path="/data", total_bytes=4 * 1024**4, free_bytes=int(0.03 * 4 * 1024**4))
    roomy = DiskUsage(path="/scratch", total_bytes=1000, free_bytes=500)
    found = firing_alerts(rule, status(session(), disks=(full, roomy)))
    assert list(found) == [("disk", "/data")]
    assert found[("disk", "/data")].summary.startswith("/data: 3.0 % free (122.9 GiB of 4.0 TiB)")


def test_sessions_and_microscopes_globs_restrict_a_rule():
    idle = dict(last_exposure_at=NOW - 30 * MINUTE)
    snapshot = status(session("24nov30a", **idle), session("24dec01b", **idle),
                      session("24dec01c", microscope="Glacios", **idle))
    only_dec = rules({**STALLED, "sessions": ["24dec*"], "microscopes": ["Krios*"]})
    assert list(firing_alerts(only_dec, snapshot)) == [("stalled", "24dec01b")]


# --- parsing ---------------------------------------------------------------------------

def test_rules_parse_from_toml():
    text = """
[[alert]]
name = "stalled"
kind = "no_new_exposure"
minutes = 10
for_minutes = 2

[[alert]]
kind = "quality"
ctf_resolution_worse_than = 6.0
drift_above = 40
sessions = ["24*"]
"""
    stalled, quality = parse_alert_rules(tomllib.loads(text)["alert"])
    assert (stalled.name, stalled.kind, stalled.minutes, stalled.for_seconds) == (
        "stalled", "no_new_exposure", 10.0, 120.0)
    assert (quality.name, quality.window, quality.fraction, quality.sessions) == (
        "quality", 25, 0.75, ("24*",))
    assert quality.thresholds == {"window": 25, "fraction": 0.75,
                                  "ctf_resolution_worse_than": 6.0, "drift_above": 40.0}


@pytest.mark.parametrize(("table", "words"), [
    ({"kind": "bogus"}, "kind must be one of"),
    ({"kind": "lag", "name": "slow", "minute": 10}, "unknown key 'minute'"),
    ({"kind": "lag", "name": "slow"}, "needs minutes"),
    ({"kind": "lag", "name": "slow", "minutes": "ten"}, "minutes must be a positive number"),
    ({"kind": "lag", "name": "slow", "minutes": True}, "minutes must be a positive number"),
    ({"kind": "failures", "name": "slow", "count": 2.5}, "count must be a positive whole"),
    ({"kind": "quality", "name": "slow"}, "needs ctf_resolution_worse_than or drift_above"),
    ({"kind": "quality", "name": "slow", "drift_above": 3, "window": 80}, "window must be"),
    ({"kind": "quality", "name": "slow", "drift_above": 3, "fraction": 2}, "fraction must"),
    ({"kind": "disk", "name": "slow", "free_percent_below": 5, "sessions": ["a"]},
     "do not apply to kind disk"),
    ({"kind": "lag", "name": "slow", "minutes": 5, "sessions": [1]}, "sessions must be"),
])
def test_rule_errors_are_one_line_and_name_the_rule(table, words):
    with pytest.raises(UsageError) as raised:
        parse_alert_rules([STALLED, table])
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("facility.toml [[alert]] #2")
    assert words in message
    if "name" in table:
        assert "#2 (slow)" in message


def test_duplicate_rule_names_are_refused():
    with pytest.raises(UsageError, match=r"#2 \(stalled\): the name is used"):
        parse_alert_rules([STALLED, {**STALLED, "minutes": 20}])


def test_settings_defaults_and_silences():
    assert parse_alert_settings({}) == AlertSettings(30.0, 240.0, ())
    settings = parse_alert_settings(tomllib.loads("""
repeat_minutes = 10
max_repeat_minutes = 60
silence = [
  { rule = "lag", until = "2024-12-01T07:00:00Z" },
  { session = "24nov*", until = 2024-12-01T08:00:00+01:00 },
  { until = "2024-12-01T08:00" },
]
"""))
    assert (settings.repeat_minutes, settings.max_repeat_minutes) == (10.0, 60.0)
    utc, offset, local = settings.silences
    expected = datetime(2024, 12, 1, 7, tzinfo=UTC).timestamp()
    assert (utc.rule, utc.session, utc.until) == ("lag", None, expected)
    assert (offset.session, offset.until) == ("24nov*", expected)
    assert local.until == datetime(2024, 12, 1, 8).timestamp()
    assert [settings.repeat_after(n) / 60 for n in (1, 2, 3, 4)] == [10, 20, 40, 60]


@pytest.mark.parametrize(("table", "words"), [
    ({"repeat": 5}, "unknown key 'repeat'"),
    ({"repeat_minutes": 0}, "repeat_minutes must be a positive number"),
    ({"repeat_minutes": 60, "max_repeat_minutes": 30}, "below repeat_minutes"),
    ({"silence": [{"rule": "lag"}]}, "silence #1: needs until"),
    ({"silence": [{"until": "tomorrow"}]}, "is not an ISO 8601 time"),
    ({"silence": [{"until": "2024-12-01T08:00", "who": "x"}]}, "unknown key 'who'"),
])
def test_settings_errors_are_one_line(table, words):
    with pytest.raises(UsageError) as raised:
        parse_alert_settings(table)
    assert "\n" not in str(raised.value) and words in str(raised.value)


# --- the manager -----------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now

    def minutes(self, minutes: float) -> None:
        self.now = NOW + minutes * MINUTE


class Recorder:
    """A notifier that keeps what it was sent, and fails while ``down`` is set."""

    def __init__(self, label: str = "recorder", down: bool = False,
                 error: type[Exception] = NotifyError) -> None:
        self.label = label
        self.down = down
        self.error = error
        self.notices: list[Notice] = []
        self.attempts = 0

    def send(self, notice: Notice) -> None:
        self.attempts += 1
        if self.down:
            raise self.error(f"{self.label}: receiver is down")
        self.notices.append(notice)

    def states(self) -> list[tuple[str, int]]:
        return [(notice.state, notice.repeat) for notice in self.notices]


def stalled_at(clock: Clock) -> FacilityStatus:
    """A snapshot in which 24nov30a's last exposure was 15 min before the clock."""
    return status(session(last_exposure_at=clock.now - 15 * MINUTE), now=clock.now)


def healthy_at(clock: Clock) -> FacilityStatus:
    return status(session(last_exposure_at=clock.now - MINUTE), now=clock.now)


def manager(*notifiers: Recorder, settings: AlertSettings | None = None,
            clock: Clock, extra: dict | None = None) -> AlertManager:
    return AlertManager(rules({**STALLED, **(extra or {})}), settings or AlertSettings(),
                        notifiers, clock=clock)


def test_firing_repeats_with_doubling_back_off_then_resolves_once():
    clock, recorder = Clock(), Recorder()
    alerts = manager(recorder, clock=clock,
                     settings=AlertSettings(repeat_minutes=30, max_repeat_minutes=120))
    sent_at = []
    for minute in range(0, 400, 5):
        clock.minutes(minute)
        if alerts.evaluate(stalled_at(clock)):
            sent_at.append(minute)
    assert sent_at == [0, 30, 90, 210, 330]
    assert recorder.states() == [("firing", n) for n in range(5)]
    first = recorder.notices[0]
    assert first.text() == ("[FIRING] 24nov30a on Krios1: no new exposure for 15 min "
                            "(rule: stalled, > 10 min)")
    assert (first.rule, first.subject, first.at) == ("stalled", "24nov30a", NOW)
    clock.minutes(400)
    alerts.evaluate(healthy_at(clock))
    clock.minutes(405)
    alerts.evaluate(healthy_at(clock))
    assert recorder.states()[-1] == ("resolved", 0)
    assert [s for s, _ in recorder.states()].count("resolved") == 1
    assert alerts.active() == ()


def test_active_lists_the_alerts_that_hold():
    clock, recorder = Clock(), Recorder()
    alerts = manager(recorder, clock=clock)
    alerts.evaluate(stalled_at(clock))
    assert [alert.key for alert in alerts.active()] == [("stalled", "24nov30a")]
    (entry,) = alerts.as_json()
    assert (entry["state"], entry["notices"], entry["since"]) == ("firing", 1,
                                                                  "2024-11-30T20:53:20Z")


def test_for_minutes_holds_the_first_notice_back():
    clock, recorder = Clock(), Recorder()
    alerts = manager(recorder, clock=clock, extra={"for_minutes": 5})
    alerts.evaluate(stalled_at(clock))
    assert recorder.notices == [] and alerts.as_json()[0]["state"] == "pending"
    clock.minutes(5)
    alerts.evaluate(stalled_at(clock))
    assert recorder.states() == [("firing", 0)]


def test_a_short_blip_sends_no_resolved_notice():
    clock, recorder = Clock(), Recorder()
    alerts = manager(recorder, clock=clock, extra={"for_minutes": 5})
    alerts.evaluate(stalled_at(clock))
    clock.minutes(1)
    assert alerts.evaluate(healthy_at(clock)) == ()
    assert recorder.notices == [] and alerts.active() == ()


def test_silence_holds_notices_until_it_expires():
    clock, recorder = Clock(), Recorder()
    settings = parse_alert_settings({"silence": [
        {"rule": "stall*", "session": "24nov*",
         "until": datetime.fromtimestamp(NOW + 20 * MINUTE, UTC).isoformat()}]})
    alerts = manager(recorder, clock=clock, settings=settings)
    for minute in (0, 10, 19):
        clock.minutes(minute)
        alerts.evaluate(stalled_at(clock))
    assert recorder.notices == []
    assert alerts.as_json()[0]["state"] == "silenced"
    clock.minutes(20)
    alerts.evaluate(stalled_at(clock))
    assert recorder.states() == [("firing", 0)]


def test_a_silenced_alert_that_ends_sends_nothing():
    clock, recorder = Clock(), Recorder()
    settings = AlertSettings(silences=parse_alert_settings(
        {"silence": [{"until": "2999-01-01T00:00:00Z"}]}).silences)
    alerts = manager(recorder, clock=clock, settings=settings)
    alerts.evaluate(stalled_at(clock))
    clock.minutes(5)
    alerts.evaluate(healthy_at(clock))
    assert recorder.notices == []


@pytest.mark.parametrize("error", [NotifyError, RuntimeError])
def test_a_failing_notifier_does_not_stop_the_others(error, caplog):
    clock = Clock()
    broken, working = Recorder("broken", down=True, error=error), Recorder("working")
    alerts = manager(broken, working, clock=clock)
    with caplog.at_level(logging.WARNING, logger="appion.facility.alerts"):
        alerts.evaluate(stalled_at(clock))
    assert working.states() == [("firing", 0)]
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "via broken" in line and "\n" not in line
    # it comes back: the waiting notice is delivered at the next evaluation, once
    broken.down = False
    clock.minutes(1)
    alerts.evaluate(stalled_at(clock))
    assert broken.states() == [("firing", 0)]
    assert working.states() == [("firing", 0)]
    clock.minutes(2)
    alerts.evaluate(healthy_at(clock))
    assert broken.states()[-1] == ("resolved", 0) == working.states()[-1]


def test_retries_are_bounded_and_resolved_goes_only_where_firing_went():
    clock = Clock()
    broken, working = Recorder("broken", down=True), Recorder("working")
    alerts = manager(broken, working, clock=clock)
    for minute in range(MAX_SEND_ATTEMPTS + 3):
        clock.minutes(minute)
        alerts.evaluate(stalled_at(clock))
    assert broken.attempts == MAX_SEND_ATTEMPTS
    broken.down = False
    clock.minutes(20)
    alerts.evaluate(healthy_at(clock))
    assert broken.notices == []
    assert working.states() == [("firing", 0), ("resolved", 0)]


def test_a_failing_notifier_is_tried_once_per_evaluation():
    clock = Clock()
    broken = Recorder("broken", down=True)
    alerts = AlertManager(rules(STALLED, {"kind": "lag", "minutes": 1}), AlertSettings(),
                          [broken], clock=clock)
    late = session(last_exposure_at=NOW - 15 * MINUTE,
                   steps=(step("ctf", lag_seconds=30 * MINUTE),))
    notices = alerts.evaluate(status(late))
    assert len(notices) == 2 and broken.attempts == 1
