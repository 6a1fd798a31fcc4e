"""`appion pipeline --steps motioncor,ctf,pick` (and motioncor,pick) on a simulated session."""

from __future__ import annotations

import pytest

simulation = pytest.importorskip("appion.simulation.session",
                                 reason="the simulator has not landed yet")

SESSION = "sim25jan01p"
FLAGS = ["--motioncor-engine", "builtin", "--doseweight", "--diam", "60", "--pick-bin", "2",
         "--invert", "--no-wait", "--max-workers", "1"]


@pytest.fixture
def k3_session(tmp_path):
    return simulation.simulate_session(tmp_path / "sim", SESSION, camera="k3", exposures=2,
                                       size="small", extras=False)


def _aligned_ids(session, label: str) -> set[int]:
    import sinedon
    ids = set()
    for exposure in session.images:
        pairs = sinedon.filter("ApDDAlignImagePairData", {"source": exposure.image_id})
        images = sinedon.rows_by_ids("AcquisitionImageData", [p["result"] for p in pairs])
        ids |= {i for i, row in images.items() if row["filename"].endswith(label)}
    return ids


@pytest.mark.parametrize("steps", ["motioncor,ctf,pick", "motioncor,pick"])
def test_pipeline_ends_with_particles_on_each_micrograph(sqlite_db, k3_session, tmp_path, cli,
                                                         steps):
    import sinedon
    rundir = tmp_path / "appion" / SESSION / "pipeline" / "chain1"
    extra = ["--ctf-engine", "builtin", "--fieldsize", "512", "--resmax", "5"] \
        if "ctf" in steps else []
    done = cli(["appion", "pipeline", f"--projectid={sqlite_db.projectid}",
                f"--session={SESSION}", "--preset=enn", f"--rundir={rundir}",
                "--runname=chain1", "--steps", steps, *FLAGS, *extra], env=sqlite_db.env)
    assert done.returncode == 0, done.stderr
    sqlite_db.setup()
    handed_on = _aligned_ids(k3_session, "-a")  # motion hands on the -a sum
    assert len(handed_on) == len(k3_session.images)
    (run,) = sinedon.filter("ApSelectionRunData")
    assert (run["name"], run["program"]) == ("chain1", "dogpicker")
    rows = sinedon.filter("ApParticleData", {"selectionrun": run["id"]})
    assert {row["image"] for row in rows} == handed_on
    if "ctf" in steps:
        assert {row["image"] for row in sinedon.filter("ApCtfData")} == handed_on
