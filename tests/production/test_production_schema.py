"""The classic command lines, unchanged, on databases built from the production DDL.

A simulated K3 session is written into the production Leginon tables, then motion
correction, CTFFIND-style and Gctf-style CTF estimation and the pipeline run on it,
as a facility would run them; the classic rows must be right, the aligned images
must keep every production column of their source, the server must set every
timestamp, and no table may change shape.
"""

from __future__ import annotations

import datetime
import re

import pytest

from tests.conftest import run_cli
from tests.ctfestimation.session import fake_env

from .conftest import PROJECT_ID, show_create_tables

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

SESSION = "26nov30prod"
# A client nine hours ahead of the server: a timestamp taken from the client's clock
# would be nine hours off the server's NOW().
CLIENT_TZ = "Asia/Tokyo"


def _query(databases, alias: str, sql: str, args=()) -> list[dict]:
    import pymysql
    connection = databases.connect(alias)
    try:
        with connection.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        connection.close()


def _run(databases, args: list[str], **extra_env: str):
    env = fake_env({**databases.env, "TZ": CLIENT_TZ, **extra_env})
    done = run_cli(args, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _mark_source_images(databases) -> None:
    """What a production exposure carries beyond Appion's models: tilt series, phase
    plate, queue, spot map, and a camera temperature."""
    _query(databases, "leginondata",
           "UPDATE AcquisitionImageData SET `REF|TiltSeriesData|tilt series` = 42, "
           "tiltnumber = 3, `REF|PhasePlateUsageData|phase plate` = 5, "
           "`REF|QueueData|queue` = 9, `REF|SpotWellMapData|spotmap` = 11")
    _query(databases, "leginondata",
           "UPDATE CameraEMData SET temperature = -80.5, `gain index` = 2, "
           "`request nframes` = 40")


@pytest.fixture(scope="module")
def processed(production, tmp_path_factory):
    """The session simulated and processed by every classic entry point; the DDL before."""
    root = tmp_path_factory.mktemp("production-run")
    before = show_create_tables(production)
    _run(production, ["appion", "simulate", "--session", SESSION, "--camera", "k3",
                      "--exposures", "2", "--project", str(PROJECT_ID), "--no-extras",
                      "--root", str(root / "sessions")])
    _mark_source_images(production)
    appion = root / "appion" / SESSION
    # no --projectid: the project comes from the session, as classic finds it
    _run(production, ["makeDDAlignMotionCor2_UCSF.py", f"--session={SESSION}",
                      "--preset=enn", f"--rundir={appion / 'ddstack' / 'ddstack1'}",
                      "--runname=ddstack1", "--engine=builtin", "--doseweight",
                      "--no-wait", "--max-workers=1"])
    ctf_flags = ["--resmin", "30", "--resmax", "6", "--fieldsize", "512", "--no-wait",
                 "--max-workers", "1"]
    _run(production, ["ctffind4.py", f"--session={SESSION}", "--preset=enn-a",
                      f"--projectid={PROJECT_ID}", f"--rundir={appion / 'ctf' / 'ctf1'}",
                      "--runname=ctf1", "--engine=builtin", *ctf_flags])
    _run(production, ["gctf.py", f"--session={SESSION}", "--preset=enn-a-DW",
                      f"--projectid={PROJECT_ID}", f"--rundir={appion / 'gctf' / 'gctf1'}",
                      "--runname=gctf1", *ctf_flags])
    _run(production, ["appion", "pipeline", f"--projectid={PROJECT_ID}",
                      f"--session={SESSION}", "--preset=enn",
                      f"--rundir={appion / 'pipeline' / 'chain1'}", "--runname=chain1",
                      "--steps", "motioncor,ctf", "--motioncor-engine", "builtin",
                      "--ctf-engine", "builtin", "--doseweight", *ctf_flags])
    return before


def test_no_table_changes_shape(production, processed):
    assert show_create_tables(production) == processed


def test_motion_correction_rows_are_classic(production, processed):
    runs = {row["runname"]: row for row in _query(production, "appiondata",
                                                  "SELECT * FROM ApDDStackRunData")}
    assert set(runs) == {"ddstack1", "chain1"}
    (params,) = _query(production, "appiondata", "SELECT * FROM ApDDStackParamsData "
                       "WHERE DEF_id = %s", (runs["ddstack1"]["REF|ApDDStackParamsData|params"],))
    assert params["preset"] == "enn" and params["bin"] == 1 and params["method"] == "builtin"
    pairs = _query(production, "appiondata", "SELECT * FROM ApDDAlignImagePairData "
                   "WHERE `REF|ApDDStackRunData|ddstackrun` = %s", (runs["ddstack1"]["DEF_id"],))
    assert len(pairs) == 4  # -a and -a-DW of two exposures
    trajectories = _query(production, "appiondata", "SELECT * FROM ApDDFrameTrajectoryData")
    assert len(trajectories) == 4  # the -a image of each exposure, in each of the two runs
    for trajectory in trajectories:
        positions = eval(trajectory["SEQ|pos_x"])  # classic stores the list's repr
        assert len(positions) == trajectory["number_of_positions"] > 1


def test_aligned_images_keep_every_production_column(production, processed):
    images = {row["filename"]: row for row in _query(
        production, "leginondata", "SELECT * FROM AcquisitionImageData")}
    sources = [name for name in images if name.endswith("enn")]
    assert len(sources) == 2
    for source in sources:
        # two runs (the drop-in, then the pipeline's _v01) of -a and -a-DW
        versions = [(name, name.removeprefix(source).removesuffix("_v01"))
                    for name in images if name.startswith(source + "-a")]
        assert sorted(label for _, label in versions) == ["-a", "-a", "-a-DW", "-a-DW"]
        for name, label in versions:
            aligned = images[name]
            for column in ("REF|TiltSeriesData|tilt series", "tiltnumber",
                           "REF|PhasePlateUsageData|phase plate", "REF|QueueData|queue",
                           "REF|SpotWellMapData|spotmap", "REF|ScopeEMData|scope",
                           "REF|NormImageData|norm", "label"):
                assert aligned[column] == images[source][column], column
            camera = _query(production, "leginondata", "SELECT * FROM CameraEMData "
                            "WHERE DEF_id = %s", (aligned["REF|CameraEMData|camera"],))[0]
            assert (camera["temperature"], camera["gain index"],
                    camera["request nframes"]) == (-80.5, 2, 40)
            assert camera["align frames"] == 1
            preset = _query(production, "leginondata", "SELECT * FROM PresetData "
                            "WHERE DEF_id = %s", (aligned["REF|PresetData|preset"],))[0]
            assert preset["name"] == "enn" + label
    presets = _query(production, "leginondata", "SELECT name FROM PresetData")
    assert sorted(row["name"] for row in presets) == ["enn", "enn-a", "enn-a-DW"]


def test_ctf_rows_are_classic(production, processed):
    runs = {row["name"]: row for row in _query(production, "appiondata",
                                               "SELECT * FROM ApAceRunData")}
    assert set(runs) == {"ctf1", "gctf1", "chain1"}
    for run in runs.values():
        assert run["REF|ApCtfFind4ParamsData|ctffind4_params"]
    params = _query(production, "appiondata", "SELECT * FROM ApCtfFind4ParamsData")
    used = {run["REF|ApCtfFind4ParamsData|ctffind4_params"] for run in runs.values()}
    assert {row["DEF_id"] for row in params} == used  # no orphan parameter rows
    images = {row["DEF_id"]: row["filename"] for row in _query(
        production, "leginondata", "SELECT DEF_id, filename FROM AcquisitionImageData")}
    rows = _query(production, "appiondata", "SELECT * FROM ApCtfData")
    by_run = {}
    for row in rows:
        by_run.setdefault(row["REF|ApAceRunData|acerun"], []).append(row)
        assert 0.3e-6 < row["defocus1"] <= row["defocus2"] < 5e-6  # metres, classic order
    labels = {name: sorted(_label(images[row["REF|leginondata|AcquisitionImageData|image"]])
                           for row in by_run[runs[name]["DEF_id"]]) for name in runs}
    assert labels == {"ctf1": ["-a", "-a"], "gctf1": ["-a-DW", "-a-DW"],
                      "chain1": ["-a", "-a"]}  # the pipeline fits the non-weighted sums


def _label(filename: str) -> str:
    """``…00001enn-a-DW_v01`` -> ``-a-DW``."""
    return re.sub(r"_v\d+$", "", filename).rsplit("enn", 1)[-1]


def test_job_rows_and_provenance_are_classic(production, processed):
    jobs = _query(production, "appiondata", "SELECT * FROM ApAppionJobData")
    assert {job["status"] for job in jobs} == {"D"}
    assert "makeddrawframestack" in {job["jobtype"] for job in jobs}
    assert all(job["clusterjobid"] is None or isinstance(job["clusterjobid"], int)
               for job in jobs)
    programs = _query(production, "appiondata", "SELECT * FROM ScriptProgramRun")
    assert len(programs) >= 4


def test_the_server_sets_every_timestamp(production, processed):
    (now,) = _query(production, "appiondata", "SELECT NOW() AS now")
    tolerance = datetime.timedelta(minutes=30)  # the run's length; the clocks are 9 h apart
    for alias, table in (("appiondata", "ApCtfData"), ("appiondata", "ApDDStackRunData"),
                         ("appiondata", "ApAppionJobData"), ("appiondata", "ScriptProgramRun"),
                         ("leginondata", "PresetData")):
        newest = _query(production, alias, f"SELECT MAX(DEF_timestamp) AS t FROM `{table}`")
        assert abs(newest[0]["t"] - now["now"]) < tolerance, table


def test_db_check_is_clean_on_production(production, processed):
    done = run_cli(["appion", "db", "check", "--project", str(PROJECT_ID)], production.env)
    assert done.returncode == 0, done.stdout + done.stderr
    # the 2024-05 Leginon schema has no energy filter offset: optional, and said so
    assert "PresetData.energy filter offset" in done.stdout


def test_db_check_names_the_tables_only_picking_needs(production, processed):
    """The SEMC Appion schema has no particle-picking tables: complete for motion and CTF,
    and the picking tables are named with their CREATE TABLE, not counted as missing."""
    done = run_cli(["appion", "db", "check", "--project", str(PROJECT_ID)], production.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tables only particle picking needs are missing" in done.stdout
    for table in ("ApSelectionRunData", "ApParticleData", "ApDogParamsData"):
        assert f"CREATE TABLE `{table}`" in done.stdout
