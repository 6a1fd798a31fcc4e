"""Throwaway Leginon databases with years of history, for ``benchmarks/facility.py``.

:func:`throwaway_databases` creates a set of databases with the project's schema (on
the MariaDB server of the tests, ``APPION_TEST_MYSQL_*``, or as embedded SQLite files)
and removes them when the ``with`` block ends, however it ends.  :func:`fill_history`
writes the past sessions with bulk ``INSERT ... SELECT`` statements (the cross product
of a numbers table with itself), so a million images take minutes, not hours;
:func:`add_live_session` adds one new session the way a microscope starts one.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sinedon

PROJECT_ID = 1
MYSQL = {"host": os.environ.get("APPION_TEST_MYSQL_HOST", "127.0.0.1"),
         "port": int(os.environ.get("APPION_TEST_MYSQL_PORT", "3306")),
         "user": os.environ.get("APPION_TEST_MYSQL_USER", "root"),
         "password": os.environ.get("APPION_TEST_MYSQL_PASSWORD", "")}
#: Presets of every past session: the exposure preset and a square preset (1 in 10).
PRESETS = ("enn", "sq")
#: (TEM, camera) InstrumentData names; session k uses pair k mod 4.
INSTRUMENTS = (("Krios1", "GatanK3"), ("Krios2", "GatanK2"), ("Glacios", "DEApollo"),
               ("Krios3", "Falcon4EC"))
#: Seconds between two exposures of a past session.
EXPOSURE_EVERY_S = 10
#: Images per bulk statement (one transaction each).
CHUNK_IMAGES = 100_000


@dataclass(frozen=True)
class History:
    """What :func:`fill_history` wrote."""

    sessions: int
    images: int
    first_at: float                # epoch s of the oldest image
    last_at: float                 # epoch s of the newest image
    seconds: float                 # the fill's wall time


@contextmanager
def throwaway_databases(backend: str) -> Iterator[sinedon.SinedonConfig]:
    """A fresh set of databases with the schema (sinedon set up on it), dropped or
    deleted at the end, also after an error or an interrupt."""
    with tempfile.TemporaryDirectory(prefix="appion-facility-bench-") as folder:
        if backend == "sqlite":
            config = sinedon.embedded_config(Path(folder))
            _init_schema(config, f"ap{PROJECT_ID}")
            try:
                yield config
            finally:
                sinedon.close_all()
            return
        prefix = f"appionbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        names = {sinedon.LEGINON: f"{prefix}_leginon", sinedon.PROJECT: f"{prefix}_project",
                 sinedon.APPION: f"{prefix}_ap{PROJECT_ID}"}
        try:
            config = sinedon.read_config_file(_write_cfg(Path(folder) / "sinedon.cfg", names))
            _init_schema(config, names[sinedon.APPION])
            yield config
        finally:
            _drop_mariadb(names.values())


def _write_cfg(path: Path, names: dict[str, str]) -> Path:
    path.write_text(
        "[global]\n"
        f"host: {MYSQL['host']}\nport: {MYSQL['port']}\nuser: {MYSQL['user']}\n"
        f"passwd: {MYSQL['password']}\n\n"
        f"[leginondata]\ndb: {names[sinedon.LEGINON]}\n\n"
        f"[projectdata]\ndb: {names[sinedon.PROJECT]}\n\n"
        f"[appiondata]\ndb: {names[sinedon.APPION]}\n")
    return path


def _init_schema(config: sinedon.SinedonConfig, appion_db: str) -> None:
    from sinedon import schema
    schema.init_all(PROJECT_ID, project_name="facility benchmark", appion_db=appion_db,
                    config=config)
    sinedon.setup(projectid=PROJECT_ID, config=config)


def _drop_mariadb(names) -> None:
    """Stop this process's statements still running on the server (an interrupted bulk
    insert would hold its table), then drop the databases."""
    import pymysql
    thread_ids = _server_thread_ids()
    sinedon.close_all()
    connection = pymysql.connect(**MYSQL)
    try:
        with connection.cursor() as cursor:
            for thread_id in thread_ids:
                try:
                    cursor.execute(f"KILL {int(thread_id)}")
                except pymysql.Error:
                    pass  # already gone
            for name in names:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        connection.close()


def _server_thread_ids() -> list[int]:
    """The server threads of this process's open Django connections."""
    from django.db import connections
    found = []
    for alias in sinedon.ALIASES:
        try:
            raw = connections[alias].connection
        except Exception:  # not configured: nothing to stop
            continue
        if raw is not None and hasattr(raw, "thread_id"):
            found.append(int(raw.thread_id()))
    return found


