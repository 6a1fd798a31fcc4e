"""dogPicker.py and ``appion pick`` through the real console scripts."""

from __future__ import annotations

import json

import mrcfile
import numpy as np

from .session import (
    CENTRES,
    DIAMETER_A,
    PIXEL_SIZE_A,
    make_session,
    nearest_distance,
    particle_image,
)

COMMON = ["--projectid", "1", "--preset", "enn-a-DW", "--diam", str(int(DIAMETER_A)),
          "--bin", "2", "--invert", "--no-wait", "--cluster", "local", "--max-workers", "1"]


def test_dogpicker_dry_run_prints_tasks_and_writes_nothing(db, tmp_path, cli):
    import sinedon
    session, micrographs = make_session(tmp_path, count=2)
    rundir = tmp_path / "appion" / "extract" / "dry1"
    done = cli(["dogPicker.py", "--session", session["name"], "--rundir", str(rundir),
                "--dry-run", *COMMON], env=db.env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["image_id"] for r in records] == [m.image_id for m in micrographs]
    assert records[0]["engine"] == "dog" and records[0]["dog"]["invert"] is True
    db.setup()
    assert sinedon.count("ApSelectionRunData") == 0 and sinedon.count("ApParticleData") == 0


def test_dogpicker_stores_classic_rows_once(db, tmp_path, cli):
    import sinedon
    session, micrographs = make_session(tmp_path, count=2)
    rundir = tmp_path / "appion" / "extract" / "dogrun1"
    args = ["dogPicker.py", "--session", session["name"], "--rundir", str(rundir),
            "--runname", "dogrun1", *COMMON]
    done = cli(args, env=db.env)
    assert done.returncode == 0, done.stderr
    db.setup()
    (run,) = sinedon.filter("ApSelectionRunData")
    assert (run["name"], run["program"], run["session"]) == ("dogrun1", "dogpicker",
                                                             session["id"])
    assert sinedon.get("ApPathData", {"id": run["path"]})["path"] == str(rundir)
    params = sinedon.get("ApDogParamsData", {"id": run["dogparams"]})
    assert (params["diam"], params["bin"], params["invert"]) == (80, 2, 1)
    rows = sinedon.filter("ApParticleData", {"selectionrun": run["id"]})
    for micrograph in micrographs:
        mine = [row for row in rows if row["image"] == micrograph.image_id]
        assert len(mine) == len(micrograph.centres)
        for row in mine:
            assert nearest_distance(row["xcoord"], row["ycoord"], micrograph.centres) <= 3
    jobs = sinedon.filter("ApAppionJobData")
    assert [job["status"] for job in jobs] == ["D"]

    again = cli([*args, "--no-continue"], env=db.env)  # picked again, never duplicated
    assert again.returncode == 0, again.stderr
    db.setup()
    assert sinedon.count("ApParticleData") == len(rows)

    other = cli([*args, "--bin", "4"], env=db.env)  # the same name, other parameters
    assert other.returncode != 0
    assert "already used" in other.stderr and "Traceback" not in other.stderr


def test_dogpicker_without_diameter_is_a_one_line_error(db, tmp_path, cli):
    session, _ = make_session(tmp_path, count=1)
    done = cli(["dogPicker.py", "--session", session["name"], "--projectid", "1",
                "--rundir", str(tmp_path / "run1")], env=db.env)
    assert done.returncode != 0
    assert "--diam is required" in done.stderr and "Traceback" not in done.stderr


def test_appion_pick_one_micrograph_as_json(tmp_path, cli):
    path = tmp_path / "micrograph.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(particle_image(CENTRES))
    done = cli(["appion", "pick", str(path), "--apix", str(PIXEL_SIZE_A), "--diam",
                str(int(DIAMETER_A)), "--bin", "2", "--invert", "--json"])
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["engine"] == "dog" and answer["binning"] == 2
    found = sorted((round(p["x"]), round(p["y"])) for p in answer["picks"])
    assert len(found) == len(CENTRES)
    assert all(nearest_distance(x, y, CENTRES) <= 3 for x, y in found)
    assert not list(tmp_path.glob("*.pik")) and sorted(p.name for p in tmp_path.iterdir()) == [
        "micrograph.mrc"]


def test_appion_pick_refuses_a_blank_micrograph(tmp_path, cli):
    path = tmp_path / "blank.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((256, 256), dtype=np.float32))
    done = cli(["appion", "pick", str(path), "--apix", "2", "--diam", "80"])
    assert done.returncode != 0
    assert "blank.mrc" in done.stderr and "Traceback" not in done.stderr
