"""Several simulated microscopes at once: ``appion simulate --scope`` and ``run_facility``."""

from __future__ import annotations

import argparse
import datetime
import threading
import time

import pytest

import sinedon
from appion.base.errors import UsageError
from appion.simulation.facility import (
    FacilityError,
    ScopeSpec,
    default_prefix,
    parse_scope_spec,
    run_facility,
    session_names,
)
from appion.simulation.session import start_session
from tests.conftest import run_cli


def _simulate(args: list[str], env: dict[str, str]):
    return run_cli(["python", "-m", "appion.cli.main", "simulate", *args], env=env)


def _images(session_name: str) -> list[dict]:
    session = sinedon.get("SessionData", {"name": session_name})
    assert session is not None, f"no session {session_name}"
    return sinedon.filter("AcquisitionImageData", {"session": session["id"]})


def _instrument_name(row_id: int) -> str:
    return sinedon.get("InstrumentData", {"id": row_id})["name"]


def _instruments(image: dict) -> tuple[str, str]:
    """(TEM name, camera name) of an exposure, through its scope and camera rows."""
    scope = sinedon.get("ScopeEMData", {"id": image["scope"]})
    camera = sinedon.get("CameraEMData", {"id": image["camera"]})
    return _instrument_name(scope["tem"]), _instrument_name(camera["ccdcamera"])


def test_two_microscopes_write_their_own_sessions(db, tmp_path):
    root = tmp_path / "sessions"
    result = _simulate(["--session", "sim26fac", "--root", str(root), "--exposures", "3",
                        "--scope", "Krios1:k3:0.2", "--scope", "Glacios:falcon4-eer:0.2:1"],
                       db.env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("  Krios1: exposure ") for line in lines) == 3
    assert sum(line.startswith("  Glacios: exposure ") for line in lines) == 1
    assert "sim26fac-krios1: wrote 3 exposures" in lines
    assert "sim26fac-glacios: wrote 1 exposures" in lines

    db.setup()
    krios, glacios = _images("sim26fac-krios1"), _images("sim26fac-glacios")
    assert len(krios) == 3 and len(glacios) == 1
    assert {_instruments(image) for image in krios} == {("Krios1", "GatanK3")}
    assert {_instruments(image) for image in glacios} == {("Glacios", "Falcon4EC")}
    tem = sinedon.get("InstrumentData", {"name": "Glacios"})
    assert tem["hostname"] == "glacios-sim"
    assert (root / "frames" / "sim26fac-glacios" / "rawdata"
            / f"{glacios[0]['filename']}.frames.eer").is_file()


def test_microscope_names_the_single_session_tem(sqlite_db, tmp_path):
    result = _simulate(["--session", "sim26mic", "--microscope", "Talos", "--exposures", "0",
                        "--root", str(tmp_path)], sqlite_db.env)
    assert result.returncode == 0, result.stderr
    sqlite_db.setup()
    session = sinedon.get("SessionData", {"name": "sim26mic"})
    preset = sinedon.get("PresetData", {"session": session["id"]})
    tem = sinedon.get("InstrumentData", {"id": preset["tem"]})
    assert (tem["name"], tem["hostname"]) == ("Talos", "talos-sim")


def test_default_microscope_is_the_krios_of_old(sqlite_db, tmp_path):
    session = start_session(tmp_path, "sim26old", "k3")
    tem = sinedon.get("InstrumentData", {"id": session.tem_id})
    assert (tem["name"], tem["hostname"], session.microscope) == (
        "TitanKrios", "krios-sim", "TitanKrios")


def test_bad_scopes_are_one_line_errors(sqlite_db, tmp_path):
    bad = _simulate(["--scope", "Krios1:falcon3:1", "--root", str(tmp_path)], sqlite_db.env)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == (
        "appion simulate: error: argument --scope: unknown camera 'falcon3' in "
        "'Krios1:falcon3:1'; choose one of k3, k2, falcon4-eer, de")
    twice = _simulate(["--scope", "Krios:k3:1", "--scope", "krios:k2:1",
                       "--root", str(tmp_path)], sqlite_db.env)
    assert twice.returncode == 2
    assert twice.stderr.strip() == (
        "appion: error: microscope name 'krios' is given twice (names are compared in "
        "lower case); give each --scope its own name")
    mixed = _simulate(["--scope", "Krios:k3:1", "--camera", "k2", "--root", str(tmp_path)],
                      sqlite_db.env)
    assert mixed.returncode == 2 and mixed.stderr.startswith("appion: error: --camera ")
    assert "Traceback" not in bad.stderr + twice.stderr + mixed.stderr


