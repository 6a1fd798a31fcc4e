"""``appion demo`` (what ``make demo`` runs): a simulated live session, processed live.

1. Creates a demo folder (default ``./.appion-demo``) with the embedded SQLite
   databases, so nothing outside it is touched (not even a ``~/sinedon.cfg``);
2. a simulated microscope writes ~20 small K3 exposures (movies, Leginon records,
   ground truth), one every few seconds;
3. the controller (``appion pipeline``) finds each exposure as it lands, runs
   built-in motion correction and then built-in CTF estimation on a local Dask
   cluster, and stores the results in the classic Appion tables;
4. a summary per exposure compares what was measured (drift, defocus, CTF fit
   resolution, read back from the database) with the simulator's ground truth;
5. ``appion serve`` then serves the run on the dashboard, whose address the demo
   prints, until Ctrl-C (``--exit``: the demo ends after the summary).

With ``--facility``, three simulated microscopes (Krios1 with a K3, Krios2 with a K2
starting a little later, a Glacios with a DE Apollo) collect at once, ``--exposures``
each, and ``appion serve`` (a subprocess, as a facility runs it) processes every
session; the demo prints the service's address, then the table of ``appion status
--serve`` every few seconds until every session is caught up, a summary, and stops
the dashboard's address, and keeps serving until Ctrl-C (``--exit``: stops the service
with SIGTERM after the summary).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("appion.demo")

MARKER = ".appion-demo"
SESSION = "demo"
PROJECT = 1
DEFAULT_CAMERA = "k3"
DEFAULT_LISTEN = "127.0.0.1:8770"
#: ``--facility``: (microscope, camera, its label, start delay in intervals).
FACILITY_SCOPES = (("Krios1", "k3", "K3", 0.0), ("Krios2", "k2", "K2", 2.0),
                   ("Glacios", "de", "DE Apollo", 1.0))
#: The sessions are ``demo-krios1``, ``demo-krios2``, ``demo-glacios``.
FACILITY_PREFIX = "demo"
#: The environment variable that hands the demo's API token to ``appion serve``.
TOKEN_ENV = "APPION_DEMO_TOKEN"
#: Seconds ``appion serve`` may take to answer, and to stop after SIGTERM.
SERVE_START_S = 180.0
SERVE_STOP_S = 120.0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate a live session and process it (motion correction + CTF)",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default=".appion-demo", metavar="DIR",
                        help="demo folder, wiped and recreated (default ./.appion-demo)")
    parser.add_argument("--exposures", type=int, default=20, metavar="N")
    parser.add_argument("--interval", type=float, default=3.0, metavar="SECONDS",
                        help="seconds between exposures (default 3)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="local Dask workers (default 2)")
    parser.add_argument("--camera", help="simulated camera (default k3; not with --facility)")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help=f"the dashboard's address (default {DEFAULT_LISTEN})")
    parser.add_argument("--exit", action="store_true",
                        help="end after the summary instead of serving the dashboard until "
                             "Ctrl-C")
    facility = parser.add_argument_group("facility (--facility)")
    facility.add_argument("--facility", action="store_true",
                          help="three simulated microscopes at once, processed by appion "
                               "serve; --exposures and --interval apply to each")
    facility.add_argument("--refresh", type=float, default=3.0, metavar="SECONDS",
                          help="seconds between two tables (default 3)")
    parser.set_defaults(func=run_demo)


def check_demo_options(args: argparse.Namespace) -> None:
    """The flags of one mode only, and sizes that make sense."""
    from appion.base.errors import UsageError
    if args.facility and (args.exposures < 1 or args.workers < 1
                          or not args.interval > 0 or not args.refresh > 0):
        raise UsageError("--exposures and --workers must be at least 1, --interval and "
                         "--refresh positive")
    if args.facility and args.camera:
        raise UsageError("--camera is for the one-session demo; --facility simulates a K3, "
                         "a K2 and a DE Apollo")


def _fresh_folder(folder: Path) -> None:
    """Recreate the demo folder; refuse to wipe a folder the demo did not make."""
    from appion.base.errors import UsageError
    if folder.exists():
        if not (folder / MARKER).exists():
            raise UsageError(f"{folder} exists and is not a demo folder; give another "
                             "--folder (the demo wipes its folder on each run)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by 'appion demo'; safe to delete\n")


def _use_embedded_databases(folder: Path) -> None:
    """Point this process (and its workers) at SQLite files in the demo folder.

    ``HOME`` moves too, so that a ``~/sinedon.cfg`` (a production database) is never
    picked up by the demo."""
    os.environ.pop("SINEDON_CFG_PATH", None)
    os.environ["APPION_HOME"] = str(folder / "databases")
    os.environ["HOME"] = str(folder)


class Microscope(threading.Thread):
    """Writes one simulated exposure every ``interval`` seconds, then says so."""

    def __init__(self, session, count: int, interval: float):
        super().__init__(name="simulated-microscope", daemon=True)
        self.session, self.count, self.interval = session, count, interval
        self.ended = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        import sinedon
        from appion.simulation.session import add_exposure
        try:
            for index in range(self.count):
                if self.stop.is_set():
                    break
                started = time.monotonic()
                exposure = add_exposure(self.session, index)
                log.info("microscope: exposure %d/%d written: %s (image id %d)", index + 1,
                         self.count, exposure.filename, exposure.image_id)
                self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        except BaseException as error:  # reported by the main thread
            self.error = error
        finally:
            self.ended.set()
            sinedon.close_all()


def _pipeline_options(folder: Path, workers: int) -> argparse.Namespace:
    from appion.cli.main import build_parser
    return build_parser().parse_args([
        "pipeline", "--projectid", str(PROJECT), "--session", SESSION, "--preset", "enn",
        "--runname", "demo-run", "--rundir", str(folder / "runs" / "demo-run"),
        "--steps", "motioncor,ctf", "--motioncor-engine", "builtin",
        "--ctf-engine", "builtin", "--fieldsize", "512", "--resmax", "5",
        "--max-workers", str(workers), "--poll-interval", "1"])


def run_demo(args: argparse.Namespace) -> int:
    check_demo_options(args)
    if args.facility:
        return run_facility_demo(args)
    return run_session_demo(args, args.camera or DEFAULT_CAMERA)


def run_session_demo(args: argparse.Namespace, camera: str) -> int:
    """One simulated session, processed by the controller of ``appion pipeline``."""
    from appion.base.job import job_guard
    from appion.base.run import prepare_run
    from appion.cli.classic_options import run_inputs
    from appion.cli.pipeline import make_steps, step_names
    from appion.cli.runtime_options import runtime_settings
    from appion.facility.web import parse_listen
    from appion.simulation.session import start_session
    from sinedon import schema
    if not args.exit:
        check_port_free(*parse_listen(args.listen or DEFAULT_LISTEN))
    folder = Path(args.folder).expanduser().absolute()
    _fresh_folder(folder)
    _use_embedded_databases(folder)
    schema.init_all(PROJECT, project_name="appion demo")
    print(f"Appion demo in {folder}\n"
          f"  databases: embedded SQLite in {folder / 'databases'}\n"
          f"  a simulated {camera.upper()} session '{SESSION}': {args.exposures} "
          f"exposures, one every {args.interval:g} s\n"
          "  processing: built-in motion correction, then built-in CTF estimation, on a "
          f"local Dask cluster of {args.workers} worker(s)\n", flush=True)
    session = start_session(folder / "sessions", SESSION, camera, size="small",
                            extras=False, projectid=PROJECT)
    options = _pipeline_options(folder, args.workers)
    names = step_names(options.steps)
    settings = runtime_settings(options)
    request, selection = run_inputs(options)
    with job_guard() as job:
        run = prepare_run(request, selection, step_names=names, program="appion-demo",
                          job=job)
        steps = make_steps(names, options)
        status = _process(steps, run, settings,
                          Microscope(session, args.exposures, args.interval))
    rows = summary_rows(session, run)
    print_summary(rows, run, folder)
    if status == 0 and not args.exit:
        serve_dashboard(folder, run, args)
    return status


def serve_dashboard(folder: Path, run, args: argparse.Namespace) -> None:
    """``appion serve`` on the demo's run (it resumes the run: nothing is processed
    again) until Ctrl-C; the dashboard's address first."""
    from appion.base.errors import AppionError
    facility_toml(folder, 60.0, runname=run.runname, rundir=str(run.rundir))
    service = start_service(folder, args.listen or DEFAULT_LISTEN, args.workers)
    try:
        service.wait_until_up()
        print(f"\nDashboard: {service.url}/ (the session: {service.url}/sessions/{SESSION})",
              flush=True)
        keep_serving(service)
    finally:
        code = service.stop()
    if code != 0:
        raise AppionError(f"appion serve exited with status {code} when stopped: "
                          f"{_last_error(service.log_path)} (log: {service.log_path})")


