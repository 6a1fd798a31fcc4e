"""``facility.toml``: which sessions ``appion serve`` processes, and how.

::

    [service]
    listen = "127.0.0.1:8770"      # HTTP API and /metrics (--listen overrides)
    state_dir = "/var/lib/appion"  # default $APPION_HOME/serve
    lookback_hours = 12            # first start: take up sessions this recent
    poll_seconds = 2               # how often to look for new sessions

    [defaults]                     # every session (refines the command line)
    steps = "motioncor,ctf"
    preset = "enn"
    idle_minutes = 60              # a session without a new exposure this long is finished
    options = { "motioncor-engine" = "builtin", "ctf-engine" = "ctffind4" }

    [[rule]]                       # the first rule that matches a session decides
    microscope = "Krios*"          # globs on the TEM's and camera's InstrumentData names
    camera = "GatanK3"
    options = { bin = 2 }

    [[rule]]
    microscope = "Talos"
    process = false                # not processed at all

Options are the flags of ``appion pipeline`` without their dashes: ``true`` gives the
bare flag, ``false`` leaves it out, a list repeats it.  They apply after the command
line's, and a rule's after ``[defaults]``'s.  With rules, a session no rule matches is
not processed; without rules, every session is.  The ``[[alert]]``, ``[alerts]``,
``[notify]`` and ``[auth]`` sections are read by :mod:`.alerts`, :mod:`.notify` and
:mod:`.web`.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from appion.base.errors import UsageError
from appion.facility.discovery import Sighting

DEFAULT_LISTEN = "127.0.0.1:8770"
DEFAULT_RUNNAME = "appion-serve"


@dataclass(frozen=True)
class ServiceSettings:
    """The ``[service]`` table."""

    listen: str = DEFAULT_LISTEN
    state_dir: Path | None = None
    lookback_hours: float = 12.0
    poll_seconds: float = 2.0
    runname: str = DEFAULT_RUNNAME
    alert_seconds: float = 5.0


@dataclass(frozen=True)
class Rule:
    """Which sessions (every criterion given must match) and how to process them."""

    microscope: tuple[str, ...] = ()
    camera: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    project: tuple[int, ...] = ()
    preset: str | None = None
    process: bool = True
    steps: str | None = None
    idle_minutes: float | None = None
    reprocess_classic: bool | None = None
    rundir: str | None = None
    options: tuple[str, ...] = ()

    def matches(self, sighting: Sighting) -> bool:
        return (_glob_match(self.microscope, sighting.microscope)
                and _glob_match(self.camera, sighting.camera)
                and _glob_match(self.sessions, sighting.session)
                and (not self.project or sighting.project in self.project)
                and (self.preset is None or self.preset == sighting.preset))


@dataclass(frozen=True)
class SessionPlan:
    """How one session is processed: the merged ``[defaults]`` and rule."""

    steps: str | None
    preset: str
    idle_minutes: float
    reprocess_classic: bool
    rundir: str | None
    options: tuple[str, ...]
    rule: int | None               # the matching rule's number (1-based), None: defaults


@dataclass(frozen=True)
class FacilityConfig:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    defaults: Rule = field(default_factory=Rule)
    rules: tuple[Rule, ...] = ()
    alert_rules: tuple[Any, ...] = ()
    alert_settings: Any = None
    notifiers: tuple[Any, ...] = ()
    auth: Any = None
    source: str = "(no configuration file)"

    def plan(self, sighting: Sighting, *, default_preset: str | None) -> SessionPlan | None:
        """How to process the session of ``sighting`` (``None``: not at all)."""
        number, rule = self._rule_for(sighting, default_preset)
        if rule is None or not rule.process:
            return None
        merged = _merge(self.defaults, rule)
        preset = merged.preset or default_preset
        if preset is None or preset != sighting.preset:
            return None
        return SessionPlan(steps=merged.steps, preset=preset,
                           idle_minutes=merged.idle_minutes if merged.idle_minutes is not None
                           else 60.0,
                           reprocess_classic=bool(merged.reprocess_classic),
                           rundir=merged.rundir, options=merged.options, rule=number)

    def _rule_for(self, sighting: Sighting, default_preset: str | None
                  ) -> tuple[int | None, Rule | None]:
        if not self.rules:
            return None, Rule()
        for number, rule in enumerate(self.rules, start=1):
            preset = rule.preset or self.defaults.preset or default_preset
            if rule.matches(sighting) and (preset is None or preset == sighting.preset):
                return number, rule
        return None, None


def _glob_match(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _merge(defaults: Rule, rule: Rule) -> Rule:
    """``rule`` over ``defaults``: its settings where given, options after the defaults'."""
    changes = {name: getattr(rule, name) for name in
               ("preset", "steps", "idle_minutes", "reprocess_classic", "rundir")
               if getattr(rule, name) is not None}
    return replace(defaults, **changes, options=defaults.options + rule.options)