@pytest.mark.parametrize("text, expected", [
    ("Krios1:k3:0.5", ScopeSpec("Krios1", "k3", 0.5, 7)),
    ("Glacios_2:falcon4-eer:2:3", ScopeSpec("Glacios_2", "falcon4-eer", 2.0, 3)),
    ("T-1:de:1:0:4.5", ScopeSpec("T-1", "de", 1.0, 0, start_delay_s=4.5)),
    ("T:k2:1::10", ScopeSpec("T", "k2", 1.0, 7, start_delay_s=10.0)),
])
def test_scope_specs_parse(text, expected):
    assert parse_scope_spec(text, default_exposures=7) == expected


@pytest.mark.parametrize("text, message", [
    ("Krios1:k3", "is not NAME:CAMERA:INTERVAL"),
    ("Krios 1:k3:1", "microscope name 'Krios 1'"),
    ("Krios1:k3:0", "INTERVAL in 'Krios1:k3:0' must be a positive number"),
    ("Krios1:k3:nan", "INTERVAL"),
    ("Krios1:k3:1:-2", "EXPOSURES in 'Krios1:k3:1:-2' must be a whole number"),
    ("Krios1:k3:1:2:-1", "START_DELAY_S in 'Krios1:k3:1:2:-1' must be a non-negative"),
])
def test_bad_scope_specs_are_refused(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message) as raised:
        parse_scope_spec(text)
    assert "\n" not in str(raised.value)


def test_session_names_take_the_first_free_letter_of_the_day():
    day = datetime.date(2026, 11, 30)
    existing = {"26nov30a-krios1", "26nov30b-glacios"}
    specs = [ScopeSpec("Krios1", "k3", 1, 1), ScopeSpec("Glacios", "k2", 1, 1)]
    assert default_prefix(day, ["Krios1", "Glacios"], existing.__contains__) == "26nov30c"
    assert session_names(specs, None, existing.__contains__, today=day) == {
        "Krios1": "26nov30c-krios1", "Glacios": "26nov30c-glacios"}
    with pytest.raises(UsageError, match="'26nov30a-krios1' already exists"):
        session_names(specs, "26nov30a", existing.__contains__)


def test_a_late_microscope_starts_after_its_delay(db, tmp_path):
    delay = 3.0
    specs = [ScopeSpec("Krios1", "k3", 0.2, 3, seed=1),
             ScopeSpec("Krios2", "k3", 0.2, 2, start_delay_s=delay, seed=2)]
    seen: dict[str, list[float]] = {"Krios1": [], "Krios2": []}
    sessions: list[tuple[str, float]] = []
    started = time.monotonic()
    written = run_facility(
        tmp_path, specs, session_prefix="sim26late", stop=threading.Event(),
        on_exposure=lambda exposure: seen[exposure.microscope].append(time.monotonic()),
        on_session=lambda spec, session: sessions.append((session.name, time.monotonic())))
    assert written == {"sim26late-krios1": 3, "sim26late-krios2": 2}
    assert [name for name, _ in sessions] == ["sim26late-krios1", "sim26late-krios2"]
    assert sessions[1][1] - started >= delay  # the late session is made after the delay
    assert len(seen["Krios1"]) == 3 and len(seen["Krios2"]) == 2
    assert min(seen["Krios2"]) - started >= delay
    assert len(_images("sim26late-krios1")) == 3 and len(_images("sim26late-krios2")) == 2


def test_stop_ends_every_microscope(sqlite_db, tmp_path):
    stop = threading.Event()
    specs = [ScopeSpec("Krios1", "k3", 60, 5), ScopeSpec("Krios2", "k3", 0.2, 5,
                                                         start_delay_s=60)]
    written = run_facility(tmp_path, specs, session_prefix="sim26stop", stop=stop,
                           on_exposure=lambda exposure: stop.set())
    assert written == {"sim26stop-krios1": 1}  # Krios2 never started
    assert sinedon.get("SessionData", {"name": "sim26stop-krios2"}) is None


def test_a_failing_microscope_is_reported_and_the_others_finish(sqlite_db, tmp_path):
    specs = [ScopeSpec("Krios1", "k3", 0.2, 2), ScopeSpec("Broken", "k3", 0.2, 2, size="huge")]
    with pytest.raises(FacilityError) as raised:
        run_facility(tmp_path, specs, session_prefix="sim26fail", stop=threading.Event())
    assert str(raised.value) == ("microscope Broken failed: unknown size 'huge'; choose one "
                                 "of small, full")
    assert raised.value.written == {"sim26fail-krios1": 2}
    assert len(_images("sim26fail-krios1")) == 2
