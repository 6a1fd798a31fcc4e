"""What each step reports of what it stored (``ReportingStep``), read back from the
classic tables after ``appion pipeline --steps motioncor,ctf,pick`` processed a small
simulated session with the built-in engines.

The summaries must agree with the stored rows (``ApDDFrameTrajectoryData`` × ``apix``,
``ApCtfData`` in metres, ``ApParticleData`` counts) and with the simulator's truth
(defocus within 300 Å: see tests/ctfestimation/test_simulated_session.py), leave out
the images the run has not stored, and ``classic_runs`` must name the run in its
session and nothing in another.
"""

from __future__ import annotations

import math

import pytest

from appion.base.step import ReportingStep, RunContext
from appion.ctfestimation.calc.internal.summary import ctf_summary
from appion.motioncorrection.calc.internal.drift import (
    parse_sequence,
    path_length,
    total_drift_a,
    trajectory_positions,
)
from appion.particlepicking.contract import PickResult
from appion.particlepicking.store.results import MARKER_FOLDER
from tests.facility.chain import NO_SUCH_IMAGE, RUNNAME, chain_steps, process_session
from tests.facility.fake_steps import PlainStep

SESSION = "sim25mar03s"
DEFOCUS_TOLERANCE_A = 300.0
#: The simulator's defocus range (1–3 µm) widened by half its largest astigmatism (800 Å).
DEFOCUS_RANGE_A = (1.0e4 - 400.0, 3.0e4 + 400.0)


def test_the_three_steps_report_and_a_step_without_the_methods_does_not():
    for step in chain_steps():
        assert isinstance(step, ReportingStep), step.name

    assert not isinstance(PlainStep(), ReportingStep)


@pytest.fixture
def processed(db, tmp_path, cli):
    """The simulated session (2 exposures) after the real ``appion pipeline`` run."""
    return process_session(db, tmp_path, cli, SESSION)


def _aligned(session) -> dict[int, dict[str, dict]]:
    """``{exposure id: {"-a": image row, "-a-DW": image row}}`` from the stored pairs."""
    import sinedon
    found: dict[int, dict[str, dict]] = {}
    for exposure in session.images:
        pairs = sinedon.filter("ApDDAlignImagePairData", {"source": exposure.image_id})
        images = sinedon.rows_by_ids("AcquisitionImageData", [p["result"] for p in pairs])
        found[exposure.image_id] = {("-a-DW" if row["filename"].endswith("-DW") else "-a"): row
                                    for row in images.values()}
    return found


def test_summaries_agree_with_the_stored_rows_and_the_truth(processed):
    import sinedon
    session, run = processed
    motion, ctf, pick = chain_steps()
    aligned = _aligned(session)
    exposure_ids = [exposure.image_id for exposure in session.images]
    plain_ids = [aligned[i]["-a"]["id"] for i in exposure_ids]
    assert len(set(plain_ids)) == 2

    # motion correction: one summary per exposure, keyed by the exposure id
    motions = motion.summaries(run, [*exposure_ids, NO_SUCH_IMAGE])
    assert sorted(motions) == sorted(exposure_ids)
    for exposure in session.images:
        summary = motions[exposure.image_id]
        plain = aligned[exposure.image_id]["-a"]
        assert summary["aligned_image_id"] == plain["id"]
        assert summary["aligned_filename"] == plain["filename"]
        assert summary["aligned_filename"].endswith("-a")
        assert summary["frames"] == exposure.truth["nframes"]
        (trajectory,) = sinedon.filter("ApDDFrameTrajectoryData", {"image": plain["id"]})
        (stats,) = sinedon.filter("ApDDAlignStatsData", {"image": plain["id"]})
        positions = trajectory_positions(trajectory["pos_x"], trajectory["pos_y"])
        assert len(positions) == exposure.truth["nframes"]
        expected = path_length(positions) * stats["apix"]
        assert summary["drift_total_a"] == pytest.approx(expected, abs=1e-3)
        assert summary["drift_total_a"] > 0
        # the simulated drift (raw frame pixels of truth's pixel size): the built-in
        # alignment finds it within a few per cent (measured 4 %)
        shifts = [tuple(shift) for shift in exposure.truth["shifts_px"]]
        true_drift = path_length(shifts) * exposure.truth["pixel_size_a"]
        assert summary["drift_total_a"] == pytest.approx(true_drift, rel=0.25)
    assert set(motion.summaries(run, plain_ids)) == set()  # aligned ids are not its input
    assert motion.summaries(run, []) == {}

    # CTF: one per aligned micrograph, Å and degrees from ApCtfData's metres
    ctfs = ctf.summaries(run, [*plain_ids, exposure_ids[0], NO_SUCH_IMAGE])
    assert sorted(ctfs) == sorted(plain_ids)
    for exposure in session.images:
        image_id = aligned[exposure.image_id]["-a"]["id"]
        summary = ctfs[image_id]
        (row,) = sinedon.filter("ApCtfData", {"image": image_id})
        assert summary["defocus1_a"] == pytest.approx(row["defocus1"] * 1e10, abs=0.1)
        assert summary["defocus2_a"] == pytest.approx(row["defocus2"] * 1e10, abs=0.1)
        assert 0 < summary["defocus1_a"] <= summary["defocus2_a"]
        for key in ("defocus1_a", "defocus2_a"):
            assert DEFOCUS_RANGE_A[0] < summary[key] < DEFOCUS_RANGE_A[1]
        truth = exposure.truth  # classic: defocus1 the smaller
        assert summary["defocus1_a"] == pytest.approx(truth["defocus_2_a"],
                                                      abs=DEFOCUS_TOLERANCE_A)
        assert summary["defocus2_a"] == pytest.approx(truth["defocus_1_a"],
                                                      abs=DEFOCUS_TOLERANCE_A)
        assert summary["astigmatism_angle_deg"] == pytest.approx(row["angle_astigmatism"])
        assert -90.0 < summary["astigmatism_angle_deg"] <= 90.0
        assert summary["resolution_source"] == "ctffind4_resolution"
        assert summary["resolution_a"] == pytest.approx(row["ctffind4_resolution"])
        assert 2.0 < summary["resolution_a"] < 50.0
        assert summary["cross_correlation"] == pytest.approx(row["cross_correlation"])
        assert summary["amplitude_contrast"] == pytest.approx(0.07)

    # picking: the particle count of this run's selection run per micrograph
    picks = pick.summaries(run, [*plain_ids, NO_SUCH_IMAGE])
    (selection,) = sinedon.filter("ApSelectionRunData", {"name": RUNNAME})
    assert sorted(picks) == sorted(plain_ids)
    for image_id in plain_ids:
        stored = sinedon.count("ApParticleData",
                               {"selectionrun": selection["id"], "image": image_id})
        assert picks[image_id] == {"particles": stored}
        assert stored > 0

    # a micrograph picked with no particle counts 0; one whose store was interrupted
    # (its pending marker still there) is not done, so it is left out
    first, second = plain_ids
    pick.store(run, PickResult(image_id=first, engine="dog", binning=2, picks=()))
    (run.rundir / MARKER_FOLDER / f"{second}.pending").write_text(f"{selection['id']}\n")
    assert pick.summaries(run, plain_ids) == {first: {"particles": 0}}

    # another run of the session has stored nothing
    other = RunContext(runname="other", rundir=run.rundir.parent / "other",
                       projectid=run.projectid, session=run.session)
    for step in (motion, ctf, pick):
        assert step.summaries(other, [*exposure_ids, *plain_ids]) == {}


