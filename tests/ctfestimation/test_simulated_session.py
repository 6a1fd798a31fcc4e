"""Motion correction then CTF, through the real console scripts, on a simulated K3 session.

The simulator writes four 1024×720 K3 exposures (0.826 Å/px, 50 e/Å², defocus
1–3 µm, astigmatism 100–800 Å) with their ground truth; built-in motion correction
makes the dose-weighted sums (``enn-a-DW``) and built-in CTF estimation fits them,
as classic ``ctffind4.py`` would be run on them (search centred on the scope's
defocus, ∓ 0.1 µm × 25, classic ``--dast``), with the classic default ``--fieldsize
1024`` (larger than the micrographs: 720-pixel tiles are used) and ``--resmax 5``
(at 1 µm the 50–15 Å default holds no Thon-ring zero at all).

Tolerances.  At this dose a 720-pixel tile fitted to 5 Å pins each defocus to
about 100 Å (measured: ≤ 100 Å over eight exposures); 300 Å is a quarter of a
ring at 5 Å for 2 µm (a ring is 1/(λ s²) ≈ 1270 Å), so a wrong ring or an escaped
refinement (the bug: 76 and 97 µm) cannot pass.  The azimuth of an astigmatism
``A`` is known to about ``½·δA/A`` rad; it is checked within 15° where ``A`` ≥ 250 Å.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

simulation = pytest.importorskip("appion.simulation.session",
                                 reason="the simulator has not landed yet")

SESSION = "sim25jan01c"
DEFOCUS_TOLERANCE_A = 300.0
AZIMUTH_TOLERANCE_DEG = 15.0
MIN_ASTIGMATISM_FOR_AZIMUTH_A = 250.0
CTF_FLAGS = ["--resmax", "5", "--no-wait", "--max-workers", "1"]


@pytest.fixture
def k3_session(tmp_path):
    return simulation.simulate_session(tmp_path / "sim", SESSION, camera="k3", exposures=4,
                                       size="small", extras=False)


def _axis_difference(a: float, b: float) -> float:
    return abs((a - b + 90.0) % 180.0 - 90.0)


def _aligned(exposure, label: str = "-a-DW") -> dict:
    import sinedon
    pairs = sinedon.filter("ApDDAlignImagePairData", {"source": exposure.image_id})
    images = sinedon.rows_by_ids("AcquisitionImageData", [pair["result"] for pair in pairs])
    (image,) = [row for row in images.values() if row["filename"].endswith(label)]
    return image


def _check_against_truth(session, label: str = "-a-DW") -> None:
    """Every exposure's aligned image has exactly one ApCtfData row, close to the truth."""
    import sinedon
    rows = sinedon.filter("ApCtfData")
    assert len(rows) == len(session.images)
    for exposure in session.images:
        image = _aligned(exposure, label)
        (row,) = [row for row in rows if row["image"] == image["id"]]
        truth = exposure.truth
        # Classic ApCtfData: metres, defocus1 the smaller, angle_astigmatism its direction.
        assert row["defocus1"] * 1e10 == pytest.approx(truth["defocus_2_a"],
                                                      abs=DEFOCUS_TOLERANCE_A)
        assert row["defocus2"] * 1e10 == pytest.approx(truth["defocus_1_a"],
                                                      abs=DEFOCUS_TOLERANCE_A)
        assert -90.0 < row["angle_astigmatism"] <= 90.0
        astigmatism = truth["defocus_1_a"] - truth["defocus_2_a"]
        if astigmatism >= MIN_ASTIGMATISM_FOR_AZIMUTH_A:
            expected = truth["astigmatism_azimuth_leginon_deg"] + 90.0
            assert _axis_difference(row["angle_astigmatism"], expected) < AZIMUTH_TOLERANCE_DEG
        assert row["defocusinit"] == pytest.approx(
            0.5e-10 * (truth["defocus_1_a"] + truth["defocus_2_a"]))


def _motioncor(session, tmp_path: Path, db, cli) -> None:
    rundir = tmp_path / "appion" / SESSION / "ddstack" / "ddstack1"
    done = cli(["makeDDAlignMotionCor2_UCSF.py", f"--session={session.name}", "--preset=enn",
                f"--projectid={db.projectid}", f"--rundir={rundir}", "--runname=ddstack1",
                "--engine", "builtin", "--doseweight", "--no-wait", "--max-workers=1"],
               env=db.env)
    assert done.returncode == 0, done.stderr


def test_motioncor_then_ctffind4_builtin_matches_the_truth(db, k3_session, tmp_path, cli):
    import sinedon
    _motioncor(k3_session, tmp_path, db, cli)
    rundir = tmp_path / "appion" / SESSION / "ctf" / "ctfrun1"
    args = ["ctffind4.py", f"--session={SESSION}", "--preset", "enn-a-DW",
            f"--projectid={db.projectid}", f"--rundir={rundir}", "--runname=ctfrun1",
            "--engine", "builtin", *CTF_FLAGS]
    done = cli(args, env=db.env)
    assert done.returncode == 0, done.stderr
    # --fieldsize 1024 (the default) does not fit 1024×720: said once, and stored as used.
    assert (done.stdout + done.stderr).count("--fieldsize 1024 is larger") == 1
    db.setup()
    _check_against_truth(k3_session)
    run = sinedon.get("ApAceRunData", {"name": "ctfrun1"})
    params = sinedon.get("ApCtfFind4ParamsData", {"id": run["ctffind4_params"]})
    assert params["fieldsize"] == 720

    again = cli(args, env=db.env)  # the same command line: the same run, nothing new
    assert again.returncode == 0, again.stderr
    db.setup()
    assert sinedon.count("ApCtfData") == len(k3_session.images)
    assert sinedon.count("ApAceRunData") == 1


def test_pipeline_motioncor_ctf_gives_one_ctf_per_aligned_image(sqlite_db, k3_session,
                                                                 tmp_path, cli):
    import sinedon
    rundir = tmp_path / "appion" / SESSION / "pipeline" / "chain1"
    done = cli(["appion", "pipeline", f"--projectid={sqlite_db.projectid}",
                f"--session={SESSION}", "--preset=enn", f"--rundir={rundir}",
                "--runname=chain1", "--steps", "motioncor,ctf", "--motioncor-engine",
                "builtin", "--ctf-engine", "builtin", "--doseweight", "--fieldsize", "512",
                *CTF_FLAGS], env=sqlite_db.env)
    assert done.returncode == 0, done.stderr
    sqlite_db.setup()
    # with dose weighting, CTF is estimated on the non-weighted -a sum (classic practice)
    handed_on = {_aligned(exposure, "-a")["id"] for exposure in k3_session.images}
    rows = sinedon.filter("ApCtfData")
    assert sorted(row["image"] for row in rows) == sorted(handed_on)
    _check_against_truth(k3_session, "-a")
    status = cli(["appion", "status", f"--rundir={rundir}", "--json"], env=sqlite_db.env)
    assert status.returncode == 0, status.stderr
    steps = json.loads(status.stdout)["steps"]
    assert (steps["motioncor"]["done"], steps["ctf"]["done"]) == (4, 4)
    assert steps["ctf"]["failed"] == 0
