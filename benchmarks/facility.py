"""Facility: the cost of finding sessions in years of history, and ``appion serve``
keeping up with four live microscopes.

Prints one JSON object.  Usage::

    python benchmarks/facility.py [--part live|discovery|all] [--minutes 5]
        [--sessions 1000] [--images 1000000] [--sqlite-images 100000]
        [--scope NAME:CAMERA:INTERVAL[:EXPOSURES[:START_DELAY_S]] ...]

**discovery** (``appion.facility.discovery`` on a throwaway MariaDB database set, and on
embedded SQLite with ``--sqlite-images``, 0 to skip): ``--sessions`` past sessions over
three years with ``--images`` images between them (ids ascending with acquisition
time, the newest an hour ago), written in bulk (``fill_seconds``).  Then, in ms:

* ``start_mark_ms``: ``start_mark(12 h)``, the first start's probe of the
  ``DEF_timestamp`` index (median of 5; ``start_mark_plan`` is the server's plan);
* ``first_poll``: the first poll after it, which reads the images of the lookback
  window (the newest past session);
* ``empty_poll_ms``: ``poll()`` with nothing new (``--polls`` times: median, p95, max);
* ``new_session_poll_ms``: ``poll()`` after a new session wrote ``--new-images``
  exposures (``--new-sessions`` times, a new session each: median, p95, max).
  The target is at most 50 ms per poll on MariaDB.

**live**: ``appion simulate --scope ...`` (four microscopes by default, one camera
each) and ``appion serve`` (motioncor and ctf with the built-in engines, one Dask
worker of two threads) as subprocesses on embedded SQLite in a temporary
``APPION_HOME``, for ``--minutes``; then SIGTERM to both.  Scaling: a real K3 session
collects 200-400 exposures an hour (one every 9-18 s) and GPUs keep up with several
microscopes.  Here small (1k x 1k) simulated movies are written and processed on two
shared CPU cores: simulating costs about 2.5 CPU-s per K3/K2/DE exposure and 7 per
Falcon 4 EER one, processing about 3 CPU-s per K3/K2/DE exposure and 30 per EER one.
The default intervals (20 s for K3, K2 and DE, 90 s for EER: 580 exposures an hour
in all, about 1.2 cores) keep the arrival rate a little below what the machine can
process, at real per-microscope rates for the three fast cameras.  Reported:

* ``sessions.<name>``: ``discovery_latency_s`` (from the moment ``appion simulate``
  printed the session's first exposure, which it does once the exposure's records
  are written, to the first ``/api/sessions`` answer listing the session; the API
  is polled every 0.25 s until every session is listed); ``collected`` and, per step,
  ``done`` and ``backlog`` at the end; ``per_hour``: exposures collected and
  processed per step per hour over the same window (the session's first exposure
  to the end); ``lag_seconds``: p50, p95 and max of the step's lag over the samples
  (every ``--sample-seconds``); ``latency_s``: the API's end-to-end latency
  (acquisition to stored result) p50 and p95 at the end;
* ``controller_rss_mb``: ``[t, MB]`` of the ``appion serve`` process every
  ``--rss-seconds`` (t from its start), ``worker_rss_mb`` the Dask workers' total;
  ``controller_growth_mb``/``_percent``: from the first sample after ``--warmup``
  seconds to the last (flat is the target);
* ``serve_exit_status`` and ``serve_stop_seconds``: SIGTERM to exit.

Subprocesses, temporary folders and databases are removed on any exit (an error,
Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # facility_db beside this file
import facility_db  # noqa: E402

BIN = Path(sys.executable).parent
LOOKBACK_S = 12 * 3600
DEFAULT_SCOPES = ("Krios1:k3:20::0", "Krios2:k2:20::5", "Glacios:de:20::10",
                  "Krios3:falcon4-eer:90::15")
SERVE_FLAGS = ("--preset", "enn", "--steps", "motioncor,ctf", "--motioncor-engine", "builtin",
               "--ctf-engine", "builtin", "--max-workers", "1", "--threads-per-worker", "2")
STEPS = ("motioncor", "ctf")
FAST_POLL_S = 0.25
EXPOSURE_LINE = re.compile(r"^\s*(\S+): exposure (\d+)/\d+: ")
SESSION_LINE = re.compile(r"^(\S+): session (\S+) \(SessionData id")


# --------------------------------------------------------------------- numbers


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank quantile; ``None`` when there is no value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))]


def spread(values: list[float], digits: int = 2) -> dict[str, Any]:
    """Median, p95 and max of ``values``, rounded."""
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    return {"n": len(values), "median": round(statistics.median(values), digits),
            "p95": round(percentile(values, 0.95), digits), "max": round(max(values), digits)}


def timed_ms(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


# ------------------------------------------------------------------- discovery


def discovery_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    reason = mariadb_missing()
    if reason:
        results["mariadb"] = {"skipped": reason}
    else:
        results["mariadb"] = discovery_on("mariadb", args.sessions, args.images, args)
    if args.sqlite_images > 0:
        sessions = max(1, args.sessions * args.sqlite_images // args.images)
        results["sqlite"] = discovery_on("sqlite", sessions, args.sqlite_images, args)
    return results


def mariadb_missing() -> str | None:
    """``None`` when the MariaDB server answers, else why not."""
    try:
        import pymysql
        pymysql.connect(connect_timeout=3, **facility_db.MYSQL).close()
    except Exception as error:  # any failure: no usable server
        return f"no MariaDB at {facility_db.MYSQL['host']}:{facility_db.MYSQL['port']} ({error})"
    return None


def discovery_on(backend: str, sessions: int, images: int,
                 args: argparse.Namespace) -> dict[str, Any]:
    """Fill a throwaway database set and time the discovery on it."""
    from appion.facility.discovery import SessionDiscovery
    with facility_db.throwaway_databases(backend):
        history = facility_db.fill_history(sessions, images, end_at=time.time() - 3600,
                                           progress=_progress(backend))
        report: dict[str, Any] = {
            "sessions": history.sessions, "images": history.images,
            "fill_seconds": round(history.seconds, 1),
            "history_from": _iso(history.first_at), "history_to": _iso(history.last_at)}
        mark, report["start_mark_ms"] = _time_start_mark()
        report["start_mark"] = mark
        report["start_mark_plan"] = _start_mark_plan()
        discovery = SessionDiscovery(mark)
        report["first_poll"] = _first_poll(discovery)
        report["empty_poll_ms"] = _empty_polls(discovery, args.polls)
        report["new_session_poll_ms"] = _new_session_polls(discovery, args.new_sessions,
                                                           args.new_images)
        report["target_met"] = bool(report["empty_poll_ms"]["median"] <= 50
                                    and report["new_session_poll_ms"]["median"] <= 50)
        return report


def _progress(backend: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"facility: {backend}: {done:,} of {total:,} images written", file=sys.stderr,
              flush=True)
    return show


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).isoformat(timespec="seconds")


def _time_start_mark() -> tuple[int, dict[str, Any]]:
    from appion.facility.discovery import start_mark
    times, mark = [], 0
    for _ in range(5):
        elapsed, mark = timed_ms(lambda: start_mark(LOOKBACK_S))
        times.append(elapsed)
    return int(mark), spread(times)


def _start_mark_plan() -> str | None:
    """The database's plan of ``start_mark``'s query (it must use the index)."""
    import sinedon
    when = datetime.datetime.now() - datetime.timedelta(seconds=LOOKBACK_S)
    model = sinedon.model_for("AcquisitionImageData")
    query = (model.objects.using(sinedon.LEGINON).filter(def_timestamp__gte=when)
             .order_by("def_timestamp").values("id")[:1])
    try:
        return " ".join(query.explain().split())
    except Exception as error:  # a backend without EXPLAIN: say so
        return f"no plan: {error}"


def _first_poll(discovery) -> dict[str, Any]:
    elapsed, sightings = timed_ms(discovery.poll)
    return {"ms": round(elapsed, 2), "images": sum(len(s.image_ids) for s in sightings),
            "sessions": sorted({s.session for s in sightings})}


def _empty_polls(discovery, count: int) -> dict[str, Any]:
    times = []
    for _ in range(count):
        elapsed, sightings = timed_ms(discovery.poll)
        if sightings:
            raise RuntimeError(f"a poll with nothing new found {len(sightings)} sighting(s)")
        times.append(elapsed)
    return spread(times)


def _new_session_polls(discovery, count: int, images: int) -> dict[str, Any]:
    times = []
    for number in range(count):
        session_id = facility_db.add_live_session(f"live{number:03d}", images)
        elapsed, sightings = timed_ms(discovery.poll)
        found = [s for s in sightings if s.session_id == session_id]
        if len(sightings) != 1 or len(found[0].image_ids) != images:
            raise RuntimeError(f"the poll after new session {session_id} found "
                               f"{[(s.session, len(s.image_ids)) for s in sightings]}")
        times.append(elapsed)
    return {**spread(times), "images_per_session": images}


# ------------------------------------------------------------------------ live


@dataclass
class LiveRecord:
    """What the live benchmark observes, with wall-clock times (epoch s)."""

    serve_started: float
    started: float                 # the simulation's start
    first_exposure: dict[str, float] = field(default_factory=dict)    # session -> t
    exposures: dict[str, int] = field(default_factory=dict)           # session -> count
    microscope_session: dict[str, str] = field(default_factory=dict)
    first_listed: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, dict]]] = field(default_factory=list)
    controller_rss: list[list[float]] = field(default_factory=list)
    worker_rss: list[list[float]] = field(default_factory=list)

    def read_line(self, when: float, line: str) -> None:
        """One line of ``appion simulate``'s output."""
        session = SESSION_LINE.match(line)
        if session:
            self.microscope_session[session.group(1)] = session.group(2)
            return
        exposure = EXPOSURE_LINE.match(line)
        if exposure and exposure.group(1) in self.microscope_session:
            name = self.microscope_session[exposure.group(1)]
            self.first_exposure.setdefault(name, when)
            self.exposures[name] = self.exposures.get(name, 0) + 1

    def undiscovered(self) -> bool:
        return any(name not in self.first_listed for name in self.first_exposure)