def _process(steps: list, run, settings, microscope: Microscope) -> int:
    """Run the controller while the simulated microscope collects the session."""
    from appion.base.errors import AppionError
    from appion.base.loop import run_pipeline
    from appion.base.loop.controller import Events
    microscope.start()
    try:
        status = run_pipeline(steps, run, settings=settings,
                              events=Events(session_ended=microscope.ended))
    finally:
        microscope.stop.set()
        microscope.join()
    if microscope.error is not None:
        raise AppionError(f"the simulated microscope failed: {microscope.error}")
    return status


def _path_length(xs: Sequence[float], ys: Sequence[float]) -> float:
    return sum(math.hypot(x1 - x0, y1 - y0)
               for x0, y0, x1, y1 in zip(xs, ys, xs[1:], ys[1:]))


def _sequence(text: Any) -> list[float]:
    import ast
    return [float(v) for v in ast.literal_eval(text)] if text else []


def summary_rows(session, run) -> list[dict[str, Any]]:
    """Per exposure: measured drift/defocus/resolution (from the database) and truth."""
    import sinedon
    from appion.base.loop.state import read_failures
    failures = {(f.step, f.image_id): f.error for f in read_failures(run.rundir)}
    rows = []
    for exposure in session.images:
        truth = exposure.truth
        row: dict[str, Any] = {
            "image": exposure.filename, "image_id": exposure.image_id,
            "true_drift_a": _path_length(*zip(*truth["shifts_px"])) * truth["pixel_size_a"]
            if len(truth["shifts_px"]) > 1 else 0.0,
            "true_defocus_um": (truth["defocus_1_a"] + truth["defocus_2_a"]) / 2e4}
        pair = sinedon.get("ApDDAlignImagePairData", {"source": exposure.image_id})
        aligned = pair["result"] if pair else None
        row["error"] = failures.get(("motioncor", exposure.image_id))
        if aligned:
            stats = sinedon.get("ApDDAlignStatsData", {"image": aligned})
            trajectory = sinedon.get("ApDDFrameTrajectoryData", {"image": aligned})
            if trajectory and stats and stats.get("apix"):
                row["drift_a"] = _path_length(_sequence(trajectory["pos_x"]),
                                              _sequence(trajectory["pos_y"])) * stats["apix"]
            ctf = sinedon.get("ApCtfData", {"image": aligned})
            if ctf:
                row["defocus_um"] = abs(ctf["defocus1"] + ctf["defocus2"]) / 2 * 1e6
                row["resolution_a"] = ctf["ctffind4_resolution"]
            row["error"] = row["error"] or failures.get(("ctf", aligned))
        rows.append(row)
    return rows


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def exposure_label(filename: str) -> str:
    """A Leginon target path without the session and the zero padding:
    ``demo_00001gr_00012sq_v01_00002hl_00004enn`` -> ``1gr_12sq_v01_2hl_4enn``."""
    return "_".join(re.sub(r"^0+(?=\d)", "", part) for part in filename.split("_")[1:])


