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



def aligned_sums(db) -> dict[int, tuple[int, int]]:
    """``{source image id: (plain aligned sum id, dose-weighted sum id)}``."""
    import sinedon
    db.setup()
    images = {row["id"]: row["filename"] for row in sinedon.filter("AcquisitionImageData")}
    found: dict[int, dict[bool, int]] = {}
    for pair in sinedon.filter("ApDDAlignImagePairData"):
        found.setdefault(pair["source"], {})["-DW" in images[pair["result"]]] = pair["result"]
    return {source: (sums[False], sums[True]) for source, sums in found.items()}


def insert_picks(db, rundir: Path, runname: str,
                 picks: dict[int, list[tuple[int, int, float, float]]],
                 empty: tuple[int, ...] = ()) -> int:
    """A picking run's rows as the picking step stores them (``ApSelectionRunData``,
    ``ApParticleData`` per pick; ``.picking/<image>.empty`` for an image picked with no
    particle); returns the run id."""
    import sinedon
    from appion.base.retrieve.session import session_by_name
    from appion.particlepicking.store.results import MARKER_FOLDER
    db.setup()
    session = session_by_name(SESSION)
    path = sinedon.set("ApPathData", {"path": str(rundir)})
    run = sinedon.insert("ApSelectionRunData", {
        "name": runname, "session": session["id"], "path": path, "hidden": False,
        "program": "dogpicker"})
    sinedon.insert_many("ApParticleData", [
        {"selectionrun": run, "image": image, "xcoord": x, "ycoord": y,
         "correlation": score, "diameter": diameter, "label": "dog"}
        for image, rows in picks.items() for x, y, score, diameter in rows])
    (rundir / MARKER_FOLDER).mkdir(parents=True, exist_ok=True)
    for image in empty:
        (rundir / MARKER_FOLDER / f"{image}.empty").write_text(f"{run}\n")
    return run


def delete_picks(db, run_ids: list[int]) -> None:
    import sinedon
    db.setup()
    for run in run_ids:
        sinedon.delete("ApParticleData", {"selectionrun": run})
        sinedon.delete("ApSelectionRunData", {"id": run})
