"""``appion demo`` (what ``make demo`` runs): a simulated live session, processed live.

1. Creates a demo folder (default ``./.appion-demo``) with the embedded SQLite
   databases, so nothing outside it is touched (not even a ``~/sinedon.cfg``);
2. a simulated microscope writes ~20 small K3 exposures (movies, Leginon records,
   ground truth), one every few seconds;
3. the controller (``appion pipeline``) finds each exposure as it lands, runs
   built-in motion correction and then built-in CTF estimation on a local Dask
   cluster, and stores the results in the classic Appion tables;
4. a summary per exposure compares what was measured (drift, defocus, CTF fit
   resolution, read back from the database) with the simulator's ground truth.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("appion.demo")

MARKER = ".appion-demo"
SESSION = "demo"
PROJECT = 1


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
    parser.add_argument("--camera", default="k3", help="simulated camera (default k3)")
    parser.set_defaults(func=run_demo)


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
    from appion.base.job import job_guard
    from appion.base.run import prepare_run
    from appion.cli.classic_options import run_inputs
    from appion.cli.pipeline import make_steps, step_names
    from appion.cli.runtime_options import runtime_settings
    from appion.simulation.session import start_session
    from sinedon import schema

    folder = Path(args.folder).expanduser().absolute()
    _fresh_folder(folder)
    _use_embedded_databases(folder)
    schema.init_all(PROJECT, project_name="appion demo")
    print(f"Appion demo in {folder}\n"
          f"  databases: embedded SQLite in {folder / 'databases'}\n"
          f"  a simulated {args.camera.upper()} session '{SESSION}': {args.exposures} "
          f"exposures, one every {args.interval:g} s\n"
          "  processing: built-in motion correction, then built-in CTF estimation, on a "
          f"local Dask cluster of {args.workers} worker(s)\n", flush=True)
    session = start_session(folder / "sessions", SESSION, args.camera, size="small",
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
    return status


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