def print_summary(rows: list[dict[str, Any]], run, folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title="Per exposure: measured (from the Appion tables) vs simulated truth",
                  title_justify="left")
    for column in ("id", "exposure", "drift Å", "(true)", "defocus µm", "(true)",
                   "fit res. Å", "problem"):
        table.add_column(column, justify="left" if column in ("exposure", "problem")
                         else "right")
    for row in rows:
        table.add_row(str(row["image_id"]), exposure_label(row["image"]),
                      _number(row.get("drift_a"), 1), _number(row["true_drift_a"], 1),
                      _number(row.get("defocus_um"), 2), _number(row["true_defocus_um"], 2),
                      _number(row.get("resolution_a"), 1), row.get("error") or "")
    console = Console(width=max(100, shutil.get_terminal_size().columns))
    console.print(table)
    done = sum(1 for row in rows if row.get("defocus_um") is not None)
    console.print(
        f"{done} of {len(rows)} exposures went through motion correction and CTF.\n"
        f"Outputs: run directory {run.rundir} (aligned sums, logs, CTF diagnostics);\n"
        f"         aligned micrographs also in {run.session.get('image_path')};\n"
        f"         database rows in {folder / 'databases'} (ApDDAlignImagePairData, "
        "ApDDFrameTrajectoryData, ApCtfData ...).\n"
        f"Counts again: appion status --rundir {run.rundir}\n"
        f"Same thing on your data: appion pipeline --projectid P --session S --preset enn "
        "--steps motioncor,ctf")