def live_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="appion-facility-live-")))
        env = _live_environment(root)
        port = _free_port()
        serve = stack.enter_context(_process(
            _serve_command(root, port), env, root / "serve.log"))
        api = f"http://127.0.0.1:{port}"
        _wait_healthy(api, serve.process, timeout=180)
        record = LiveRecord(serve_started=serve.started, started=time.time())
        simulate = stack.enter_context(_process(
            _simulate_command(args.scope or DEFAULT_SCOPES), env, root / "simulate.log",
            stdout_lines=True))
        _watch(record, api, serve, simulate, args)
        simulate.stop(timeout=120)
        end = time.time()
        _sample_api(record, api, end)
        stop_s, code = serve.stop(timeout=300)
        return _live_report(record, args, end, code, stop_s, root / "serve.log")


def _live_environment(root: Path) -> dict[str, str]:
    """An embedded SQLite facility in ``root/home`` with the schema, as a subprocess's
    environment."""
    import sinedon
    from sinedon import schema
    home = root / "home"
    home.mkdir()
    schema.init_all(facility_db.PROJECT_ID, project_name="facility benchmark",
                    appion_db=f"ap{facility_db.PROJECT_ID}",
                    config=sinedon.embedded_config(home))
    sinedon.close_all()
    env = {key: value for key, value in os.environ.items() if key != "SINEDON_CFG_PATH"}
    env.update(APPION_HOME=str(home), HOME=str(home), PYTHONUNBUFFERED="1")
    (root / "facility.toml").write_text(
        "[service]\npoll_seconds = 1\nlookback_hours = 1\n\n"
        "[defaults]\nidle_minutes = 600\n")
    return env


