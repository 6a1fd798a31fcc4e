"""Sites run different Leginon/Appion versions: Appion reads and writes the columns each has.

Each test builds its own tables from the production DDL, changed the way another
version differs (a 2025 column, a column unknown to Appion, a required column
missing), and checks what Appion does.  Tables Appion creates itself behave like
classic ones: classic code inserts into them without naming ``DEF_timestamp``.
"""

from __future__ import annotations

import re

import pytest

import sinedon
from sinedon import schema

from .conftest import ddl_statements

pytestmark = pytest.mark.mariadb


def _table_ddl(filename: str, table: str) -> str:
    (statement,) = [s for s in ddl_statements(filename)
                    if s.startswith(f"CREATE TABLE `{table}`")]
    return statement


def _add_column(statement: str, column_sql: str) -> str:
    """The CREATE TABLE with one more column, before its keys."""
    return statement.replace("  PRIMARY KEY", f"  {column_sql},\n  PRIMARY KEY", 1)


def _drop_column(statement: str, column: str) -> str:
    return re.sub(rf"\n  `{re.escape(column)}` [^\n]*,", "", statement)


@pytest.fixture
def site(production):
    """The production databases with ``PresetData`` and ``ApDDFrameTrajectoryData``
    rebuilt by each test (this test's own copy, not a site's)."""
    production.setup()
    yield production
    leginon, appion = production.connect("leginondata"), production.connect("appiondata")
    with leginon.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS PresetData")
        cursor.execute(_table_ddl("leginondb.sql", "PresetData"))
    with appion.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS ApDDFrameTrajectoryData")
        cursor.execute(_table_ddl("appiondb-semc.sql", "ApDDFrameTrajectoryData"))
    production.setup()


def _rebuild(databases, alias: str, statement: str, table: str) -> None:
    connection = databases.connect(alias)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE `{table}`")
        cursor.execute(statement)
    connection.close()
    databases.setup()  # a new process would learn the columns afresh


def test_a_2025_column_and_an_unknown_one_are_read_written_and_copied(site):
    statement = _table_ddl("leginondb.sql", "PresetData")
    statement = _add_column(statement, "`energy filter offset` double DEFAULT NULL")
    statement = _add_column(statement, "`SUBD|future|x` double DEFAULT NULL")
    _rebuild(site, "leginondata", statement, "PresetData")
    preset = sinedon.insert("PresetData", {"session": 1, "name": "enn",
                                           "energy_filter_offset": 2.5, "magnification": 1})
    connection = site.connect("leginondata")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE PresetData SET `SUBD|future|x` = 7.5")
    connection.close()
    assert sinedon.get("PresetData", {"id": preset})["energy_filter_offset"] == 2.5
    copy = sinedon.copy_row("PresetData", preset, {"name": "enn-a"}, reuse_identical=True)
    again = sinedon.copy_row("PresetData", preset, {"name": "enn-a"}, reuse_identical=True)
    assert copy == again != preset
    connection = site.connect("leginondata")
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, `SUBD|future|x`, `energy filter offset` FROM PresetData "
                       "ORDER BY DEF_id")
        assert cursor.fetchall() == (("enn", 7.5, 2.5), ("enn-a", 7.5, 2.5))
    connection.close()


def test_a_2024_table_lacks_the_2025_column_which_reads_as_none(site):
    preset = sinedon.insert("PresetData", {"session": 1, "name": "enn",
                                           "energy_filter_offset": 2.5})
    row = sinedon.get("PresetData", {"id": preset})
    assert row["name"] == "enn" and row["energy_filter_offset"] is None
    assert sinedon.filter("PresetData", {"energy_filter_offset": None})[0]["id"] == preset
    with pytest.raises(sinedon.SinedonError, match="does not record it"):
        sinedon.filter("PresetData", {"energy_filter_offset": 2.5})


def test_a_missing_required_column_is_one_line_with_the_alter_table(site, cli):
    statement = _drop_column(_table_ddl("appiondb-semc.sql", "ApDDFrameTrajectoryData"),
                             "SEQ|pos_x")
    _rebuild(site, "appiondata", statement, "ApDDFrameTrajectoryData")
    with pytest.raises(sinedon.MissingColumn) as error:
        sinedon.filter("ApDDFrameTrajectoryData")
    message = str(error.value)
    assert "\n" not in message and "'SEQ|pos_x'" in message
    assert ("ALTER TABLE `ApDDFrameTrajectoryData` ADD COLUMN `SEQ|pos_x` text DEFAULT NULL;"
            in message)
    check = cli(["appion", "db", "check", "--project", "7", "--database", "appion"], site.env)
    assert check.returncode == 1
    assert "ApDDFrameTrajectoryData.SEQ|pos_x" in check.stdout
    assert ("ALTER TABLE `ApDDFrameTrajectoryData` ADD COLUMN `SEQ|pos_x` text DEFAULT NULL;"
            in check.stdout)


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_tables_appion_creates_take_classic_inserts(backend, request, tmp_path):
    """myamiweb and classic code insert without DEF_timestamp; ids are integers."""
    databases = request.getfixturevalue("sqlite_db" if backend == "sqlite" else "mariadb_db")
    databases.setup()
    from django.db import connections
    with connections["appiondata"].cursor() as cursor:
        cursor.execute("INSERT INTO ApPathData (path) VALUES (%s)", ["/data/appion/x"])
    row = sinedon.get("ApPathData", {"path": "/data/appion/x"})
    assert isinstance(row["id"], int) and row["def_timestamp"] is not None
    missing = schema.check_database("appiondata")
    assert missing == []