# ---------------------------------------------------------------------- parsing

_SERVICE_KEYS = {"listen": str, "state_dir": str, "lookback_hours": float,
                 "poll_seconds": float, "runname": str, "alert_seconds": float}
_RULE_KEYS = {"microscope", "camera", "sessions", "project", "preset", "process", "steps",
              "idle_minutes", "reprocess_classic", "rundir", "options"}
_TOP_KEYS = {"service", "defaults", "rule", "alert", "alerts", "notify", "auth"}


def load_config(path: Path | str | None) -> FacilityConfig:
    """The configuration in ``path`` (none: process every session with the command
    line's options); every mistake is one :class:`UsageError` line."""
    if path is None:
        return _config({}, "(no configuration file)")
    path = Path(path).expanduser()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no configuration file {path}; give an existing --config") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path} is not valid TOML: {error}") from None
    return _config(data, str(path), base_dir=path.parent)


def _config(data: dict[str, Any], source: str, base_dir: Path | None = None
            ) -> FacilityConfig:
    from appion.facility import alerts, notify, web
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UsageError(f"facility.toml: unknown section [{unknown[0]}]; known: "
                         f"{', '.join(sorted(_TOP_KEYS))}")
    rules = data.get("rule", [])
    if not isinstance(rules, list):
        raise UsageError("facility.toml: rules are [[rule]] tables (a list), not [rule]")
    return FacilityConfig(
        service=parse_service(_table(data, "service")),
        defaults=parse_rule(_table(data, "defaults"), "[defaults]"),
        rules=tuple(parse_rule(rule, f"[[rule]] #{number}")
                    for number, rule in enumerate(rules, start=1)),
        alert_rules=alerts.parse_alert_rules(list(data.get("alert", []))),
        alert_settings=alerts.parse_alert_settings(_table(data, "alerts")),
        notifiers=notify.parse_notifiers(_table(data, "notify"), base_dir=base_dir),
        auth=web.parse_auth(_table(data, "auth")),
        source=source)


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise UsageError(f"facility.toml: [{name}] must be a table")
    return table


def parse_service(table: dict[str, Any]) -> ServiceSettings:
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = _SERVICE_KEYS.get(key)
        if kind is None:
            raise UsageError(f"facility.toml [service]: unknown key '{key}'; known: "
                             f"{', '.join(sorted(_SERVICE_KEYS))}")
        values[key] = _typed(value, kind, f"[service] {key}")
    if "state_dir" in values:
        values["state_dir"] = Path(values["state_dir"]).expanduser()
    for key in ("poll_seconds", "alert_seconds"):
        if key in values and values[key] <= 0:
            raise UsageError(f"facility.toml [service] {key} must be positive")
    return ServiceSettings(**values)


def parse_rule(table: dict[str, Any], where: str) -> Rule:
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise UsageError(f"facility.toml {where}: unknown key '{unknown[0]}'; known: "
                         f"{', '.join(sorted(_RULE_KEYS))}")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise UsageError(f"facility.toml {where}: options must be a table, e.g. "
                         "options = { bin = 2 }")
    idle = table.get("idle_minutes")
    if idle is not None and _typed(idle, float, f"{where} idle_minutes") <= 0:
        raise UsageError(f"facility.toml {where}: idle_minutes must be positive")
    return Rule(
        microscope=_strings(table.get("microscope"), f"{where} microscope"),
        camera=_strings(table.get("camera"), f"{where} camera"),
        sessions=_strings(table.get("sessions"), f"{where} sessions"),
        project=tuple(_typed(p, int, f"{where} project") for p in _listed(table.get("project"))),
        preset=_optional(table, "preset", str, where),
        process=bool(_typed(table.get("process", True), bool, f"{where} process")),
        steps=_optional(table, "steps", str, where),
        idle_minutes=None if idle is None else float(idle),
        reprocess_classic=_optional(table, "reprocess_classic", bool, where),
        rundir=_optional(table, "rundir", str, where),
        options=option_flags(options, where))


def option_flags(options: dict[str, Any], where: str = "[defaults]") -> tuple[str, ...]:
    """``{"bin": 2, "no-rejects": true}`` -> ``("--bin", "2", "--no-rejects")``."""
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + str(key).removeprefix("--")
        if isinstance(value, bool):
            flags += [flag] if value else []
        elif isinstance(value, list):
            for item in value:
                flags += [flag, _scalar(item, f"{where} options.{key}")]
        else:
            flags += [flag, _scalar(value, f"{where} options.{key}")]
    return tuple(flags)


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise UsageError(f"facility.toml {where}: give a string or a number, not {value!r}")


def _optional(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    return None if key not in table else _typed(table[key], kind, f"{where} {key}")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_typed(item, str, where) for item in _listed(value))


def _typed(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise UsageError(f"facility.toml {where}: expected {kind.__name__}, got {value!r}")