# -- --facility: several microscopes, processed by appion serve ----------------------

def facility_specs(exposures: int, interval: float) -> list:
    """The simulated microscopes, each writing ``exposures`` every ``interval`` s."""
    from appion.simulation.facility import ScopeSpec
    return [ScopeSpec(name=name, camera=camera, interval_s=interval, exposures=exposures,
                      start_delay_s=delay * interval, seed=index, extras=False)
            for index, (name, camera, _, delay) in enumerate(FACILITY_SCOPES)]


def check_port_free(host: str, port: int) -> None:
    """A one-line error when something listens on ``host:port`` already."""
    from appion.base.errors import AppionError
    from appion.facility.web import format_address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as waitress binds: a port whose last connections are in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = error.strerror or str(error)
            raise AppionError(f"cannot listen on {format_address(host, port)}: {reason}; "
                              "choose another --listen") from None


def client_url(host: str, port: int) -> str:
    """The URL this machine reaches a service bound to ``host:port`` at."""
    from appion.facility.web import format_address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{format_address(host, port)}"


def facility_toml_path(folder: Path) -> Path:
    return folder / "facility.toml"


def facility_toml(folder: Path, interval: float, *, runname: str | None = None,
                  rundir: str | None = None) -> Path:
    """The service's configuration: quick polling, run directories under ``runs/``
    (or the one-session demo's run)."""
    rundir = rundir or str(folder / "runs" / "{session}" / "{runname}")
    idle_minutes = max(1.0, 10 * interval / 60)
    path = facility_toml_path(folder)
    service = f"runname = {json.dumps(runname)}\n" if runname else ""
    path.write_text(
        f"[service]\npoll_seconds = 1\nlookback_hours = 1\n{service}\n"
        f"[defaults]\nidle_minutes = {idle_minutes:g}\nrundir = {json.dumps(rundir)}\n\n"
        f"[auth]\ntokens = [{{ name = \"demo\", token_env = \"{TOKEN_ENV}\" }}]\n",
        encoding="utf-8")
    return path


def serve_command(folder: Path, listen: str, workers: int) -> list[str]:
    """``appion serve`` for the demo's sessions: the steps of the one-session demo."""
    return [sys.executable, "-m", "appion.cli.main", "serve",
            "--config", str(facility_toml_path(folder)), "--listen", listen,
            "--state-dir", str(folder / "serve"), "--preset", "enn",
            "--steps", "motioncor,ctf", "--motioncor-engine", "builtin",
            "--ctf-engine", "builtin", "--fieldsize", "512", "--resmax", "5",
            "--max-workers", str(workers), "--poll-interval", "1"]



def _last_error(log_path: Path) -> str:
    """The last ``error:`` line of the service's log, else its last line."""
    try:
        lines = [line.strip() for line in
                 log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if "error:" in line or "ERROR" in line]
    return (errors or lines or ["no output"])[-1]


