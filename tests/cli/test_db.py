"""`appion db init` / `appion db check` through the real entry point, on both backends."""

import os
import uuid

import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER


@pytest.fixture(params=["sqlite", "mariadb"])
def fresh_env(request, tmp_path):
    """An environment pointing at databases that do not exist yet (dropped afterwards)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env["HOME"] = str(tmp_path)
    if request.param == "sqlite":
        env["APPION_HOME"] = str(tmp_path / "appion-home")
        yield env
        return
    server = request.getfixturevalue("mariadb_server")
    prefix = f"appiontest_cli_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_leginon", f"{prefix}_project", f"{prefix}_ap"]
    cfg = tmp_path / "sinedon.cfg"
    cfg.write_text(f"[global]\nhost: {MYSQL_HOST}\nport: {MYSQL_PORT}\nuser: {MYSQL_USER}\n"
                   f"passwd: {MYSQL_PASSWORD}\n[leginondata]\ndb: {names[0]}\n"
                   f"[projectdata]\ndb: {names[1]}\n[appiondata]\ndb: {names[2]}\n")
    env["SINEDON_CFG_PATH"] = str(cfg)
    yield env
    import pymysql
    connection = pymysql.connect(**server)
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        connection.close()


def test_init_then_check_is_clean_and_init_is_idempotent(cli, fresh_env):
    first = cli(["appion", "db", "init"], fresh_env)
    assert first.returncode == 0, first.stderr
    assert "leginondata" in first.stdout and "created 17 table(s)" in first.stdout
    check = cli(["appion", "db", "check"], fresh_env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("complete") == 3
    second = cli(["appion", "db", "init"], fresh_env)
    assert second.returncode == 0
    assert second.stdout.count("created 0 table(s) (nothing)") == 3


def test_check_lists_what_is_missing(cli, fresh_env):
    assert cli(["appion", "db", "init", "--database", "leginon"], fresh_env).returncode == 0
    check = cli(["appion", "db", "check", "--database", "appion"], fresh_env)
    assert check.returncode == 1
    assert "ApCtfData" in check.stdout and "appion db init" in check.stdout


def test_check_reports_a_missing_column(db, cli):
    from django.db import connections
    with connections["leginondata"].cursor() as cursor:
        cursor.execute("CREATE TABLE probe_copy AS SELECT * FROM ViewerImageStatus")
        cursor.execute("DROP TABLE ViewerImageStatus")
        cursor.execute('CREATE TABLE ViewerImageStatus ("DEF_id" integer primary key)'
                       if connections["leginondata"].vendor == "sqlite" else
                       "CREATE TABLE ViewerImageStatus (`DEF_id` integer primary key)")
    try:
        check = cli(["appion", "db", "check", "--database", "leginon"], db.env)
        assert check.returncode == 1
        assert "ViewerImageStatus.status" in check.stdout
        assert "ViewerImageStatus.REF|AcquisitionImageData|image" in check.stdout
        again = cli(["appion", "db", "init", "--database", "leginon"], db.env)
        assert "created 0 table(s)" in again.stdout  # never alters an existing table
    finally:
        with connections["leginondata"].cursor() as cursor:
            cursor.execute("DROP TABLE ViewerImageStatus")
            cursor.execute("DROP TABLE probe_copy")
        from sinedon import schema
        schema.init_database("leginondata")
