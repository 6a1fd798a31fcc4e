"""Everything each step tells about one image for its page (``DetailedStep.details``),
read back after ``appion pipeline --steps motioncor,ctf,pick`` processed a small
simulated session with the built-in engines.

The details must agree with the stored rows (the trajectory in Å is
``ApDDFrameTrajectoryData`` × ``ApDDAlignStatsData.apix``; the parameters are the run's
parameter rows; the particle count is ``ApParticleData``'s), name files that exist,
carry the worker-made profile JSON's content, be plain JSON, and be ``{}`` for an image
the run has not stored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from appion.base.step import DetailedStep, ReportingStep, RunContext, step_details
from appion.ctfestimation.calc.internal.display import display_paths as ctf_paths
from appion.motioncorrection.calc.internal.display import aligned_output_path, display_paths
from appion.motioncorrection.calc.internal.drift import trajectory_positions
from tests.facility.chain import NO_SUCH_IMAGE, RUNNAME, chain_steps, process_session
from tests.facility.fake_steps import QuietReportingStep

SESSION = "sim25mar03v"


def test_the_steps_are_detailed_and_a_step_without_details_tells_nothing():
    for step in chain_steps():
        assert isinstance(step, DetailedStep), step.name

    step = QuietReportingStep()
    assert isinstance(step, ReportingStep) and not isinstance(step, DetailedStep)
    run = RunContext(runname="r", rundir=Path("r"), projectid=1, session={"id": 1})
    assert step_details(step, run, 1) == {}


@pytest.fixture
def processed(db, tmp_path, cli):
    """The simulated session (2 exposures) after the real ``appion pipeline`` run."""
    return process_session(db, tmp_path, cli, SESSION)


def _file(path: str | None) -> Path:
    assert path is not None and os.path.isabs(path), path
    assert Path(path).is_file(), path
    return Path(path)


def _plain(row: dict) -> dict:
    return {key: value for key, value in row.items() if key not in ("id", "def_timestamp")}


def _check_motion(motion, run, session) -> dict[int, int]:
    """The motion details of each exposure; ``{exposure id: aligned image id}``."""
    import sinedon
    (stack_run,) = sinedon.filter("ApDDStackRunData", {"runname": RUNNAME})
    params = sinedon.rows_by_ids("ApDDStackParamsData", [stack_run["params"]])
    aligned_ids = {}
    for exposure in session.images:
        details = motion.details(run, exposure.image_id)
        assert sorted(details) == ["files", "parameters", "trajectory_a"]
        json.dumps(details, allow_nan=False)
        pairs = sinedon.filter("ApDDAlignImagePairData", {"source": exposure.image_id})
        images = sinedon.rows_by_ids("AcquisitionImageData", [p["result"] for p in pairs])
        by_name = {row["filename"]: row for row in images.values()}
        plain = by_name[f"{exposure.filename}-a"]
        aligned_ids[exposure.image_id] = plain["id"]
        (trajectory,) = sinedon.filter("ApDDFrameTrajectoryData", {"image": plain["id"]})
        (stats,) = sinedon.filter("ApDDAlignStatsData", {"image": plain["id"]})
        positions = trajectory_positions(trajectory["pos_x"], trajectory["pos_y"])
        assert len(details["trajectory_a"]) == exposure.truth["nframes"] == len(positions)
        for (x, y), (xa, ya) in zip(positions, details["trajectory_a"]):
            assert xa == pytest.approx(x * stats["apix"], abs=1e-3)
            assert ya == pytest.approx(y * stats["apix"], abs=1e-3)
        assert any(abs(x) > 0.1 for x, _ in details["trajectory_a"])  # it drifted
        files = details["files"]
        image_path = Path(run.session["image_path"])
        assert _file(files["aligned"]) == image_path / f"{exposure.filename}-a.mrc"
        assert _file(files["aligned_dw"]) == image_path / f"{exposure.filename}-a-DW.mrc"
        assert _file(files["log"]) == run.rundir / f"{exposure.filename}_st_Log.txt"
        thumbnail, preview = display_paths(aligned_output_path(str(run.rundir),
                                                               exposure.filename))
        assert (_file(files["thumbnail"]), _file(files["preview"])) == (Path(thumbnail),
                                                                        Path(preview))
        assert details["parameters"] == _plain(params[stack_run["params"]])
        assert details["parameters"]["method"] == "builtin"
        assert details["parameters"]["preset"] == "enn" and details["parameters"]["align"]
    return aligned_ids


def _check_ctf(ctf, run, aligned_ids) -> None:
    import sinedon
    (ace_run,) = sinedon.filter("ApAceRunData", {"name": RUNNAME})
    params = sinedon.rows_by_ids("ApCtfFind4ParamsData", [ace_run["ctffind4_params"]])
    for image_id in aligned_ids.values():
        details = ctf.details(run, image_id)
        assert sorted(details) == ["files", "parameters", "profile"]
        json.dumps(details, allow_nan=False)
        (row,) = sinedon.filter("ApCtfData", {"image": image_id})
        image = sinedon.rows_by_ids("AcquisitionImageData", [image_id])[image_id]
        files = details["files"]
        spectrum, profile = ctf_paths(str(run.rundir), image["filename"])
        assert _file(files["spectrum"]) == Path(spectrum)
        assert _file(files["profile"]) == Path(profile)
        assert _file(files["micrograph"]).name == f"{image['filename']}.mrc"
        for graph in ("graph1", "graph2", "graph3", "graph4"):
            assert _file(files[graph]) == run.rundir / "opimages" / row[graph]
        assert details["profile"] == json.loads(Path(profile).read_text())
        assert details["profile"]["resolution_a"] == pytest.approx(row["ctffind4_resolution"],
                                                                   rel=1e-5)
        assert details["parameters"] == _plain(params[ace_run["ctffind4_params"]])
        assert details["parameters"]["fieldsize"] == 512
        assert details["parameters"]["ampcontrast"] == pytest.approx(0.07)
    # without the profile file, the rest is still told
    first = next(iter(aligned_ids.values()))
    Path(ctf.details(run, first)["files"]["profile"]).unlink()
    details = ctf.details(run, first)
    assert details["profile"] is None and details["files"]["profile"] is None
    assert details["files"]["spectrum"] is not None


def _check_pick(pick, run, aligned_ids) -> None:
    import sinedon
    (selection,) = sinedon.filter("ApSelectionRunData", {"name": RUNNAME})
    params = sinedon.rows_by_ids("ApDogParamsData", [selection["dogparams"]])
    for image_id in aligned_ids.values():
        details = pick.details(run, image_id)
        json.dumps(details, allow_nan=False)
        stored = sinedon.count("ApParticleData",
                               {"selectionrun": selection["id"], "image": image_id})
        assert details == {"particles": stored,
                           "parameters": _plain(params[selection["dogparams"]])}
        assert stored > 0
        assert details["parameters"]["diam"] == 60 and details["parameters"]["bin"] == 2


def test_details_agree_with_the_stored_rows(processed):
    session, run = processed
    motion, ctf, pick = chain_steps()
    aligned_ids = _check_motion(motion, run, session)
    _check_ctf(ctf, run, aligned_ids)
    _check_pick(pick, run, aligned_ids)

    # an unknown image, an image the step does not take, another run: nothing
    exposure_id = session.images[0].image_id
    aligned_id = aligned_ids[exposure_id]
    other = RunContext(runname="other", rundir=run.rundir.parent / "other",
                       projectid=run.projectid, session=run.session)
    for step, taken in ((motion, exposure_id), (ctf, aligned_id), (pick, aligned_id)):
        assert step.details(run, NO_SUCH_IMAGE) == {}, step.name
        assert step.details(other, taken) == {}, step.name
        assert step_details(step, run, taken) == step.details(run, taken)
    assert motion.details(run, aligned_id) == {}  # an aligned image is not its input
    assert ctf.details(run, exposure_id) == {}
    assert pick.details(run, exposure_id) == {}
