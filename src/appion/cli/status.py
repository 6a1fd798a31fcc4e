"""``appion status --rundir R``: what a run's controller has done, is doing, and gave up on.

Reads ``<rundir>/appion-status.json`` (rewritten by the controller every few
seconds), ``failed.jsonl`` and the run-directory lock; needs no database.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "status", help="counts of a run: done, running, pending, failed",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("-R", "--rundir", required=True, help="the run directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--failed", action="store_true",
                        help="also list every failed image with its error")
    parser.set_defaults(func=run_status)


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


def run_status(options: argparse.Namespace) -> int:
    rundir = Path(options.rundir).expanduser().resolve()
    status = collect(rundir)
    if options.json:
        print(json.dumps(status, sort_keys=True))
    else:
        print(format_status(rundir, status, list_failed=options.failed))
    return 0