def _free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_command(root: Path, port: int) -> list[str]:
    return [str(BIN / "appion"), "serve", "--config", str(root / "facility.toml"),
            "--listen", f"127.0.0.1:{port}", "--state-dir", str(root / "state"), *SERVE_FLAGS]


def _simulate_command(scopes) -> list[str]:
    flags = [flag for scope in scopes for flag in ("--scope", scope)]
    return [str(BIN / "appion"), "simulate", "--session", "bench", "--no-extras",
            "--exposures", "100000", "--size", "small", *flags]


class Child:
    """A subprocess in its own process group, its output in a log file (or, with
    ``stdout_lines``, its stdout lines on :attr:`lines`, timestamped)."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path,
                 stdout_lines: bool = False):
        self.log = open(log_path, "w")  # noqa: SIM115 - closed by close()
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.started = time.time()
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE if stdout_lines else self.log,
            stderr=self.log, text=True, start_new_session=True)
        if stdout_lines:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put((time.time(), line.rstrip("\n")))

    def stop(self, timeout: float) -> tuple[float, int]:
        """SIGTERM, as systemd stops a service; the process group is killed when it is
        still there after ``timeout`` seconds.  Returns seconds to exit and status."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = -signal.SIGKILL
        self._kill_group()
        return time.monotonic() - started, code

    def _kill_group(self) -> None:
        """Whatever the process left behind (Dask workers of a killed service)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.stop(timeout=60)
        else:
            self._kill_group()
        self.log.close()


@contextmanager
def _process(command: list[str], env: dict[str, str], log_path: Path,
             stdout_lines: bool = False) -> Iterator[Child]:
    child = Child(command, env, log_path, stdout_lines)
    try:
        yield child
    finally:
        child.close()


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _wait_healthy(api: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"appion serve exited with {process.returncode} at start")
        if _get_json(api + "/healthz"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"appion serve did not answer /healthz within {timeout:.0f} s")


def _watch(record: LiveRecord, api: str, serve: Child, simulate: Child,
           args: argparse.Namespace) -> None:
    """Read the simulator's lines and sample the API and memory until the end."""
    import psutil
    controller = psutil.Process(serve.process.pid)
    deadline = time.time() + args.minutes * 60
    next_sample = next_rss = 0.0
    while time.time() < deadline:
        for process in (serve.process, simulate.process):
            if process.poll() is not None:
                raise RuntimeError(f"{Path(process.args[0]).name} {process.args[1]} exited "
                                   f"with {process.returncode} during the run")
        _drain(record, simulate)
        now = time.time()
        if now >= next_sample:
            next_sample = now + args.sample_seconds
            _sample_api(record, api, now)
        elif record.undiscovered():
            _sample_api(record, api, now, keep=False)
        if now >= next_rss:
            next_rss = now + args.rss_seconds
            _sample_rss(record, controller, now - record.serve_started)
        time.sleep(FAST_POLL_S)
    _drain(record, simulate)


