"""``appion status``: what a run's controller, or the facility service, is doing.

``--rundir R`` reads ``<rundir>/appion-status.json`` (rewritten by the controller every
few seconds), ``failed.jsonl`` and the run-directory lock; it needs no database.
``--serve [URL]`` reads the ``/api/sessions`` of a running ``appion serve`` and prints
one row per session.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

DEFAULT_SERVE_URL = "http://127.0.0.1:8770"
#: Seconds to wait for the service's answer.
SERVE_TIMEOUT_S = 10.0
SESSIONS_PATH = "/api/sessions"
STEPS_LEGEND = "per step: done/pending/failed, lag"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "status", help="counts of a run (--rundir) or of every session of appion serve "
                       "(--serve)",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("-R", "--rundir", help="the run directory")
    parser.add_argument("--serve", nargs="?", const=DEFAULT_SERVE_URL, metavar="URL",
                        help="the address of a running appion serve (default "
                             f"{DEFAULT_SERVE_URL})")
    parser.add_argument("--token-env", metavar="NAME",
                        help="with --serve: the environment variable holding an API token "
                             "(needed when the service does not listen on loopback)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (with --serve: the API's answer as is)")
    parser.add_argument("--failed", action="store_true",
                        help="with --rundir: also list every failed image with its error")
    parser.set_defaults(func=run_status)


def check_options(options: argparse.Namespace) -> None:
    """One of --rundir and --serve, and only the flags that go with it."""
    from appion.base.errors import UsageError
    if options.rundir is not None and options.serve is not None:
        raise UsageError("--rundir and --serve exclude each other; give one of them")
    if options.rundir is None and options.serve is None:
        raise UsageError("give --rundir R (one run) or --serve [URL] (appion serve)")
    if options.serve is not None and options.failed:
        raise UsageError("--failed goes with --rundir; with --serve, see the service's "
                         f"{SESSIONS_PATH}/<name>/exposures")
    if options.rundir is not None and options.token_env:
        raise UsageError("--token-env goes with --serve")


# -- --rundir -------------------------------------------------------------------------

def collect(rundir: Path) -> dict:
    """Status, failures and whether a controller holds the run directory."""
    from appion.base.errors import AppionError
    from appion.base.loop import state
    if not rundir.is_dir():
        raise AppionError(f"run directory {rundir} does not exist; check --rundir")
    status = state.read_status(rundir)
    owner = state.lock_owner(rundir)
    failures = state.read_failures(rundir)
    if status is None and not failures:
        raise AppionError(f"{rundir} has no {state.STATUS_NAME}: no controller has run "
                          "there; check --rundir")
    status = dict(status or {"steps": {}})
    status["controller"] = owner
    status["state"] = "running" if owner else "stopped"
    status["failures"] = [vars(f) for f in sorted(failures,
                                                  key=lambda f: (f.step, f.image_id))]
    return status


def format_status(rundir: Path, status: dict, *, list_failed: bool) -> str:
    from appion.base.loop.display import format_duration
    lines = [f"run directory: {rundir}"]
    header = status.get("runname") or rundir.name
    if status.get("session"):
        header += f" (session {status['session']})"
    age = time.time() - status["updated"] if status.get("updated") else None
    running = (f"running ({status['controller']})" if status["controller"]
               else "not running")
    lines.append(f"run: {header}; controller {running}"
                 + (f"; last update {format_duration(age)} ago" if age is not None else ""))
    lines.append(f"{'step':<12}{'done':>8}{'running':>9}{'pending':>9}{'retrying':>10}"
                 f"{'failed':>8}")
    failed_by_step: dict[str, int] = {}
    for failure in status["failures"]:
        failed_by_step[failure["step"]] = failed_by_step.get(failure["step"], 0) + 1
    names = list(status.get("steps", {})) + [n for n in failed_by_step
                                             if n not in status.get("steps", {})]
    for name in names:
        counts = status.get("steps", {}).get(name, {})
        live = bool(status["controller"])
        done = counts.get("done", 0) + counts.get("previously_done", 0)
        lines.append(f"{name:<12}{done:>8}{counts.get('running', 0) if live else 0:>9}"
                     f"{counts.get('pending', 0) if live else 0:>9}"
                     f"{counts.get('retrying', 0) if live else 0:>10}"
                     f"{failed_by_step.get(name, 0):>8}")
    if status["controller"] and status.get("throughput_per_min") is not None:
        lines.append(f"throughput {status['throughput_per_min']:.1f}/min, backlog "
                     f"{status.get('backlog', 0)}, ETA {format_duration(status.get('eta_s'))}")
    if status.get("dashboard") and status["controller"]:
        lines.append(f"Dask dashboard: {status['dashboard']}")
    if list_failed:
        for failure in status["failures"]:
            lines.append(f"failed {failure['step']} image {failure['image_id']} after "
                         f"{failure['attempts']} attempt(s): {failure['error']}")
    elif status["failures"]:
        lines.append(f"{len(status['failures'])} failed image(s): see --failed; "
                     "'--retry-failed' on the next run tries them again")
    return "\n".join(lines)


def rundir_status(options: argparse.Namespace) -> int:
    rundir = Path(options.rundir).expanduser().resolve()
    status = collect(rundir)
    if options.json:
        print(json.dumps(status, sort_keys=True))
    else:
        print(format_status(rundir, status, list_failed=options.failed))
    return 0


# -- --serve: the service's HTTP API --------------------------------------------------

def service_url(text: str) -> str:
    """``http(s)://HOST[:PORT]`` without a trailing slash; a usage error otherwise."""
    from appion.base.errors import UsageError
    url = text.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--serve {text!r}: expected a URL such as {DEFAULT_SERVE_URL}")
    return url


