"""Soak: many small exposures through ``appion pipeline``; memory and files must stay flat.

Prints one JSON object: the resident memory (MB) of the controller and of each Dask
worker, and their open files, when 0, 25, 50, 75 and 100 % of the exposures are
stored; the growth from the first quarter to the end (the first quarter warms up
imports, caches and pools); and the throughput.  Usage::

    python benchmarks/soak.py [--exposures 1000] [--steps noop|builtin] [--workers 2]

``noop`` (default) runs rows-only exposures through the no-op step (the controller,
Dask and the database, no engine); ``builtin`` simulates small movies (``appion
simulate --size small``) and runs the built-in motion correction and CTF on them.
Everything lives in a temporary folder with embedded SQLite databases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/
from tests.plugin_path import use_test_plugins  # noqa: E402

use_test_plugins()

CHECKPOINTS = (0.0, 0.25, 0.5, 0.75, 1.0)
BIN = Path(sys.executable).parent


def _environment(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "SINEDON_CFG_PATH"}
    env.update(APPION_HOME=str(home), HOME=str(home))
    return env


def _prepare_noop(root: Path, home: Path, exposures: int) -> str:
    from appion_test_steps.rows import start_rows_session

    import sinedon
    from sinedon import schema
    schema.init_all(1, project_name="soak", appion_db="ap1",
                    config=sinedon.embedded_config(home))
    session = start_rows_session(root, "soak")
    session.add_images(exposures)
    return session.name


def _prepare_builtin(root: Path, home: Path, exposures: int) -> str:
    made = subprocess.run([str(BIN / "appion"), "simulate", "--session", "soak",
                           "--exposures", str(exposures), "--size", "small", "--no-extras",
                           "--root", str(root / "sessions")], env=_environment(home),
                          capture_output=True, text=True)
    if made.returncode != 0:
        sys.exit(f"soak: appion simulate failed: {made.stderr.strip()[-2000:]}")
    return "soak"


def _stored_count(home: Path, steps: str) -> int:
    import sinedon
    sinedon.setup(projectid=1, config=sinedon.embedded_config(home))
    if steps == "noop":
        return sinedon.count("ApDDAlignImagePairData")
    return sinedon.count("ApCtfData")


def _sample(controller: psutil.Process) -> dict:
    workers = [child for child in controller.children(recursive=True)
               if "spawn_main" in " ".join(_cmdline(child))]
    return {"controller_rss_mb": _rss_mb(controller),
            "controller_open_files": _fds(controller),
            "worker_rss_mb": [_rss_mb(worker) for worker in workers],
            "worker_open_files": [_fds(worker) for worker in workers]}


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _rss_mb(process: psutil.Process) -> float:
    try:
        return round(process.memory_info().rss / 2**20, 1)
    except psutil.Error:
        return float("nan")


def _fds(process: psutil.Process) -> int:
    try:
        return process.num_fds()
    except psutil.Error:
        return -1


def _pipeline(session: str, root: Path, steps: str, workers: int) -> list[str]:
    chain = "noop" if steps == "noop" else "motioncor,ctf"
    command = [str(BIN / "appion"), "pipeline", "--projectid", "1", "--session", session,
               "--preset", "enn", "--rundir", str(root / "runs" / "soak"), "--steps", chain,
               "--max-workers", str(workers), "--threads-per-worker", "1",
               "--display", "log", "--poll-interval", "0.5"]
    if steps == "builtin":
        command += ["--motioncor-engine", "builtin", "--ctf-engine", "builtin"]
    return command


def soak(exposures: int, steps: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="appion-soak-") as folder:
        root = Path(folder)
        home = root / "home"
        home.mkdir()
        os.environ.update(APPION_HOME=str(home))
        os.environ.pop("SINEDON_CFG_PATH", None)
        prepare = _prepare_noop if steps == "noop" else _prepare_builtin
        session = prepare(root, home, exposures)
        log = open(root / "pipeline.log", "w+")
        process = subprocess.Popen(_pipeline(session, root, steps, workers),
                                   env=_environment(home), stdout=log, stderr=log)
        return _watch(process, psutil.Process(process.pid), home, steps, exposures, log)


def _watch(process, controller, home: Path, steps: str, exposures: int, log) -> dict:
    """Sample at each checkpoint while the controller waits for more images; then stop
    it (SIGTERM) once every exposure is stored."""
    marks = [round(fraction * exposures) for fraction in CHECKPOINTS]
    samples: dict[str, dict] = {}
    first_store = ended = None
    stored = 0
    while process.poll() is None and len(samples) < len(marks):
        stored = _stored_count(home, steps)
        if first_store is None and stored:
            first_store = time.monotonic()
        if stored >= exposures and ended is None:
            ended = time.monotonic()
        workers_up = bool(_sample(controller)["worker_rss_mb"])
        for mark in marks:
            if stored >= mark and str(mark) not in samples and workers_up:
                samples[str(mark)] = {"stored": stored, **_sample(controller)}
        time.sleep(0.2)
    ended = ended or time.monotonic()
    process.terminate()
    process.wait()
    log.seek(0)
    tail = log.read()[-1500:]
    return _report(samples, marks, stored, exposures, first_store, ended, process.returncode,
                   tail)


def _growth(samples: dict[str, dict], marks: list[int], key: str) -> float | None:
    first, last = samples.get(str(marks[1])), samples.get(str(marks[-1]))
    if not first or not last or not first[key] or not last[key]:
        return None
    before = first[key] if isinstance(first[key], float) else max(first[key])
    after = last[key] if isinstance(last[key], float) else max(last[key])
    return round(100.0 * (after - before) / before, 1)


def _report(samples, marks, stored, exposures, first_store, ended, code, tail) -> dict:
    elapsed = (ended - first_store) if first_store else None
    report = {"exposures": exposures, "stored": stored, "exit_status": code,
              "checkpoints": samples,
              "controller_growth_percent_q1_to_end": _growth(samples, marks,
                                                             "controller_rss_mb"),
              "worker_growth_percent_q1_to_end": _growth(samples, marks, "worker_rss_mb"),
              "seconds": round(elapsed, 1) if elapsed else None,
              "exposures_per_s": round(stored / elapsed, 2) if elapsed else None}
    if code != 0 or stored < exposures:
        report["log_tail"] = tail
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=1000)
    parser.add_argument("--steps", choices=("noop", "builtin"), default="noop")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps({"benchmark": "soak", "steps": args.steps, "workers": args.workers,
                      **soak(args.exposures, args.steps, args.workers)}, indent=1))


if __name__ == "__main__":
    main()
