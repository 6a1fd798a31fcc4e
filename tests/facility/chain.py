"""A small simulated session processed by the real ``appion pipeline --steps
motioncor,ctf,pick`` with the built-in engines, and the three steps as that run built
them: what the tests of the steps' reports (summaries, details) read back."""

from __future__ import annotations

from pathlib import Path

from appion.base.step import RunContext
from appion.ctfestimation.contract import CtfOptions
from appion.ctfestimation.step import CtfStep
from appion.motioncorrection.contract import MotionCorStepOptions
from appion.motioncorrection.step import MotionCorrectionStep
from appion.particlepicking.contract import DogOptions, PickOptions
from appion.particlepicking.step import PickStep
from appion.simulation.session import simulate_session

RUNNAME = "chain1"
FLAGS = ["--motioncor-engine", "builtin", "--doseweight", "--ctf-engine", "builtin",
         "--fieldsize", "512", "--resmax", "5", "--diam", "60", "--pick-bin", "2", "--invert",
         "--no-wait", "--max-workers", "1"]
NO_SUCH_IMAGE = 987654321


def chain_steps() -> tuple[MotionCorrectionStep, CtfStep, PickStep]:
    """The steps of :data:`FLAGS`, built as the pipeline builds them."""
    return (MotionCorrectionStep(MotionCorStepOptions(engine="builtin", preset="enn")),
            CtfStep(CtfOptions(engine="builtin", fieldsize=512, resmax=5.0)),
            PickStep(PickOptions(dog=DogOptions(diameter_a=60.0, bin=2, invert=True))))


def process_session(db, tmp_path: Path, cli, name: str):
    """Simulate ``name`` (2 small K3 exposures) and run the pipeline on it; returns the
    simulated session and the run."""
    import sinedon
    session = simulate_session(tmp_path / "sim", name, camera="k3", exposures=2,
                               size="small", extras=False)
    rundir = tmp_path / "appion" / name / "pipeline" / RUNNAME
    done = cli(["appion", "pipeline", f"--projectid={db.projectid}", f"--session={name}",
                "--preset=enn", f"--rundir={rundir}", f"--runname={RUNNAME}",
                "--steps", "motioncor,ctf,pick", *FLAGS], env=db.env)
    assert done.returncode == 0, done.stderr
    db.setup()
    row = sinedon.get("SessionData", {"id": session.session_id})
    return session, RunContext(runname=RUNNAME, rundir=rundir, projectid=db.projectid,
                               session=row)
