"""ctffind4.py and gctf.py through the real console scripts, on a small session with known CTFs."""

from __future__ import annotations

import json
import math

import pytest

from .session import fake_env, make_session

TRUTHS = [(12000.0, 11500.0, 30.0, 1.0), (18000.0, 16800.0, -45.0, 0.5),
          (8000.0, 7900.0, 60.0, 0.2)]
COMMON = ["--projectid", "1", "--preset", "enn-a-DW", "--resmin", "30", "--resmax", "6",
          "--defstep", "0.05", "--numstep", "40", "--fieldsize", "512", "--no-wait",
          "--cluster", "local", "--max-workers", "1"]


def _rows(db):
    import sinedon
    db.setup()
    return sinedon.filter("ApCtfData")


def _axis_difference(a: float, b: float) -> float:
    return abs((a - b + 90.0) % 180.0 - 90.0)


def test_ctffind4_builtin_writes_classic_rows_once(db, tmp_path, cli):
    import sinedon
    session, truths = make_session(tmp_path, TRUTHS)
    rundir = tmp_path / "appion" / "ctf" / "ctfrun1"
    args = ["ctffind4.py", "--session", session["name"], "--rundir", str(rundir),
            "--engine", "builtin", *COMMON]
    done = cli(args, env=db.env)
    assert done.returncode == 0, done.stderr
    rows = _rows(db)
    assert len(rows) == len(truths)
    by_image = {row["image"]: row for row in rows}
    for truth in truths:
        row = by_image[truth.image_id]
        # Classic storage: metres, defocus1 the smaller, its angle in (−90, 90].
        assert row["defocus1"] <= row["defocus2"]
        assert row["defocus1"] == pytest.approx(truth.defocus_2_a * 1e-10, abs=60e-10)
        assert row["defocus2"] == pytest.approx(truth.defocus_1_a * 1e-10, abs=60e-10)
        if truth.defocus_1_a - truth.defocus_2_a > 300:
            assert _axis_difference(row["angle_astigmatism"], truth.azimuth_deg + 90.0) < 3.0
        assert -90.0 < row["angle_astigmatism"] <= 90.0
        assert row["confidence"] == max(row["confidence_d"], row["confidence_30_10"],
                                        row["confidence_5_peak"], row["cross_correlation"])
        assert 0 < row["resolution_80_percent"] <= 100
        for graph in ("graph1", "graph2", "graph3", "graph4"):
            assert (rundir / "opimages" / row[graph]).is_file()
        assert (rundir / "opimages" / f"{truth.filename}-pow.mrc").is_file()
    run = sinedon.get("ApAceRunData", {"name": "ctfrun1"})
    params = sinedon.get("ApCtfFind4ParamsData", {"id": run["ctffind4_params"]})
    assert (params["fieldsize"], params["resmin"], params["defstep"]) == (512, 30.0, 0.05)
    assert params["cs"] == pytest.approx(2.7)

    again = cli([*args, "--no-continue"], env=db.env)
    assert again.returncode == 0, again.stderr
    assert len(_rows(db)) == len(truths)  # stored again, never duplicated

    other = cli([*args, "--fieldsize", "1024"], env=db.env)  # the last value wins
    assert other.returncode != 0
    assert "already used" in other.stderr and "Traceback" not in other.stderr


def test_dry_run_prints_searches_and_writes_nothing(db, tmp_path, cli):
    import sinedon
    session, truths = make_session(tmp_path, TRUTHS[:2])
    rundir = tmp_path / "appion" / "ctf" / "dry"
    done = cli(["ctffind4.py", "--session", session["name"], "--rundir", str(rundir),
                "--dry-run", *COMMON], env=db.env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["image_id"] for r in records] == [t.image_id for t in truths]
    first = records[0]
    centre = 0.5 * (truths[0].defocus_1_a + truths[0].defocus_2_a)  # the scope's nominal
    assert first["defocus_init_a"] == pytest.approx(centre)
    # centre ∓ defstep·numstep; below zero the minimum becomes one step (classic).
    assert first["search"]["defocus_min_a"] == pytest.approx(500.0)
    assert first["search"]["defocus_max_a"] == pytest.approx(centre + 0.05e4 * 40)
    assert first["engine"] == "ctffind4"
    assert not rundir.exists()
    db.setup()
    assert sinedon.count("ApAceRunData") == 0


