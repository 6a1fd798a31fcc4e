"""dogPicker.py on databases built from the production DDL, with classic's picking tables.

The Appion database is classic's (``appiondb-classic.sql``: MyISAM ``ApSelectionRunData``,
``ApDogParamsData``, ``ApParticleData``); the rows must be classic's, and no table may
change shape.
"""

from __future__ import annotations

import pytest

from tests.conftest import drop_databases, run_cli
from tests.particlepicking.session import DIAMETER_A, make_session, nearest_distance

from .conftest import PROJECT_ID, make_site_databases, show_create_tables

pytestmark = [pytest.mark.mariadb]


@pytest.fixture(scope="module")
def classic(mariadb_server, tmp_path_factory):
    """Leginon and project from production, Appion from classic's DDL."""
    databases = make_site_databases(mariadb_server, tmp_path_factory, prefix="appionpick",
                                    appion_ddl="appiondb-classic.sql",
                                    project_name="picking test")
    yield databases
    drop_databases(mariadb_server, databases.names.values())


def _query(databases, sql: str, args=()) -> list[dict]:
    import pymysql
    connection = databases.connect("appiondata")
    try:
        with connection.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_dogpicker_rows_are_classic_on_the_classic_tables(classic, tmp_path):
    classic.setup()
    session, micrographs = make_session(tmp_path, count=2)
    before = show_create_tables(classic)
    rundir = tmp_path / "appion" / session["name"] / "extract" / "dogrun1"
    args = ["dogPicker.py", f"--session={session['name']}", f"--projectid={PROJECT_ID}",
            "--preset=enn-a-DW", f"--rundir={rundir}", "--runname=dogrun1",
            f"--diam={int(DIAMETER_A)}", "--bin=2", "--invert", "--no-wait",
            "--max-workers=1", "--description=classic tables"]
    done = run_cli(args, env=classic.env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert show_create_tables(classic) == before  # no table changed shape

    (run,) = _query(classic, "SELECT * FROM ApSelectionRunData")
    assert (run["name"], run["program"], run["description"], run["hidden"]) == (
        "dogrun1", "dogpicker", "classic tables", 0)
    assert run["REF|leginondata|SessionData|session"] == session["id"]
    assert run["REF|ApSelectionParamsData|params"] is None
    (path,) = _query(classic, "SELECT path FROM ApPathData WHERE DEF_id = %s",
                     (run["REF|ApPathData|path"],))
    assert path["path"] == str(rundir)
    (params,) = _query(classic, "SELECT * FROM ApDogParamsData")
    assert params["DEF_id"] == run["REF|ApDogParamsData|dogparams"]
    assert (params["diam"], params["bin"], params["invert"], params["manual_thresh"],
            params["max_threshold"], params["max_peaks"], params["kfactor"],
            params["maxsize"], params["overlapmult"], params["defocal_pairs"]) == (
        80, 2, 1, 0.5, 2.5, 1500, 1.2, 1, 1.5, 0)
    rows = _query(classic, "SELECT * FROM ApParticleData")
    for micrograph in micrographs:
        mine = [row for row in rows
                if row["REF|leginondata|AcquisitionImageData|image"] == micrograph.image_id]
        assert len(mine) == len(micrograph.centres)
        for row in mine:
            assert row["REF|ApSelectionRunData|selectionrun"] == run["DEF_id"]
            assert nearest_distance(row["xcoord"], row["ycoord"], micrograph.centres) <= 3
            assert row["diameter"] == pytest.approx(DIAMETER_A)
            assert row["label"] == "dog" and row["correlation"] > 0
            assert row["DEF_timestamp"] is not None

    again = run_cli([*args, "--no-continue"], env=classic.env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_query(classic, "SELECT DEF_id FROM ApParticleData")) == len(rows)
    assert len(_query(classic, "SELECT DEF_id FROM ApSelectionRunData")) == 1

    # classic's DDL lacks motion-correction columns of later versions; the picking
    # tables must be complete
    check = run_cli(["appion", "db", "check", "--project", str(PROJECT_ID)], classic.env)
    assert "appiondata" in check.stdout, check.stdout + check.stderr
    for table in ("ApSelectionRunData", "ApSelectionParamsData", "ApDogParamsData",
                  "ApParticleData"):
        assert table not in check.stdout, check.stdout
