"""The drop-in CLI on a tiny session with the fake MotionCor2: rows, files, failures."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import tifffile

import sinedon
from appion.motioncorrection.calc.internal.orientation import gain_to_frame_orientation
from appion.motioncorrection.calc.internal.params import sum_to_leginon_orientation

from .session import NFRAMES, SHAPE, make_session


def _argv(tmp_path: Path, db, *extra: str) -> list[str]:
    return ["makeDDAlignMotionCor2_UCSF.py", "--session=s1", "--preset=enn",
            f"--projectid={db.projectid}", f"--rundir={tmp_path / 'run' / 'ddstack1'}",
            "--runname=ddstack1", "--doseweight", "--Patchrows=5", "--Patchcols=7",
            "--Bft_local=100", "--no-wait", "--max-workers=1", *extra]


def test_run_stores_everything_classic_stored(db, cli, tmp_path, fake_bin):
    tiny = make_session(tmp_path / "site", 3, missing_frames=1)
    env = {**db.env, "PATH": f"{fake_bin}:{db.env['PATH']}"}
    done = cli(_argv(tmp_path, db), env=env)
    assert done.returncode == 0, done.stderr
    # the exposure without frames failed with one line naming the file; the others ran
    assert f"{tiny.names[1]}.frames" in done.stderr + done.stdout
    run = sinedon.get("ApDDStackRunData", {"runname": "ddstack1"})
    params = sinedon.rows_by_ids("ApDDStackParamsData", [run["params"]])[run["params"]]
    assert params["method"] == "motioncor2" and params["align"]
    pairs = sinedon.filter("ApDDAlignImagePairData", {"ddstackrun": run["id"]})
    assert sorted({pair["source"] for pair in pairs}) == [tiny.image_ids[0], tiny.image_ids[2]]
    assert len(pairs) == 4  # -a and -a-DW for each
    images = sinedon.rows_by_ids("AcquisitionImageData", [pair["result"] for pair in pairs])
    names = sorted(row["filename"] for row in images.values())
    assert names == sorted([f"{tiny.names[0]}-a", f"{tiny.names[0]}-a-DW",
                            f"{tiny.names[2]}-a", f"{tiny.names[2]}-a-DW"])
    presets = {sinedon.rows_by_ids("PresetData", [row["preset"]])[row["preset"]]["name"]
               for row in images.values()}
    assert presets == {"enn-a", "enn-a-DW"}
    # the sum is back in Leginon's orientation, in the session's image path
    frames = tifffile.imread(tiny.frame_path / f"{tiny.names[0]}.frames.tif").astype(float)
    with mrcfile.open(tiny.image_path / f"{tiny.names[0]}-a.mrc") as mrc:
        assert mrc.data.shape == SHAPE
        gain = mrcfile.read(str(tmp_path / "site/leginon/ref/rawdata/ref_norm.mrc"))
        gained = frames.sum(axis=0) * gain_to_frame_orientation(gain, 1, 1)
        expected = sum_to_leginon_orientation(gained, 1, 1, False)
        np.testing.assert_allclose(mrc.data, expected, rtol=1e-5)
    aligned = [row for row in images.values() if row["filename"] == f"{tiny.names[0]}-a"][0]
    trajectory = sinedon.get("ApDDFrameTrajectoryData", {"image": aligned["id"]})
    assert trajectory["number_of_positions"] == NFRAMES
    assert len(eval(trajectory["pos_x"])) == NFRAMES
    assert trajectory["reference_index"] == NFRAMES // 2
    stats = sinedon.get("ApDDAlignStatsData", {"image": aligned["id"]})
    assert stats["trajectory"] == trajectory["id"] and stats["apix"] > 0
    ice = sinedon.filter("ObjIceThicknessData", {"thickness": 30.0})
    assert len(ice) == 3  # the source and both aligned images
    rundir = tmp_path / "run" / "ddstack1"
    log = (rundir / f"{tiny.names[0]}_st_Log.txt").read_text()
    assert log.startswith("Sum Frame #000 - #005 (Reference Frame #003):")
    assert log.count("with xy shift:") == NFRAMES
    assert (rundir / f"{tiny.names[0]}_st_Log.motioncor2.txt").exists()
    assert len(list(rundir.glob("norm-*.mrc"))) == 1
    assert len(list(rundir.glob("defect-*.mrc"))) == 1

    # a second run of the same command finds everything done and adds nothing
    again = cli(_argv(tmp_path, db), env=env)
    assert again.returncode == 0, again.stderr
    assert len(sinedon.filter("ApDDAlignImagePairData", {"ddstackrun": run["id"]})) == 4


def test_store_twice_leaves_one_set_of_rows(db, tmp_path, fake_bin):
    import dataclasses

    from appion.base.step import RunContext
    from appion.motioncorrection.contract import MotionCorOptions, MotionCorStepOptions
    from appion.motioncorrection.step import MotionCorrectionStep
    tiny = make_session(tmp_path / "site", 1)
    rundir = tmp_path / "run"
    rundir.mkdir()
    session = sinedon.get("SessionData", {"id": tiny.session_id})
    run = RunContext(runname="run", rundir=rundir, projectid=db.projectid, session=session,
                     dry_run=False)
    step = MotionCorrectionStep(MotionCorStepOptions(
        motioncor=MotionCorOptions(doseweight=True), preset="enn"))
    step.init_run(run)
    [task] = step.prepare(run, tiny.image_ids)
    result = step.run_task(task)
    first = step.store(run, result)
    second = step.store(run, result)
    assert first == second
    # appion pipeline --ctf-on-dw: the next step gets -a-DW
    step = MotionCorrectionStep(dataclasses.replace(step.options, hand_on_dw=True))
    (dw_id,) = step.store(run, result)
    names = {row["id"]: row["filename"] for row in sinedon.filter("AcquisitionImageData")}
    assert names[first[0]].endswith("-a") and names[dw_id].endswith("-a-DW")
    assert sinedon.count("ApDDAlignImagePairData") == 2
    assert sinedon.count("ApDDFrameTrajectoryData") == 1
    assert sinedon.count("AcquisitionImageData") == 3
    assert step.done_image_ids(run) == set(tiny.image_ids)


def test_dry_run_prints_one_line_per_pending_image(db, cli, tmp_path):
    tiny = make_session(tmp_path / "site", 2)
    done = cli(_argv(tmp_path, db, "--dry-run", "--engine=motioncor3"), env=db.env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [record["image_id"] for record in records] == tiny.image_ids
    assert {record["engine"] for record in records} == {"motioncor3"}
    assert records[0]["args"][:2] == ["-InTiff",
                                      str(tiny.frame_path / f"{tiny.names[0]}.frames.tif")]
    assert not (tmp_path / "run").exists()