def test_ctffind4_with_fake_ctffind5_and_reprocess(sqlite_db, tmp_path, cli):
    import sinedon
    session, truths = make_session(tmp_path, TRUTHS[:2])
    env = fake_env(sqlite_db.env)
    rundir = tmp_path / "appion" / "ctf" / "ctf5"
    args = ["ctffind4.py", "--session", session["name"], "--rundir", str(rundir),
            "--ctffind-exe", "ctffind5", "--bestdb", *COMMON]
    done = cli(args, env=env)
    assert done.returncode == 0, done.stderr
    rows = _rows(sqlite_db)
    assert len(rows) == 2
    assert "sample_thickness" not in rows[0]  # production ApCtfData has no such column
    for truth, row in zip(truths, sorted(rows, key=lambda r: r["image"])):
        assert row["defocus2"] == pytest.approx(truth.defocus_1_a * 1e-10, abs=60e-10)
    # --reprocess above every score: a new run redoes both; below: it skips both.
    redo = cli([*args[:4], str(tmp_path / "appion" / "ctf" / "redo"), *args[5:],
                "--reprocess", "2.0"], env=env)
    assert redo.returncode == 0, redo.stderr
    assert len(_rows(sqlite_db)) == 4
    skip = cli([*args[:4], str(tmp_path / "appion" / "ctf" / "skip"), *args[5:],
                "--reprocess", "0.0"], env=env)
    assert skip.returncode == 0, skip.stderr
    assert len(_rows(sqlite_db)) == 4
    sqlite_db.setup()
    assert sinedon.count("ApAceRunData") == 3


def test_gctf_stores_its_params_where_classic_gctf_does(sqlite_db, tmp_path, cli):
    import sinedon
    session, truths = make_session(tmp_path, TRUTHS[:1])
    rundir = tmp_path / "appion" / "gctf" / "g1"
    done = cli(["gctf.py", "--session", session["name"], "--rundir", str(rundir),
                *COMMON, "--do_EPA"], env=fake_env(sqlite_db.env))
    assert done.returncode == 0, done.stderr
    (row,) = _rows(sqlite_db)
    assert row["defocus2"] == pytest.approx(truths[0].defocus_1_a * 1e-10, abs=60e-10)
    run = sinedon.get("ApAceRunData", {"name": "g1"})
    params = sinedon.get("ApCtfFind4ParamsData", {"id": run["ctffind4_params"]})
    assert params["local_refine"] is False and params["fieldsize"] == 512
    assert sinedon.count("ApCtfFind4ParamsData") == 1


def test_user_errors_are_one_line(sqlite_db, tmp_path, cli):
    session, _ = make_session(tmp_path, TRUTHS[:1])
    bad = cli(["ctffind4.py", "--session", session["name"], "--rundir",
               str(tmp_path / "r" / "x"), *COMMON, "--defstep", "1000"], env=sqlite_db.env)
    assert bad.returncode == 2
    assert "--defstep 1000.0 must be between" in bad.stderr and "Traceback" not in bad.stderr


def test_appion_ctf_json(tmp_path, cli):
    import mrcfile

    from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise
    path = tmp_path / "one.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(ctf_filtered_noise((1024, 1024), 1.2, 16000.0, 15000.0, -20.0, seed=4))
    done = cli(["appion", "ctf", str(path), "--apix", "1.2", "--kv", "300", "--cs", "2.7",
                "--ac", "0.07", "--resmax", "6", "--json", "--diagnostic",
                str(tmp_path / "d.png")])
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert set(values) == {"defocus_1_A", "defocus_2_A", "astigmatism_azimuth_deg",
                           "phase_shift_rad", "cross_correlation", "fit_resolution_A"}
    assert values["defocus_1_A"] == pytest.approx(16000.0, abs=50)
    assert values["defocus_2_A"] == pytest.approx(15000.0, abs=50)
    assert _axis_difference(values["astigmatism_azimuth_deg"], -20.0) < 2.0
    assert (tmp_path / "d.png").stat().st_size > 0
    assert not math.isnan(values["cross_correlation"])


def test_appion_ctf_box_larger_than_the_micrograph_uses_what_fits(tmp_path, cli):
    import mrcfile

    from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise
    path = tmp_path / "small.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(ctf_filtered_noise((300, 640), 1.0, 12000.0, 11500.0, 10.0, seed=2))
    done = cli(["appion", "ctf", str(path), "--apix", "1.0", "--kv", "300", "--cs", "2.7",
                "--ac", "0.07", "--box", "512", "--resmax", "6", "--json"])
    assert done.returncode == 0, done.stderr
    assert "--box 512 is larger than the micrograph (640×300); using 300" in done.stderr
    values = json.loads(done.stdout)
    assert 0.5 * (values["defocus_1_A"] + values["defocus_2_A"]) == pytest.approx(11750, abs=150)
