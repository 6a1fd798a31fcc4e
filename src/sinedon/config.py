"""Where the databases are: classic ``sinedon.cfg``, or the embedded SQLite default.

``sinedon.cfg`` is an INI file::

    [global]
    host: db.example.org
    user: usr_object
    passwd: secret
    port: 3306

    [leginondata]
    db: leginondb

    [projectdata]
    db: projectdb

    [appiondata]
    db: ap1

A section may override ``host``, ``user``, ``passwd`` or ``port`` for its database.
The file is found through ``SINEDON_CFG_PATH`` (the file, or a folder holding
``sinedon.cfg``), else ``~/sinedon.cfg``.  With neither, every database is an
SQLite file under ``$APPION_HOME`` (default ``~/.appion``).
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from sinedon.errors import ConfigError

#: The Django database aliases, named after classic ``sinedon.cfg`` sections.
LEGINON = "leginondata"
PROJECT = "projectdata"
APPION = "appiondata"
ALIASES = (LEGINON, PROJECT, APPION)

DEFAULT_NAMES = {LEGINON: "leginondb", PROJECT: "projectdb", APPION: "ap1"}
#: What a database name read from a row or a file may be before it is used in SQL
#: (``CREATE DATABASE `name```): a plain MySQL identifier.
DATABASE_NAME = re.compile(r"[A-Za-z0-9_$]{1,64}")


def check_database_name(name: object, where: str) -> str:
    """``name`` when it is a plain database name (``[A-Za-z0-9_$]``, at most 64
    characters); else a :class:`ConfigError` naming ``where`` it came from."""
    text = "" if name is None else str(name)
    if not DATABASE_NAME.fullmatch(text):
        raise ConfigError(f"database name {text!r} from {where} is not a plain name "
                          "(letters, digits, _ or $, at most 64); fix it there")
    return text


@dataclass(frozen=True)
class DatabaseLocation:
    """One database: a MySQL/MariaDB schema on a server, or an SQLite file."""

    engine: str  # "mysql" or "sqlite"
    name: str
    host: str = "localhost"
    port: int = 3306
    user: str = ""
    password: str = field(default="", repr=False)
    sqlite_dir: Path | None = None

    @property
    def sqlite_path(self) -> Path:
        assert self.sqlite_dir is not None
        return self.sqlite_dir / f"{self.name}.sqlite3"

    def describe(self) -> str:
        if self.engine == "sqlite":
            return f"SQLite database {self.sqlite_path}"
        return f"database '{self.name}' on {self.host}:{self.port}"


@dataclass(frozen=True)
class SinedonConfig:
    """The three databases and where this configuration came from."""

    databases: dict[str, DatabaseLocation]
    source: str

    def with_appion_database(self, name: str) -> SinedonConfig:
        databases = dict(self.databases)
        databases[APPION] = replace(databases[APPION], name=name)
        return SinedonConfig(databases, self.source)

    @property
    def embedded(self) -> bool:
        return all(location.engine == "sqlite" for location in self.databases.values())


def appion_home() -> Path:
    return Path(os.environ.get("APPION_HOME") or Path.home() / ".appion").expanduser()


def embedded_config(home: Path | str | None = None) -> SinedonConfig:
    """Every database as an SQLite file under ``home`` (default ``$APPION_HOME``)."""
    directory = Path(home).expanduser() if home else appion_home()
    databases = {alias: DatabaseLocation("sqlite", DEFAULT_NAMES[alias], sqlite_dir=directory)
                 for alias in ALIASES}
    return SinedonConfig(databases, f"embedded ({directory})")


def find_config_file() -> Path | None:
    """``SINEDON_CFG_PATH`` (file or folder), else ``~/sinedon.cfg``, else ``None``."""
    env = os.environ.get("SINEDON_CFG_PATH")
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            path = path / "sinedon.cfg"
        if not path.is_file():
            raise ConfigError(f"SINEDON_CFG_PATH points to {path}, which is not a file; "
                              "set it to your sinedon.cfg or unset it")
        return path
    home_file = Path.home() / "sinedon.cfg"
    return home_file if home_file.is_file() else None


def read_config_file(path: Path | str) -> SinedonConfig:
    """Parse a classic ``sinedon.cfg``."""
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}; check the file exists "
                          "and is readable") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not a text file ({error.reason} at byte {error.start})"
                          "; it must be a classic INI sinedon.cfg") from None
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"{path} is not a valid sinedon.cfg ({first_line}); it needs "
                          "INI sections [global], [leginondata], [projectdata], [appiondata]"
                          ) from None
    base = dict(parser["global"]) if parser.has_section("global") else {}
    databases = {}
    for alias in ALIASES:
        section = dict(parser[alias]) if parser.has_section(alias) else {}
        merged = {**base, **section}
        if alias != APPION and not merged.get("db"):
            raise ConfigError(f"{path}: section [{alias}] has no 'db' entry; add "
                              f"'db: {DEFAULT_NAMES[alias]}' (the database name)")
        if not merged.get("host"):
            raise ConfigError(f"{path}: no 'host' for [{alias}]; add 'host: <server>' "
                              "under [global]")
        port_text = merged.get("port", "3306") or "3306"
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(f"{path}: port '{port_text}' is not a number; "
                              "use e.g. 'port: 3306'") from None
        databases[alias] = DatabaseLocation(
            "mysql", merged.get("db") or DEFAULT_NAMES[alias], host=merged["host"],
            port=port, user=merged.get("user", ""), password=merged.get("passwd", ""))
    return SinedonConfig(databases, str(path))


def load_config(config: SinedonConfig | str | Path | None = None) -> SinedonConfig:
    """The configuration to use: the argument, else the cfg file found, else embedded."""
    if isinstance(config, SinedonConfig):
        return config
    if config is not None:
        return read_config_file(config)
    path = find_config_file()
    return read_config_file(path) if path else embedded_config()