def test_classic_runs_name_the_session_runs_only(processed):
    import sinedon
    session, run = processed
    motion, ctf, pick = chain_steps()
    for step in (motion, ctf, pick):
        assert step.classic_runs(session.session_id) == [RUNNAME], step.name
        assert step.classic_runs(session.reference_session_id) == [], step.name

    # runs the classic web started: a CTF run and a raw frame stack (not an alignment)
    path = sinedon.set("ApPathData", {"path": str(run.rundir.parent / "ctf2")})
    params = sinedon.get("ApAceRunData", {"name": RUNNAME})["ctffind4_params"]
    sinedon.insert("ApAceRunData", {"name": "ctffind4run2", "session": session.session_id,
                                    "path": path, "ctffind4_params": params, "hidden": True})
    raw = sinedon.set("ApDDStackParamsData", {"preset": "enn", "align": False, "bin": 1})
    sinedon.insert("ApDDStackRunData", {"runname": "rawstack1", "params": raw,
                                        "session": session.session_id, "path": path})
    assert ctf.classic_runs(session.session_id) == [RUNNAME, "ctffind4run2"]
    assert motion.classic_runs(session.session_id) == [RUNNAME]


def test_without_the_picking_tables_picking_reports_nothing(sqlite_db, tmp_path):
    from django.db import connections

    import sinedon
    sqlite_db.setup()
    with connections[sinedon.APPION].cursor() as cursor:
        cursor.execute("DROP TABLE `ApParticleData`")
        cursor.execute("DROP TABLE `ApSelectionRunData`")
    pick = chain_steps()[2]
    run = RunContext(runname=RUNNAME, rundir=tmp_path, projectid=sqlite_db.projectid,
                     session={"id": 1})
    assert pick.classic_runs(1) == []
    assert pick.summaries(run, [1, 2]) == {}


def test_stored_values_the_summaries_cannot_read_become_none():
    # a site whose ApCtfData lacks the CTFFIND columns (sinedon reads them as None)
    row = {"defocus1": 1.5e-6, "defocus2": -1.7e-6, "angle_astigmatism": 12.5,
           "ctffind4_resolution": None, "resolution_50_percent": 6.5,
           "cross_correlation": None, "amplitude_contrast": 0.1, "confidence": float("nan")}
    summary = ctf_summary(row)
    assert summary["defocus1_a"] == pytest.approx(15000.0)
    assert summary["defocus2_a"] == pytest.approx(17000.0)
    assert (summary["resolution_a"], summary["resolution_source"]) == (
        6.5, "resolution_50_percent")
    assert summary["cross_correlation"] is None and summary["confidence"] is None
    assert ctf_summary({})["defocus1_a"] is None
    # trajectories: classic's repr of a list or tuple; anything else is unreadable
    assert parse_sequence("(0.0, 3.0, 3.0)") == [0.0, 3.0, 3.0]
    assert parse_sequence("[1, 'x']") is None and parse_sequence("array([1.])") is None
    positions = trajectory_positions("[0.0, 3.0, 3.0]", "[0.0, 4.0, 0.0]")
    assert path_length(positions) == pytest.approx(9.0)
    assert total_drift_a(positions, 0.5) == pytest.approx(4.5)
    assert total_drift_a(positions, None) is None
    assert trajectory_positions("[0.0]", "[0.0, 1.0]") is None
    assert math.isclose(total_drift_a([(0.0, 0.0)], 1.0), 0.0)