# ---------------------------------------------------------------------- history


def fill_history(sessions: int, images: int, *, end_at: float, span_days: float = 3 * 365,
                 progress=None) -> History:
    """``sessions`` past sessions spread evenly over ``span_days`` and ``images`` images
    shared evenly between them, one every :data:`EXPOSURE_EVERY_S` seconds within a
    session, ids ascending with acquisition time; the newest image at ``end_at``."""
    started = time.monotonic()
    per_session = max(1, images // sessions)
    session_every = int(span_days * 86400 / sessions)
    first_at = int(end_at) - (sessions - 1) * session_every - (per_session - 1) * EXPOSURE_EVERY_S
    leginon = _cursor(sinedon.LEGINON)
    _fast_session(leginon)
    _numbers_table(leginon, max(sessions, per_session))
    _fill_instruments(leginon)
    _fill_sessions(leginon, sessions, first_at, session_every)
    _link_projects(sessions)
    for first in range(0, sessions, max(1, CHUNK_IMAGES // per_session)):
        last = min(sessions, first + max(1, CHUNK_IMAGES // per_session))
        _fill_images(leginon, first, last, per_session, first_at, session_every)
        if progress:
            progress(last * per_session, sessions * per_session)
    leginon.close()
    last_at = first_at + (sessions - 1) * session_every + (per_session - 1) * EXPOSURE_EVERY_S
    return History(sessions, sessions * per_session, first_at, last_at,
                   time.monotonic() - started)


def _cursor(alias: str):
    from django.db import connections
    return connections[alias].cursor()


def _vendor() -> str:
    from django.db import connections
    return connections[sinedon.LEGINON].vendor


def _fast_session(cursor) -> None:
    """No per-row unique and foreign-key checks in this connection (MariaDB)."""
    if _vendor() == "mysql":
        cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")


def _numbers_table(cursor, count: int) -> None:
    cursor.execute("CREATE TEMPORARY TABLE bench_numbers (n INTEGER PRIMARY KEY)")
    cursor.executemany("INSERT INTO bench_numbers (n) VALUES (%s)", [[n] for n in range(count)])


def _time_sql(seconds_sql: str) -> str:
    """An epoch-seconds SQL expression as the local time ``DEF_timestamp`` stores."""
    if _vendor() == "mysql":
        return f"FROM_UNIXTIME({seconds_sql})"
    return f"datetime({seconds_sql}, 'unixepoch', 'localtime')"


def _concat_sql(*parts: str) -> str:
    if _vendor() == "mysql":
        return f"CONCAT({', '.join(parts)})"
    return " || ".join(parts)


def _fill_instruments(cursor) -> None:
    rows = [[index * 2 + 1, tem, index * 2 + 2, camera]
            for index, (tem, camera) in enumerate(INSTRUMENTS)]
    cursor.executemany("INSERT INTO InstrumentData (DEF_id, name) VALUES (%s, %s), (%s, %s)",
                       rows)


def _fill_sessions(cursor, sessions: int, first_at: int, every_s: int) -> None:
    """SessionData, its PresetData, one ScopeEMData and one CameraEMData per session:
    session ``k`` (0-based) has id ``k + 1``, presets ``k * 2 + 1 ..``."""
    pairs = len(INSTRUMENTS)
    when = _time_sql(f"{first_at} + n * {every_s}")
    name = _concat_sql("'hist'", "n")
    image_path = _concat_sql("'/data/leginon/hist'", "n")
    frame_path = _concat_sql("'/data/frames/hist'", "n")
    cursor.execute(
        "INSERT INTO SessionData (DEF_id, DEF_timestamp, name, `image path`, `frame path`)"
        f" SELECT n + 1, {when}, {name}, {image_path}, {frame_path}"
        f" FROM bench_numbers WHERE n < {sessions}")
    for number, preset in enumerate(PRESETS):
        cursor.execute(
            "INSERT INTO PresetData (DEF_id, DEF_timestamp, `REF|SessionData|session`, name,"
            " `REF|InstrumentData|tem`, `REF|InstrumentData|ccdcamera`, magnification)"
            f" SELECT n * {len(PRESETS)} + {number + 1}, {when}, n + 1, '{preset}',"
            f" (n % {pairs}) * 2 + 1, (n % {pairs}) * 2 + 2, 105000"
            f" FROM bench_numbers WHERE n < {sessions}")
    cursor.execute(
        "INSERT INTO ScopeEMData (DEF_id, DEF_timestamp, `REF|SessionData|session`,"
        " `high tension`, `REF|InstrumentData|tem`, magnification)"
        f" SELECT n + 1, {when}, n + 1, 300000, (n % {pairs}) * 2 + 1, 105000"
        f" FROM bench_numbers WHERE n < {sessions}")
    cursor.execute(
        "INSERT INTO CameraEMData (DEF_id, DEF_timestamp, `REF|SessionData|session`,"
        " `REF|InstrumentData|ccdcamera`, `SUBD|dimension|x`, `SUBD|dimension|y`, nframes)"
        f" SELECT n + 1, {when}, n + 1, (n % {pairs}) * 2 + 2, 5760, 4092, 40"
        f" FROM bench_numbers WHERE n < {sessions}")
    sinedon_commit(sinedon.LEGINON)


def _link_projects(sessions: int) -> None:
    cursor = _cursor(sinedon.PROJECT)
    cursor.executemany(
        "INSERT INTO projectexperiments (`REF|projects|project`,"
        " `REF|leginondata|SessionData|session`) VALUES (%s, %s)",
        [[PROJECT_ID, k + 1] for k in range(sessions)])
    cursor.close()
    sinedon_commit(sinedon.PROJECT)


def _fill_images(cursor, first: int, last: int, per_session: int, first_at: int,
                 every_s: int) -> None:
    """The images of sessions ``first`` to ``last - 1`` (0-based) in one statement: image
    ``i`` of session ``k`` has id ``k * per_session + i + 1``; every tenth is a square."""
    when = _time_sql(f"{first_at} + s.n * {every_s} + i.n * {EXPOSURE_EVERY_S}")
    preset = f"s.n * {len(PRESETS)} + CASE WHEN i.n % 10 = 9 THEN 2 ELSE 1 END"
    filename = _concat_sql("'hist'", "s.n", "'_'", "i.n",
                           "CASE WHEN i.n % 10 = 9 THEN 'sq' ELSE 'enn' END")
    image = _concat_sql(filename, "'.mrc'")
    cursor.execute(
        "INSERT INTO AcquisitionImageData (DEF_id, DEF_timestamp, `REF|SessionData|session`,"
        " `REF|PresetData|preset`, `REF|ScopeEMData|scope`, `REF|CameraEMData|camera`,"
        " `MRC|image`, filename, label, pixels, pixeltype)"
        f" SELECT s.n * {per_session} + i.n + 1, {when}, s.n + 1, {preset}, s.n + 1, s.n + 1,"
        f" {image}, {filename}, 'Exposure', 23569920, 'float32'"
        f" FROM bench_numbers s CROSS JOIN bench_numbers i"
        f" WHERE s.n >= {first} AND s.n < {last} AND i.n < {per_session}"
        " ORDER BY s.n, i.n")
    sinedon_commit(sinedon.LEGINON)


def sinedon_commit(alias: str) -> None:
    """Commit what the alias's connection wrote outside an atomic block."""
    from django.db import connections
    connection = connections[alias]
    if not connection.get_autocommit():
        connection.commit()


# ------------------------------------------------------------------ live session


def add_live_session(name: str, images: int, *, tem_id: int = 1, camera_id: int = 2) -> int:
    """A new session of project :data:`PROJECT_ID` with ``images`` exposures acquired now,
    as Leginon writes them; returns the SessionData id."""
    session = sinedon.insert("SessionData", {"name": name, "image_path": f"/data/{name}",
                                             "frame_path": f"/frames/{name}"})
    sinedon.insert("projectexperiments", {"project": PROJECT_ID, "session": session})
    preset = sinedon.insert("PresetData", {"session": session, "name": "enn",
                                           "tem": tem_id, "ccdcamera": camera_id})
    scope = sinedon.insert("ScopeEMData", {"session": session, "high_tension": 300000,
                                           "tem": tem_id})
    camera = sinedon.insert("CameraEMData", {"session": session, "ccdcamera": camera_id,
                                             "dimension_x": 5760, "dimension_y": 4092})
    sinedon.insert_many("AcquisitionImageData", [
        {"session": session, "preset": preset, "scope": scope, "camera": camera,
         "image": f"{name}_{index:05d}enn.mrc", "filename": f"{name}_{index:05d}enn"}
        for index in range(images)])
    return session