def listen_hint(url: str) -> str:
    """The ``--listen`` value a service at ``url`` would have been started with."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def token_from_env(name: str | None) -> str | None:
    """The API token held by environment variable ``name`` (never printed)."""
    from appion.base.errors import UsageError
    if not name:
        return None
    token = os.environ.get(name, "").strip()
    if not token:
        raise UsageError(f"--token-env {name}: the environment variable is not set; set "
                         "it to one of the tokens of the service's facility.toml [auth]")
    return token


def _reason(error: BaseException) -> str:
    """One line for why a connection failed (``Connection refused``, ``timed out``)."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    lines = str(reason).strip().splitlines()
    return lines[0] if lines else type(reason).__name__


def _refusal(error: urllib.error.HTTPError) -> str:
    """The ``{"error": ...}`` line of an HTTP error answer, or its status text."""
    try:
        message = json.loads(error.read() or b"{}").get("error")
    except (ValueError, AttributeError, OSError):
        message = None
    return str(message or error.reason)


def read_api(url: str, path: str, token: str | None = None) -> bytes:
    """The body of ``GET url+path``; one-line :class:`AppionError` when it fails."""
    from appion.base.errors import AppionError
    request = urllib.request.Request(url + path, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=SERVE_TIMEOUT_S) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        hint = {401: "; give an API token with --token-env NAME",
                403: "; give an API token with --token-env NAME",
                404: f"; is {url} appion serve?"}.get(error.code, "")
        raise AppionError(f"appion serve at {url} answered {error.code}: "
                          f"{_refusal(error)}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise AppionError(f"cannot reach appion serve at {url}: {_reason(error)}; is it "
                          f"running? (appion serve --listen {listen_hint(url)})") from None


def fetch_sessions(url: str, token: str | None = None) -> tuple[list[dict], bytes]:
    """The sessions of ``/api/sessions``, and the answer's bytes as they came."""
    from appion.base.errors import AppionError
    body = read_api(url, SESSIONS_PATH, token)
    try:
        sessions = json.loads(body)
    except ValueError:
        sessions = None
    if not isinstance(sessions, list):
        raise AppionError(f"{url}{SESSIONS_PATH} did not answer a JSON list; is {url} "
                          "appion serve?")
    return sessions, body


def format_lag(seconds: float | None) -> str:
    """``"0 s"``, ``"45 s"``, ``"2 min 10 s"``, ``"1 h 05 min"``; ``"-"`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def session_state(session: dict) -> str:
    """``error``, ``paused``, ``active`` (a controller runs) or ``finished``."""
    if session.get("error"):
        return "error"
    if session.get("paused"):
        return "paused"
    return "active" if session.get("active") else "finished"


def session_eta(session: dict) -> float | None:
    """Seconds until every step has caught up; None when a lagging step is not."""
    etas = [step.get("eta_seconds") for step in session.get("steps", {}).values()]
    if any(eta is None for eta in etas):
        return None
    return max((float(eta) for eta in etas), default=0.0)


def step_names(sessions: list[dict]) -> list[str]:
    """Every step of every session, in the order they first appear."""
    names: list[str] = []
    for session in sessions:
        names += [name for name in session.get("steps", {}) if name not in names]
    return names


def session_row(session: dict, steps: list[str]) -> list[str]:
    row = [str(session.get("name", "")), str(session.get("microscope") or "-"),
           session_state(session), str(session.get("collected", 0))]
    for name in steps:
        step = session.get("steps", {}).get(name)
        if step is None:
            row += ["-", "-"]
        else:
            row += [f"{step['done']}/{step['pending']}/{step['failed']}",
                    format_lag(step.get("lag_seconds"))]
    return [*row, format_lag(session_eta(session))]


def format_table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell; ``right`` are right-aligned."""
    widths = [max(len(line[column]) for line in [header, *rows])
              for column in range(len(header))]
    return ["  ".join(cell.rjust(width) if column in right else cell.ljust(width)
                      for column, (cell, width) in enumerate(zip(line, widths))).rstrip()
            for line in [header, *rows]]


def format_sessions(sessions: list[dict]) -> str:
    """One row per session: state, exposures collected, each step's counts and lag, ETA."""
    if not sessions:
        return "no session yet: appion serve has not found a session to process"
    steps = step_names(sessions)
    header = ["session", "microscope", "state", "collected"]
    for name in steps:
        header += [name, "lag"]
    header.append("ETA")
    right = {3, *range(4, len(header))}
    lines = format_table(header, [session_row(s, steps) for s in sessions], right)
    lines.append(f"({STEPS_LEGEND})")
    lines += [f"{s['name']}: {s['error']}" for s in sessions if s.get("error")]
    return "\n".join(lines)


def serve_status(options: argparse.Namespace) -> int:
    url = service_url(options.serve)
    sessions, body = fetch_sessions(url, token_from_env(options.token_env))
    if options.json:
        print(body.decode("utf-8"))
    else:
        print(format_sessions(sessions))
    return 0


def run_status(options: argparse.Namespace) -> int:
    check_options(options)
    return serve_status(options) if options.serve is not None else rundir_status(options)