def _drain(record: LiveRecord, simulate: Child) -> None:
    while True:
        try:
            when, line = simulate.lines.get_nowait()
        except queue.Empty:
            return
        record.read_line(when, line)


def _sample_api(record: LiveRecord, api: str, now: float, keep: bool = True) -> None:
    sessions = _get_json(api + "/api/sessions")
    if sessions is None:
        return
    listed = time.time()
    by_name = {session["name"]: session for session in sessions}
    for name in by_name:
        record.first_listed.setdefault(name, listed)
    if keep:
        record.samples.append((now, by_name))


def _sample_rss(record: LiveRecord, controller, elapsed: float) -> None:
    import psutil
    try:
        mine = controller.memory_info().rss
        workers = sum(child.memory_info().rss for child in controller.children(recursive=True)
                      if "spawn_main" in " ".join(child.cmdline()))
    except psutil.Error:
        return
    record.controller_rss.append([round(elapsed, 1), round(mine / 2**20, 1)])
    record.worker_rss.append([round(elapsed, 1), round(workers / 2**20, 1)])


def _live_report(record: LiveRecord, args: argparse.Namespace, end: float, code: int,
                 stop_s: float, serve_log: Path) -> dict[str, Any]:
    final = record.samples[-1][1] if record.samples else {}
    sessions = {name: _session_report(record, name, final.get(name), end)
                for name in sorted(record.first_exposure)}
    report: dict[str, Any] = {
        "minutes": args.minutes, "scopes": list(args.scope or DEFAULT_SCOPES),
        "serve_flags": " ".join(SERVE_FLAGS), "samples": len(record.samples),
        "sessions": sessions, "facility_per_hour": _facility_rates(sessions),
        **_rss_report(record, args.warmup),
        "serve_exit_status": code, "serve_stop_seconds": round(stop_s, 1)}
    log = serve_log.read_text(errors="replace")
    report["serve_log_errors"] = sum(" ERROR " in line for line in log.splitlines())
    if code != 0 or report["serve_log_errors"]:
        report["serve_log_tail"] = log[-3000:]
    return report


