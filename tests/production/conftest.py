"""Databases built from the production DDL (``tests/data/production-schema``), as a site has them.

The Leginon and project databases are what classic Leginon's own data layer creates
(MyISAM, ``int(16)`` ids, 2024-05 columns: no ``PresetData.energy filter offset``);
the Appion database is SEMC's production one (InnoDB).  The project is registered the
way a site's web interface registers it, with plain SQL; Appion never creates or
alters a table in them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import drop_databases, write_cfg

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data" / "production-schema"
PROJECT_ID = 7


@dataclass(frozen=True)
class ProductionDatabases:
    names: dict[str, str]  # sinedon alias -> database name
    cfg: Path
    env: dict[str, str]
    server: dict

    def connect(self, alias: str):
        import pymysql
        return pymysql.connect(database=self.names[alias], autocommit=True, **self.server)

    def setup(self):
        import sinedon
        return sinedon.setup(projectid=PROJECT_ID, config=sinedon.read_config_file(self.cfg))


def ddl_statements(filename: str) -> list[str]:
    """The statements of a mysqldump-style DDL file."""
    text = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
    return [statement.strip() for statement in text.split(";\n") if statement.strip()]


def load_ddl(server: dict, database: str, filename: str) -> None:
    import pymysql
    connection = pymysql.connect(autocommit=True, **server)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            cursor.execute(f"USE `{database}`")
            for statement in ddl_statements(filename):
                cursor.execute(statement)
    finally:
        connection.close()


def show_create_tables(databases: ProductionDatabases) -> dict[str, str]:
    """``SHOW CREATE TABLE`` of every table, without the AUTO_INCREMENT counter."""
    import re
    found = {}
    for alias in databases.names:
        connection = databases.connect(alias)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW TABLES")
                for (table,) in cursor.fetchall():
                    cursor.execute(f"SHOW CREATE TABLE `{table}`")
                    statement = cursor.fetchone()[1]
                    found[f"{alias}.{table}"] = re.sub(r" AUTO_INCREMENT=\d+", "", statement)
        finally:
            connection.close()
    return found


def make_site_databases(mariadb_server, tmp_path_factory, *, prefix: str, appion_ddl: str,
                        project_name: str) -> ProductionDatabases:
    """Fresh MariaDB databases from the production DDL (Leginon, project, and the Appion
    schema ``appion_ddl``), the project registered as a site does."""
    prefix = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = {"leginondata": f"{prefix}_leginondb", "projectdata": f"{prefix}_projectdb",
             "appiondata": f"{prefix}_ap{PROJECT_ID}"}
    for alias, filename in (("leginondata", "leginondb.sql"),
                            ("projectdata", "projectdb.sql"),
                            ("appiondata", appion_ddl)):
        load_ddl(mariadb_server, names[alias], filename)
    home = tmp_path_factory.mktemp(f"{prefix}-home")
    cfg = write_cfg(home / "sinedon.cfg", names)
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env.update(HOME=str(home), SINEDON_CFG_PATH=str(cfg))
    databases = ProductionDatabases(names, cfg, env, mariadb_server)
    project = databases.connect("projectdata")
    with project.cursor() as cursor:
        cursor.execute("INSERT INTO projects (DEF_id, name) VALUES (%s, %s)",
                       (PROJECT_ID, project_name))
        cursor.execute("INSERT INTO processingdb (`REF|projects|project`, appiondb) "
                       "VALUES (%s, %s)", (PROJECT_ID, names["appiondata"]))
    project.close()
    return databases


@pytest.fixture(scope="module")
def production(mariadb_server, tmp_path_factory):
    """Fresh MariaDB databases from the production DDL, the project registered as a site does."""
    databases = make_site_databases(mariadb_server, tmp_path_factory, prefix="appionprod",
                                    appion_ddl="appiondb-semc.sql",
                                    project_name="production test")
    yield databases
    drop_databases(mariadb_server, databases.names.values())
