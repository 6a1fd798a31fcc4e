"""Load the 13 production flag cases (data/motioncor2_flag_cases.json) into test databases.

The JSON holds the Leginon rows of real exposures under SEMC's key names
(``subd_dimension_x``, ``seq_use_frames``, ``ref_sessiondata_session`` …); they are
mapped to the sinedon field names and inserted with their original ``DEF_id`` and
timestamps.  Production paths are moved under a temporary root, where the frames
file and the norm reference are created (placeholders: only their existence
matters to ``--dry-run``).
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
CASES_FILE = DATA / "motioncor2_flag_cases.json"
PATH_KEYS = ("image_path", "frame_path")


def load_cases() -> list[dict[str, Any]]:
    return json.loads(CASES_FILE.read_text())


def field_name(key: str) -> str:
    """SEMC's JSON key -> sinedon field: strip ``subd_``, ``seq_``, ``mrc_``, ``ref_<table>_``."""
    if key == "def_id":
        return "id"
    key = re.sub(r"^ref_[a-z]+data_", "", key)
    return re.sub(r"^(subd|seq|mrc)_", "", key)


def relocate(path: str | None, root: Path) -> str | None:
    return None if path is None else str(root) + path


def _timestamp(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("T", " "))


def to_row(model: str, values: dict[str, Any], root: Path) -> dict[str, Any]:
    """Map one JSON row onto the model's fields (unknown keys are dropped)."""
    import sinedon
    fields = {field.name for field in sinedon.model_for(model)._meta.concrete_fields}
    row = {}
    for key, value in values.items():
        name = field_name(key)
        if name not in fields:
            continue
        if name == "def_timestamp":
            value = _timestamp(value)
        elif name in PATH_KEYS:
            value = relocate(value, root)
        row[name] = value
    return row


def _insert_once(model: str, row: dict[str, Any]) -> None:
    import sinedon
    if row.get("id") is not None and sinedon.get(model, {"id": row["id"]}):
        return
    sinedon.insert(model, row)


def insert_case(case: dict[str, Any], root: Path) -> dict[str, Any]:
    """Insert one case's rows and create its files; returns the image row."""
    meta = case["imgmetadata"]
    image = to_row("AcquisitionImageData", meta["imgdata"], root)
    camera = to_row("CameraEMData", meta["cameraemdata"], root)
    scope = to_row("ScopeEMData", meta["scope"], root)
    session = to_row("SessionData", meta["sessiondata"], root)
    _insert_once("SessionData", session)
    _insert_once("InstrumentData", to_row("InstrumentData", meta["ccdcamera"], root))
    _insert_once("CameraEMData", camera)
    _insert_once("ScopeEMData", scope)
    _insert_once("PresetData", to_row("PresetData", meta["presetdata"], root))
    if meta.get("correctorplandata"):
        _insert_once("CorrectorPlanData", to_row("CorrectorPlanData",
                                                 meta["correctorplandata"], root))
    gain = meta.get("gainmetadata") or {}
    if gain.get("normimagedata"):
        ref_session = to_row("SessionData", gain["sessiondata"], root)
        _insert_once("SessionData", ref_session)
        norm = to_row("NormImageData", gain["normimagedata"], root)
        _insert_once("NormImageData", norm)
        norm_file = Path(ref_session["image_path"]) / norm["image"]
        norm_file.parent.mkdir(parents=True, exist_ok=True)
        norm_file.write_bytes(b"")
    for calibration in meta["pixelsizedata"]:
        _insert_once("PixelSizeCalibrationData", {
            "def_timestamp": _timestamp(calibration["timestamp"]),
            "pixelsize": calibration["pixelsize"], "tem": scope.get("tem"),
            "ccdcamera": camera.get("ccdcamera"), "magnification": scope.get("magnification")})
    _insert_once("AcquisitionImageData", image)
    frames = Path(session["frame_path"]) / f"{image['filename']}.frames.tif"
    frames.parent.mkdir(parents=True, exist_ok=True)
    frames.write_bytes(b"")
    return image


def classic_argv(flags: dict[str, Any], root: Path, projectid: int) -> list[str]:
    """The command line the classic web UI sent, with the run directory moved under ``root``."""
    argv = []
    for key, value in flags.items():
        if value is False:
            continue
        if key == "projectid":
            value = projectid
        elif key == "rundir":
            value = relocate(value, root)
        argv.append(f"--{key}" if value == "" or value is True else f"--{key}={value}")
    return argv