def _session_report(record: LiveRecord, name: str, final: dict | None,
                    end: float) -> dict[str, Any]:
    first = record.first_exposure[name]
    listed = record.first_listed.get(name)
    window_h = max(1e-9, end - first) / 3600
    report: dict[str, Any] = {
        "discovery_latency_s": round(listed - first, 2) if listed else None,
        "collected": record.exposures.get(name, 0),
        "per_hour": {"collected": round(record.exposures.get(name, 0) / window_h, 1)}}
    if final is None:
        return report
    report.update(microscope=final["microscope"], camera=final["camera"],
                  api_collected=final["collected"])
    for step, status in final["steps"].items():
        report["per_hour"][step] = round(status["done"] / window_h, 1)
        lags = [sample[name]["steps"][step]["lag_seconds"]
                for _, sample in record.samples
                if name in sample and step in sample[name]["steps"]]
        report[step] = {"done": status["done"], "failed": status["failed"],
                        "backlog": status["lag_exposures"],
                        "lag_seconds": spread(lags, 1),
                        "latency_s": {"p50": _rounded(status["latency_p50_s"]),
                                      "p95": _rounded(status["latency_p95_s"])}}
    return report


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _facility_rates(sessions: dict[str, dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for session in sessions.values():
        for key, rate in session["per_hour"].items():
            totals[key] = round(totals.get(key, 0.0) + rate, 1)
    return totals


def _rss_report(record: LiveRecord, warmup_s: float) -> dict[str, Any]:
    """The memory samples and the controller's growth after the warm-up (``warmup_s``
    seconds after the simulation started)."""
    rss = record.controller_rss
    report: dict[str, Any] = {"controller_rss_mb": rss, "worker_rss_mb": record.worker_rss}
    if not rss:
        return report
    warm_from = record.started - record.serve_started + warmup_s
    warm = [sample for sample in rss if sample[0] >= warm_from] or rss[-1:]
    first, last = warm[0][1], rss[-1][1]
    report.update(controller_growth_mb=round(last - first, 1),
                  controller_growth_percent=round(100 * (last - first) / first, 1),
                  growth_from_t=warm[0][0])
    return report


# ------------------------------------------------------------------------ main


def _exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: every ``finally`` runs (subprocesses, databases)."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("live", "discovery", "all"), default="all")
    group = parser.add_argument_group("discovery")
    group.add_argument("--sessions", type=int, default=1000, help="past sessions (MariaDB)")
    group.add_argument("--images", type=int, default=1_000_000, help="past images (MariaDB)")
    group.add_argument("--sqlite-images", type=int, default=100_000,
                       help="past images on SQLite (sessions in proportion); 0: skip SQLite")
    group.add_argument("--polls", type=int, default=50, help="polls with nothing new")
    group.add_argument("--new-sessions", type=int, default=10,
                       help="polls after a new session's images")
    group.add_argument("--new-images", type=int, default=20, help="images of a new session")
    group = parser.add_argument_group("live")
    group.add_argument("--minutes", type=float, default=5.0)
    group.add_argument("--scope", action="append", metavar="NAME:CAMERA:INTERVAL[:N[:DELAY]]",
                       help="a simulated microscope (repeatable; default: "
                            f"{' '.join(DEFAULT_SCOPES)})")
    group.add_argument("--sample-seconds", type=float, default=2.0)
    group.add_argument("--rss-seconds", type=float, default=10.0)
    group.add_argument("--warmup", type=float, default=60.0,
                       help="seconds of the run before the RSS growth is measured")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _exit_on_sigterm()
    result: dict[str, Any] = {"benchmark": "facility", "part": args.part}
    if args.part in ("discovery", "all"):
        result["discovery"] = discovery_benchmark(args)
    if args.part in ("live", "all"):
        result["live"] = live_benchmark(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
