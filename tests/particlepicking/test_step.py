"""The picking step in the controller: run rows once, tasks, and an idempotent store."""

from __future__ import annotations

import pytest

from appion.base.errors import AppionError
from appion.base.step import RunContext
from appion.particlepicking.contract import DogOptions, Pick, PickOptions, PickResult
from appion.particlepicking.step import PickStep
from appion.particlepicking.store import results

from .session import DIAMETER_A, PIXEL_SIZE_A, make_session, nearest_distance

OPTIONS = PickOptions(dog=DogOptions(diameter_a=DIAMETER_A, bin=2, invert=True),
                      description="test picks")


def _run(tmp_path, session, name: str = "dogrun1") -> RunContext:
    rundir = tmp_path / "appion" / "extract" / name
    rundir.mkdir(parents=True, exist_ok=True)
    return RunContext(runname=name, rundir=rundir, projectid=1, session=session)


def _picks(image_id: int, count: int) -> PickResult:
    return PickResult(image_id=image_id, engine="dog", binning=2, picks=tuple(
        Pick(x=10.4 + i, y=20.6 + i, score=0.5 + i, diameter_a=80.0) for i in range(count)))


def test_init_run_writes_classic_rows_once(db, tmp_path):
    import sinedon
    session, _ = make_session(tmp_path, count=1)
    step, run = PickStep(OPTIONS), _run(tmp_path, session)
    step.init_run(run)
    step.init_run(run)
    (row,) = sinedon.filter("ApSelectionRunData")
    assert (row["name"], row["session"], row["program"]) == ("dogrun1", session["id"],
                                                             "dogpicker")
    assert row["description"] == "test picks" and not row["hidden"]
    assert sinedon.get("ApPathData", {"id": row["path"]})["path"] == str(run.rundir)
    assert row["params"] is None
    params = sinedon.get("ApDogParamsData", {"id": row["dogparams"]})
    assert (params["diam"], params["bin"], params["manual_thresh"], params["max_threshold"],
            params["invert"], params["max_peaks"], params["kfactor"], params["maxsize"],
            params["overlapmult"]) == (80, 2, 0.5, 2.5, 1, 1500, 1.2, 1, 1.5)
    assert params["median"] is None and params["num_slices"] is None
    assert sinedon.count("ApDogParamsData") == 1


def test_same_run_name_with_other_parameters_is_refused(db, tmp_path):
    import sinedon
    session, _ = make_session(tmp_path, count=1)
    PickStep(OPTIONS).init_run(_run(tmp_path, session))
    other = PickOptions(dog=DogOptions(diameter_a=DIAMETER_A, bin=4, invert=True))
    with pytest.raises(AppionError, match="already used"):
        PickStep(other).init_run(_run(tmp_path, session))
    assert sinedon.count("ApSelectionRunData") == 1


def test_prepare_reads_path_and_pixel_size(db, tmp_path):
    session, micrographs = make_session(tmp_path, count=2)
    step, run = PickStep(OPTIONS), _run(tmp_path, session)
    tasks = step.prepare(run, [m.image_id for m in micrographs])
    assert [t.image_id for t in tasks] == [m.image_id for m in micrographs]
    assert tasks[0].pixel_size_a == pytest.approx(PIXEL_SIZE_A)
    assert tasks[0].micrograph_path.endswith(f"rawdata/{micrographs[0].filename}.mrc")
    assert tasks[0].output_dir == str(run.rundir) and tasks[0].name == micrographs[0].filename
    record = step.dry_run_record(tasks[0])
    assert record["diameter_px"] == pytest.approx(DIAMETER_A / PIXEL_SIZE_A)
    assert record["dog"]["bin"] == 2
    assert not any(run.rundir.iterdir())  # prepare writes no file


def test_run_task_and_store_give_one_row_per_particle(db, tmp_path):
    import sinedon
    session, (micrograph,) = make_session(tmp_path, count=1)
    step, run = PickStep(OPTIONS), _run(tmp_path, session)
    step.init_run(run)
    (task,) = step.prepare(run, [micrograph.image_id])
    result = step.run_task(task)
    assert step.store(run, result) == []
    rows = sinedon.filter("ApParticleData", {"image": micrograph.image_id})
    assert len(rows) == len(micrograph.centres)
    for row in rows:
        assert isinstance(row["xcoord"], int) and isinstance(row["ycoord"], int)
        assert nearest_distance(row["xcoord"], row["ycoord"], micrograph.centres) <= 3
        assert row["label"] == "dog" and row["diameter"] == pytest.approx(DIAMETER_A)
        assert row["correlation"] > 0.5
    assert step.done_image_ids(run) == {micrograph.image_id}


def test_store_twice_keeps_one_set(db, tmp_path):
    import sinedon
    session, (micrograph,) = make_session(tmp_path, count=1)
    step, run = PickStep(OPTIONS), _run(tmp_path, session)
    step.store(run, _picks(micrograph.image_id, 3))  # the run's rows come first
    step.store(run, _picks(micrograph.image_id, 3))
    rows = sinedon.filter("ApParticleData")
    assert len(rows) == 3
    assert sorted((r["xcoord"], r["ycoord"]) for r in rows) == [(10, 21), (11, 22), (12, 23)]
    assert sinedon.count("ApSelectionRunData") == 1


def test_a_store_cut_short_is_not_done_and_is_redone_whole(db, tmp_path, monkeypatch):
    import sinedon
    session, (micrograph,) = make_session(tmp_path, count=1)
    step, run = PickStep(OPTIONS), _run(tmp_path, session)
    real_insert_many = sinedon.insert_many

    def crash_after_two(model, rows, **kwargs):  # MyISAM: what went in stays in
        real_insert_many(model, list(rows)[:2])
        raise ConnectionError("server gone")

    monkeypatch.setattr(sinedon, "insert_many", crash_after_two)
    with pytest.raises(ConnectionError):
        step.store(run, _picks(micrograph.image_id, 5))
    monkeypatch.setattr(sinedon, "insert_many", real_insert_many)
    if sinedon.count("ApParticleData"):  # MyISAM-like: partial rows are there
        assert step.done_image_ids(run) == set()
    assert micrograph.image_id not in PickStep(OPTIONS).done_image_ids(run)
    step.store(run, _picks(micrograph.image_id, 5))
    assert sinedon.count("ApParticleData") == 5
    assert PickStep(OPTIONS).done_image_ids(run) == {micrograph.image_id}


def test_an_image_without_particles_is_done(db, tmp_path):
    import sinedon
    session, (micrograph,) = make_session(tmp_path, count=1)
    step, run = PickStep(OPTIONS), _run(tmp_path, session)
    step.store(run, _picks(micrograph.image_id, 0))
    assert sinedon.count("ApParticleData") == 0
    assert PickStep(OPTIONS).done_image_ids(run) == {micrograph.image_id}
    step.store(run, _picks(micrograph.image_id, 2))  # picked again, now with particles
    assert sinedon.count("ApParticleData") == 2
    assert not (run.rundir / results.MARKER_FOLDER / f"{micrograph.image_id}.empty").exists()


def test_dry_run_and_no_commit_store_nothing(db, tmp_path):
    import sinedon
    session, (micrograph,) = make_session(tmp_path, count=1)
    run = RunContext(runname="dry", rundir=tmp_path, projectid=1, session=session,
                     dry_run=True)
    step = PickStep(OPTIONS)
    step.init_run(run)
    assert step.store(run, _picks(micrograph.image_id, 2)) == []
    assert sinedon.count("ApParticleData") == 0 and sinedon.count("ApSelectionRunData") == 0
