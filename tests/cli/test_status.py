"""The job row through the real entry points, on both backends: a run that fails after
its row is written ends ``E``; the row has the classic web's jobtype; the project comes
from the session when ``--projectid`` is not given."""

from pathlib import Path

import pytest

import sinedon

MISSING = "/nonexistent/bin"

COMMANDS = {
    "appion-pipeline": (["appion", "pipeline", "--steps", "motioncor",
                         "--motioncor-engine", "motioncor2",
                         "--motioncor-exe", f"{MISSING}/motioncor2"],
                        "appionpipeline", f"appion: error: {MISSING}/motioncor2 not found on "
                                          "PATH; install it or give its path with "
                                          "--motioncor-exe"),
    "makeDDAlignMotionCor2_UCSF.py": (["makeDDAlignMotionCor2_UCSF.py",
                                       "--motioncor-exe", f"{MISSING}/motioncor2"],
                                      "makeddrawframestack",
                                      "makeDDAlignMotionCor2_UCSF.py: error: "
                                      f"{MISSING}/motioncor2 not found on PATH"),
    "ctffind4.py": (["ctffind4.py", "--ctffind-exe", f"{MISSING}/ctffind"], "ctfestimate",
                    f"ctffind4.py: error: CTFFIND executable {MISSING}/ctffind not found "
                    "on PATH"),
}


@pytest.mark.parametrize("program", list(COMMANDS))
def test_a_missing_engine_program_fails_at_start_and_the_job_ends_in_error(
        program, session, db, cli, tmp_path):
    command, jobtype, error = COMMANDS[program]
    session.add_images(2)
    sinedon.insert("projectexperiments", {"project": db.projectid, "session": session.id})
    rundir = tmp_path / "runs" / "run1"
    done = cli([*command, "--session", session.name, "--preset", "enn",
                "--rundir", str(rundir), "--no-wait", "--max-workers", "1"], env=db.env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(error), done.stderr
    assert "Traceback" not in done.stderr
    job = sinedon.get("ApAppionJobData", {"name": "run1.appionsub.job"})
    assert job["status"] == "E" and job["jobtype"] == jobtype
    assert sinedon.get("ApPathData", {"id": job["path"]})["path"] == str(rundir)
    assert sinedon.get("ScriptProgramRun", {"job": job["id"]}) is not None
    assert not Path(rundir, "failed.jsonl").exists()  # no image was attempted
