"""What the controller shows: a live table on a terminal, log lines otherwise.

:class:`Progress` is the controller's counters (per step: done, running, pending,
retrying, failed) plus completion times for the throughput; :func:`snapshot` turns
it into plain numbers (throughput per minute over the last minutes, ETA of the
backlog), which feed the rich table, the log lines and ``appion-status.json``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("appion.loop")

#: Throughput is measured over this window (seconds).
RATE_WINDOW_S = 120.0


@dataclass
class StepCounts:
    done: int = 0
    running: int = 0
    pending: int = 0
    retrying: int = 0
    failed: int = 0
    previously_done: int = 0


@dataclass
class Progress:
    """Counters the controller updates; read by displays and the status file."""

    steps: dict[str, StepCounts]
    started: float = field(default_factory=time.monotonic)
    completions: deque = field(default_factory=lambda: deque(maxlen=100_000))
    waiting_for_images: bool = False
    database_down: str | None = None
    dashboard: str | None = None
    cluster: str = ""
    stopping: bool = False

    def completed(self, now: float) -> None:
        self.completions.append(now)


def throughput_per_minute(completions: deque, now: float, started: float,
                          window_s: float = RATE_WINDOW_S) -> float:
    """Completions per minute over the last ``window_s`` (or since the start)."""
    span = min(window_s, max(now - started, 1e-9))
    recent = 0
    for moment in reversed(completions):
        if now - moment > span:
            break
        recent += 1
    return 60.0 * recent / span if span > 0 else 0.0


def snapshot(progress: Progress, now: float | None = None) -> dict[str, Any]:
    """Plain numbers: per-step counts, throughput per minute, backlog, ETA seconds."""
    now = time.monotonic() if now is None else now
    steps = {name: vars(counts).copy() for name, counts in progress.steps.items()}
    backlog = sum(c.pending + c.running + c.retrying for c in progress.steps.values())
    rate = throughput_per_minute(progress.completions, now, progress.started)
    eta = backlog / rate * 60.0 if rate > 0 and backlog else None
    return {"steps": steps, "throughput_per_min": round(rate, 2), "backlog": backlog,
            "eta_s": None if eta is None else round(eta, 1),
            "elapsed_s": round(now - progress.started, 1),
            "waiting_for_images": progress.waiting_for_images,
            "database_down": progress.database_down, "dashboard": progress.dashboard,
            "cluster": progress.cluster, "stopping": progress.stopping}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def summary_line(data: dict[str, Any]) -> str:
    """One log line: counts per step, throughput, backlog and ETA."""
    parts = []
    for name, counts in data["steps"].items():
        parts.append(f"{name}: {counts['done']} done, {counts['running']} running, "
                     f"{counts['pending']} pending, {counts['failed']} failed")
    state = ("stopping" if data["stopping"] else "database unreachable"
             if data["database_down"] else "waiting for images"
             if data["waiting_for_images"] and not data["backlog"] else "working")
    return (f"{'; '.join(parts)} | {data['throughput_per_min']:.1f}/min, backlog "
            f"{data['backlog']}, ETA {format_duration(data['eta_s'])} | {state}")


class LogDisplay:
    """Plain log lines, at most one every ``every_s`` seconds, and when counts change."""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s
        self._last = 0.0
        self._last_line = ""

    def __enter__(self) -> LogDisplay:
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def update(self, progress: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        line = summary_line(snapshot(progress, now))
        if force or line != self._last_line:
            log.info("%s", line)
        self._last, self._last_line = now, line


#: How often the live table is drawn.
REFRESH_PER_S = 4


class LiveDisplay:
    """A rich table on the terminal, redrawn a few times a second."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        self.console = Console(stderr=True)
        self._live = Live(console=self.console, refresh_per_second=REFRESH_PER_S,
                          transient=False)
        self._next_render = 0.0

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._live.__exit__(*exc_info)

    def update(self, progress: Progress, *, force: bool = False) -> None:
        """Build the table only as often as it is drawn (the loop calls this every pass)."""
        now = time.monotonic()
        if not force and now < self._next_render:
            return
        self._next_render = now + 1.0 / REFRESH_PER_S
        self._live.update(render_table(snapshot(progress)), refresh=force)


def render_table(data: dict[str, Any]):
    """The live table: one row per step, and a caption with rate, backlog and ETA."""
    from rich.table import Table
    table = Table(title="Appion", title_justify="left", expand=False)
    for column in ("step", "done", "running", "pending", "retrying", "failed"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, counts in data["steps"].items():
        done = f"{counts['done']}" + (f" (+{counts['previously_done']} before)"
                                      if counts["previously_done"] else "")
        table.add_row(name, done, str(counts["running"]), str(counts["pending"]),
                      str(counts["retrying"]),
                      f"[red]{counts['failed']}[/red]" if counts["failed"] else "0")
    state = ("[yellow]stopping: letting running tasks finish[/yellow]" if data["stopping"]
             else f"[red]database unreachable, retrying: {data['database_down']}[/red]"
             if data["database_down"] else "waiting for new images"
             if data["waiting_for_images"] and not data["backlog"] else "working")
    table.caption = (f"{data['throughput_per_min']:.1f} images/min · backlog "
                     f"{data['backlog']} · ETA {format_duration(data['eta_s'])} · "
                     f"elapsed {format_duration(data['elapsed_s'])}\n{data['cluster']}"
                     + (f" · dashboard {data['dashboard']}" if data["dashboard"] else "")
                     + f"\n{state}")
    table.caption_justify = "left"
    return table


class NullDisplay:
    """No display: a service reports through its own interfaces."""

    def __enter__(self) -> NullDisplay:
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def update(self, progress: Progress, *, force: bool = False) -> None:
        return None


def make_display(mode: str = "auto"):
    """``live`` on a terminal (``auto``), else log lines; ``none``: nothing."""
    if mode == "none":
        return NullDisplay()
    if mode == "live" or (mode == "auto" and sys.stderr.isatty()):
        return LiveDisplay()
    return LogDisplay()
