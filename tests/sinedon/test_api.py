"""The dict API on both backends: get / filter / set / insert / update / bulk reads."""

import pytest

import sinedon
from sinedon.errors import MissingTable, SinedonError


def test_set_inserts_once_for_identical_values(db):
    first = sinedon.set("ApPathData", {"path": "/data/appion/run1"})
    again = sinedon.set("ApPathData", {"path": "/data/appion/run1"})
    other = sinedon.set("ApPathData", {"path": "/data/appion/run2"})
    assert first == again != other
    assert sinedon.count("ApPathData") == 2


def test_set_treats_none_as_null(db):
    first = sinedon.set("ApDDStackParamsData", {"preset": 4, "align": True, "bin": 1.0,
                                                "stack": None, "method": "motioncor2"})
    again = sinedon.set("ApDDStackParamsData", {"preset": 4, "align": True, "bin": 1.0,
                                                "stack": None, "method": "motioncor2"})
    assert first == again


def test_get_returns_the_newest_match(db):
    sinedon.insert("SessionData", {"name": "s1", "comment": "old"})
    newest = sinedon.insert("SessionData", {"name": "s1", "comment": "new"})
    row = sinedon.get("SessionData", {"name": "s1"})
    assert row["id"] == newest and row["comment"] == "new"
    assert sinedon.get("SessionData", {"name": "nope"}) is None


def test_column_names_are_accepted_as_keys(db):
    row_id = sinedon.insert("AcquisitionImageData", {"REF|SessionData|session": 7,
                                                     "MRC|image": "a.mrc", "filename": "a"})
    row = sinedon.get("AcquisitionImageData", {"session": 7})
    assert row["id"] == row_id and row["image"] == "a.mrc"


def test_unknown_column_is_a_clear_error(db):
    with pytest.raises(SinedonError, match="AcquisitionImageData has no column 'nonsense'"):
        sinedon.filter("AcquisitionImageData", {"nonsense": 1})


def test_update_changes_one_row(db):
    job = sinedon.insert("ApAppionJobData", {"name": "run1.appionsub.job", "status": "R"})
    assert sinedon.update("ApAppionJobData", job, {"status": "D"}) == 1
    assert sinedon.get("ApAppionJobData", {"id": job})["status"] == "D"


def test_incremental_ids_and_bulk_rows(db):
    created = [sinedon.insert("AcquisitionImageData", {"session": 3, "filename": f"i{n}"})
               for n in range(1205)]
    sinedon.insert("AcquisitionImageData", {"session": 4, "filename": "elsewhere"})
    assert sinedon.ids("AcquisitionImageData", {"session": 3}) == created
    assert sinedon.ids("AcquisitionImageData", {"session": 3},
                       after_id=created[1199]) == created[1200:]
    assert sinedon.ids("AcquisitionImageData", {"session": 3}, limit=2,
                       newest_first=True) == created[::-1][:2]
    rows = sinedon.rows_by_ids("AcquisitionImageData", created[::-1], fields=["filename"])
    assert len(rows) == 1205
    assert rows[created[42]] == {"id": created[42], "filename": "i42"}
    assert sinedon.max_id("AcquisitionImageData", {"session": 3}) == created[-1]


def test_atomic_rolls_back_on_error(db):
    with pytest.raises(RuntimeError):
        with sinedon.atomic("appiondata"):
            sinedon.insert("ApPathData", {"path": "/rolled/back"})
            raise RuntimeError("fail inside the transaction")
    assert sinedon.get("ApPathData", {"path": "/rolled/back"}) is None


def test_missing_table_names_the_fix(db):
    from django.db import connections
    with connections["appiondata"].cursor() as cursor:
        cursor.execute("DROP TABLE ApCtfData")
    try:
        with pytest.raises(MissingTable, match="table ApCtfData is missing .*appion db init"):
            sinedon.filter("ApCtfData")
    finally:
        from sinedon import schema
        schema.init_database("appiondata")


def test_setup_again_switches_the_appion_database(db):
    sinedon.insert("ApPathData", {"path": "/project/one"})
    sinedon.set("processingdb", {"project": 99, "appiondb": db.names["appiondata"] + "x"})
    try:
        sinedon.setup(projectid=99, config=db.config)
        assert sinedon.current_config().databases["appiondata"].name.endswith("x")
    finally:
        db.setup()
    assert sinedon.get("ApPathData", {"path": "/project/one"}) is not None


def test_project_without_processingdb_row_uses_ap_projectid(db):
    config = sinedon.setup(projectid=4242, config=db.config)
    try:
        assert config.databases["appiondata"].name == "ap4242"
    finally:
        db.setup()


@pytest.mark.parametrize("code, message", [
    (1213, "Deadlock found when trying to get lock; try restarting transaction"),
    (1205, "Lock wait timeout exceeded; try restarting transaction"),
    (None, "database is locked")])
def test_lock_conflicts_are_told_apart_as_busy(sqlite_db, code, message):
    from django.db import OperationalError

    from sinedon.errors import DatabaseBusy
    from sinedon.failures import _translate
    driver_error = Exception(code, message) if code else Exception(message)
    error = OperationalError(*driver_error.args)
    error.__cause__ = driver_error
    translated = _translate(error, sinedon.APPION, "ApCtfData")
    assert isinstance(translated, DatabaseBusy) and message in str(translated)
    other = _translate(OperationalError(1062, "Duplicate entry '1' for key 'PRIMARY'"),
                       sinedon.APPION, "ApCtfData")
    assert type(other) is SinedonError


def test_insert_many_names_only_the_given_columns(db):
    session = sinedon.insert("SessionData", {"name": "bulk"})
    count = sinedon.insert_many("AcquisitionImageData", (
        {"session": session, "filename": f"img{index:03d}"} for index in range(5)),
        batch_size=2)
    rows = sinedon.filter("AcquisitionImageData", {"session": session})
    assert count == 5 and [row["filename"] for row in rows] == [f"img{i:03d}" for i in range(5)]
    assert all(row["def_timestamp"] is not None for row in rows)  # set by the server
