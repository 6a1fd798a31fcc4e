"""The CTF run's rows: written once the session's microscope is known."""

from __future__ import annotations

import pytest

from appion.base.step import RunContext
from appion.ctfestimation.contract import CtfOptions
from appion.ctfestimation.step import CtfStep
from appion.ctfestimation.store import results


def _step() -> CtfStep:
    return CtfStep(CtfOptions(engine="builtin", fieldsize=512, resmax=5.0))


def test_a_run_started_before_the_first_exposure_is_the_same_run_after_it(db, tmp_path):
    """The run's ``ApCtfFind4ParamsData`` row holds the microscope's Cs, which a session
    knows only from its first exposure.  A run started before it writes its rows with
    its first result, as classic does with its first image, so that the same command
    started again later is the same run (it was refused as "different CTF parameters",
    the stored Cs being NULL: the demo's dashboard and a live ``appion serve`` hit it
    whenever the run started before the microscope's first exposure)."""
    import sinedon
    from appion.simulation.session import add_exposure, start_session
    db.setup()
    session = start_session(tmp_path / "sim", "26nov30ctf", "k3", size="small", extras=False,
                            projectid=db.projectid)
    run = RunContext(runname="ctfrun", rundir=tmp_path / "run", projectid=db.projectid,
                     session=sinedon.get("SessionData", {"id": session.session_id}))
    early = _step()
    early.init_run(run)
    assert results.find_run("ctfrun", session.session_id) is None
    assert early.done_image_ids(run) == set()
    add_exposure(session, 0)
    later = _step()
    later.init_run(run)
    stored = results.find_run("ctfrun", session.session_id)
    assert stored is not None
    params = sinedon.get("ApCtfFind4ParamsData", {"id": stored["ctffind4_params"]})
    assert params["cs"] == pytest.approx(2.7)
    _step().init_run(run)  # started again: the same run, not refused
    assert sinedon.count("ApAceRunData", {"name": "ctfrun"}) == 1
