"""A small simulated session, motion-corrected and CTF-fitted by the built-in engines
through the real console scripts (shared by the export and curation tests)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import _sqlite_databases, run_cli

SESSION = "sim25feb02x"
CTF_FLAGS = ["--resmax", "5", "--no-wait", "--max-workers", "1", "--fieldsize", "512"]


@dataclass
class Processed:
    db: object
    root: Path
    session: object
    motion_rundir: Path
    ctf_rundir: Path


def motioncor(db, root: Path, runname: str = "ddstack1", engine: str = "builtin",
              env: dict | None = None) -> Path:
    rundir = root / "appion" / SESSION / "ddstack" / runname
    done = run_cli(["makeDDAlignMotionCor2_UCSF.py", f"--session={SESSION}", "--preset=enn",
                    f"--projectid={db.projectid}", f"--rundir={rundir}", f"--runname={runname}",
                    "--engine", engine, "--doseweight", "--no-wait", "--max-workers=1"],
                   env=env or db.env)
    assert done.returncode == 0, done.stderr
    return rundir


def ctffind(db, root: Path, preset: str = "enn-a", runname: str = "ctfrun1") -> Path:
    rundir = root / "appion" / SESSION / "ctf" / runname
    done = run_cli(["ctffind4.py", f"--session={SESSION}", "--preset", preset,
                    f"--projectid={db.projectid}", f"--rundir={rundir}", f"--runname={runname}",
                    "--engine", "builtin", *CTF_FLAGS], env=db.env)
    assert done.returncode == 0, done.stderr
    return rundir


def processed_session(root: Path, exposures: int = 3, with_ctf: bool = True) -> Processed:
    from appion.simulation.session import simulate_session
    root.mkdir(parents=True, exist_ok=True)
    db = _sqlite_databases(root)
    db.setup()
    session = simulate_session(root / "sim", SESSION, camera="k3", exposures=exposures,
                               size="small", extras=False)
    motion = motioncor(db, root)
    ctf = ctffind(db, root) if with_ctf else root / "no-ctf"
    db.setup()
    return Processed(db, root, session, motion, ctf)


def relion_programs() -> str | None:
    """``None`` when RELION's programs are on PATH, else why not."""
    missing = [name for name in ("relion_star_handler", "relion_preprocess")
               if shutil.which(name) is None]
    return (f"RELION is not installed ({', '.join(missing)} not on PATH; Debian: apt-get "
            "install relion)") if missing else None


def appion(args: list[str], db, **kwargs):
    return run_cli(["appion", *args, f"--projectid={db.projectid}"], env=db.env, **kwargs)