@dataclass
class Service:
    """``appion serve`` running as a subprocess of the demo."""

    process: subprocess.Popen
    log_path: Path
    url: str
    token: str

    def check_running(self) -> None:
        """A one-line error when the service has exited."""
        from appion.base.errors import AppionError
        code = self.process.poll()
        if code is not None:
            raise AppionError(f"appion serve exited with status {code}: "
                              f"{_last_error(self.log_path)} (log: {self.log_path})")

    def wait_until_up(self, timeout: float = SERVE_START_S) -> None:
        """Until ``/healthz`` answers, the service exits, or ``timeout`` seconds pass."""
        from appion.base.errors import AppionError
        from appion.cli.status import read_api
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            try:
                read_api(self.url, "/healthz")
                return
            except AppionError:
                time.sleep(0.5)
        raise AppionError(f"appion serve did not answer at {self.url} within "
                          f"{timeout:.0f} s; see {self.log_path}")

    def stop(self, timeout: float = SERVE_STOP_S) -> int:
        """SIGTERM, as systemd stops it; its exit status (killed after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_service(folder: Path, listen: str, workers: int) -> Service:
    """Start ``appion serve`` with the demo's environment; its output goes to a log."""
    from appion.facility.web import parse_listen
    token = secrets.token_urlsafe(32)
    log_path = folder / "serve.log"
    env = {**os.environ, TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w", encoding="utf-8") as stream:  # the child keeps its copy
        process = subprocess.Popen(serve_command(folder, listen, workers), env=env,
                                   stdout=stream, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return Service(process, log_path, client_url(*parse_listen(listen)), token)


class Microscopes(threading.Thread):
    """:func:`appion.simulation.facility.run_facility` in a thread of the demo."""

    def __init__(self, root: Path, specs: list):
        super().__init__(name="simulated-microscopes", daemon=True)
        self.root, self.specs = root, specs
        self.stop = threading.Event()
        self.written: dict[str, int] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        import sinedon
        from appion.simulation.facility import run_facility
        try:
            self.written = run_facility(self.root, self.specs,
                                        session_prefix=FACILITY_PREFIX, stop=self.stop,
                                        on_exposure=_log_exposure, projectid=PROJECT)
        except BaseException as error:  # reported by the main thread
            self.error = error
        finally:
            sinedon.close_all()

    def check(self) -> None:
        """A one-line error when a microscope failed."""
        from appion.base.errors import AppionError
        if self.error is not None:
            raise AppionError(f"the simulated microscopes failed: {self.error}")


def _log_exposure(exposure) -> None:
    log.info("%s: exposure %d/%d written: %s (image id %d)", exposure.microscope,
             exposure.number, exposure.total, exposure.filename, exposure.image_id)


def step_caught_up(step: dict, collected: int) -> bool:
    return (step["pending"] == 0 and step["running"] == 0 and step["lag_exposures"] == 0
            and step["done"] + step["failed"] >= collected)


def caught_up(sessions: list[dict], written: dict[str, int]) -> bool:
    """Whether each session has every exposure written and through every step."""
    from appion.base.errors import AppionError
    by_name = {session["name"]: session for session in sessions}
    for name, count in written.items():
        session = by_name.get(name)
        if session is not None and session.get("error"):
            raise AppionError(f"appion serve could not process session {name}: "
                              f"{session['error']}")
        if (session is None or session["collected"] < count or not session["steps"]
                or not all(step_caught_up(step, session["collected"])
                           for step in session["steps"].values())):
            return False
    return True


def watch(service: Service, microscopes: Microscopes, refresh: float) -> list[dict]:
    """Print the sessions' table every ``refresh`` s until every session is caught up."""
    from appion.cli.status import fetch_sessions, format_sessions
    while True:
        service.check_running()
        microscopes.check()
        sessions, _ = fetch_sessions(service.url, service.token)
        print(f"\n{time.strftime('%H:%M:%S')}\n{format_sessions(sessions)}", flush=True)
        done = not microscopes.is_alive()
        if done and microscopes.written is not None and caught_up(sessions,
                                                                   microscopes.written):
            return sessions
        time.sleep(refresh)


def summary_row(session: dict) -> list[str]:
    """Exposures collected, through every step, failed (any step), largest lag."""
    from appion.cli.status import format_lag
    steps = list(session["steps"].values())
    processed = min(step["done"] for step in steps)
    failed = sum(step["failed"] for step in steps)
    lag = max(step["lag_seconds"] or 0.0 for step in steps)
    return [session["name"], session["microscope"], session["camera"],
            str(session["collected"]), str(processed), str(failed), format_lag(lag)]


def print_facility_summary(sessions: list[dict], service: Service, folder: Path) -> None:
    from appion.cli.status import format_table
    header = ["session", "microscope", "camera", "collected", "processed", "failed", "lag"]
    rows = [summary_row(session) for session in sessions if session["steps"]]
    print("\nEvery session is caught up (processed: exposures through motion correction "
          "and CTF):", flush=True)
    print("\n".join(format_table(header, rows, {3, 4, 5, 6})))
    print(f"Outputs: run directories in {folder / 'runs'} (one per session);\n"
          f"         database rows in {folder / 'databases'}; service log {service.log_path}.\n"
          f"Per exposure: {service.url}/api/sessions/<session>/exposures\n"
          f"Same thing on your data: appion serve --config facility.toml --listen HOST:PORT "
          "(see appion serve --help)", flush=True)


def keep_serving(service: Service) -> None:
    """Until Ctrl-C (or SIGTERM), or the service exits."""
    print(f"\nappion serve keeps serving at {service.url}; Ctrl-C stops it "
          f"(meanwhile: appion status --serve {service.url})", flush=True)
    try:
        while True:
            service.check_running()
            time.sleep(1.0)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM as appion.base.signals.Stopped
        print("stopping appion serve", flush=True)


def _facility_intro(folder: Path, args: argparse.Namespace) -> str:
    scopes = ", ".join(f"{name} ({label}" + (f", from {delay * args.interval:g} s on)"
                                             if delay else ")")
                       for name, _, label, delay in FACILITY_SCOPES)
    return (f"Appion facility demo in {folder}\n"
            f"  databases: embedded SQLite in {folder / 'databases'}\n"
            f"  simulated microscopes: {scopes}; {args.exposures} exposures each, one "
            f"every {args.interval:g} s\n"
            "  processing: appion serve (built-in motion correction, then built-in CTF "
            f"estimation, on a local Dask cluster of {args.workers} worker(s));\n"
            f"  its log: {folder / 'serve.log'}\n")


def run_facility_demo(args: argparse.Namespace) -> int:
    """Microscopes and ``appion serve`` until every session is caught up."""
    import sinedon
    from appion.facility.web import parse_listen
    from sinedon import schema
    listen = args.listen or DEFAULT_LISTEN
    check_port_free(*parse_listen(listen))
    folder = Path(args.folder).expanduser().absolute()
    _fresh_folder(folder)
    _use_embedded_databases(folder)
    schema.init_all(PROJECT, project_name="appion demo")
    sinedon.setup(projectid=PROJECT)
    facility_toml(folder, args.interval)
    print(_facility_intro(folder, args), flush=True)
    service = start_service(folder, listen, args.workers)
    try:
        return _serve_and_watch(service, folder, args)
    finally:
        service.stop()


def _serve_and_watch(service: Service, folder: Path, args: argparse.Namespace) -> int:
    from appion.base.errors import AppionError
    service.wait_until_up()
    print(f"appion serve is listening on {service.url} (/api/sessions, /metrics, "
          f"/healthz); the table below is: appion status --serve {service.url}", flush=True)
    microscopes = Microscopes(folder / "sessions",
                              facility_specs(args.exposures, args.interval))
    microscopes.start()
    try:
        sessions = watch(service, microscopes, args.refresh)
    finally:
        microscopes.stop.set()
        microscopes.join()
    print_facility_summary(sessions, service, folder)
    if not args.exit:
        keep_serving(service)
    else:
        print("stopping appion serve (SIGTERM)", flush=True)
    code = service.stop()
    if code != 0:
        raise AppionError(f"appion serve exited with status {code} when stopped: "
                          f"{_last_error(service.log_path)} (log: {service.log_path})")
    print("appion serve stopped", flush=True)
    return 0
