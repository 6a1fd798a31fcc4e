"""Write a CTF run and its results into the classic Appion tables.

``ApCtfFind4ParamsData`` and ``ApAceRunData`` once per run (classic ``gctf.py`` keeps
its parameters in the same table, linked through ``ctffind4_params``; a run name
reused with other parameters is refused, as classic does, before anything is
written), then one ``ApCtfData`` row per image, idempotently: storing the same
image again in the same run updates its row instead of adding one.
"""

from __future__ import annotations

from typing import Any

import sinedon
from appion.base.errors import AppionError
from appion.ctfestimation.calc.internal.classic import (
    classic_confidence,
    ctffind_fit_to_ctfdata,
)
from appion.ctfestimation.calc.internal.spectrum import fitting_box
from appion.ctfestimation.contract import CtfResult

PARAMS_TABLE = "ApCtfFind4ParamsData"
PARAMS_COLUMN = "ctffind4_params"


def find_run(runname: str, session_id: int) -> dict[str, Any] | None:
    return sinedon.get("ApAceRunData", {"name": runname, "session": session_id})


def _stored_params(run: dict[str, Any]) -> dict[str, Any] | None:
    params_id = run.get(PARAMS_COLUMN)
    return sinedon.get(PARAMS_TABLE, {"id": params_id}) if params_id else None


def _matches(stored: dict[str, Any] | None, params: dict[str, Any]) -> bool:
    return stored is not None and all(stored.get(key) == value for key, value in params.items()
                                      if key in stored)


def save_run(*, runname: str, rundir: str, session_id: int, params: dict[str, Any]) -> int:
    """The run's ApAceRunData id (created once); a same-name run with other parameters
    is refused before any row is written (no orphan parameter rows)."""
    with sinedon.atomic("appiondata"):
        existing = find_run(runname, session_id)
        if existing is not None:
            stored = _stored_params(existing)
            if not _matches(stored, params) and not _same_but_forced_box(
                    params, existing, stored):
                raise AppionError(
                    f"run name {runname} was already used in this session with different "
                    "CTF parameters; choose another --runname (or repeat the same flags)")
            return int(existing["id"])
        params_id = sinedon.set(PARAMS_TABLE, params)
        path_id = sinedon.set("ApPathData", {"path": rundir})
        return sinedon.insert("ApAceRunData", {
            "name": runname, "session": session_id, "path": path_id, "hidden": False,
            PARAMS_COLUMN: params_id})


def _same_but_forced_box(params: dict[str, Any], run: dict[str, Any],
                         stored: dict[str, Any] | None) -> bool:
    """Whether the run's parameters are ``params`` with the fieldsize its micrographs forced.

    A ``--fieldsize`` larger than the micrographs is stored as the box actually used
    (:func:`record_fieldsize`); the same command line run again is the same run.
    """
    if stored is None or not stored["fieldsize"] < params["fieldsize"]:
        return False
    if not _matches(stored, {**params, "fieldsize": stored["fieldsize"]}):
        return False
    done = sinedon.get("ApCtfData", {"acerun": run["id"]})
    image = sinedon.get("AcquisitionImageData", {"id": done["image"]}) if done else None
    camera = sinedon.get("CameraEMData", {"id": image["camera"]}) if image else None
    if not camera or not camera.get("dimension_x") or not camera.get("dimension_y"):
        return False
    shape = (camera["dimension_y"], camera["dimension_x"])
    try:
        return fitting_box(params["fieldsize"], shape) == stored["fieldsize"]
    except ValueError:
        return False


def run_fieldsize(acerun_id: int) -> int | None:
    """The spectrum box (``fieldsize``) stored for a run."""
    run = sinedon.get("ApAceRunData", {"id": acerun_id})
    params = _stored_params(run) if run else None
    return params["fieldsize"] if params else None


def record_fieldsize(acerun_id: int, fieldsize: int) -> None:
    """Point the run at parameters with the fieldsize actually used (smaller than asked).

    Parameter rows are shared between runs, so a new row is set (or found), never
    an existing one changed.
    """
    with sinedon.atomic("appiondata"):
        run = sinedon.get("ApAceRunData", {"id": acerun_id})
        params = _stored_params(run) if run else None
        if params is not None:
            values = {key: value for key, value in params.items()
                      if key not in ("id", "def_timestamp")}
            new_id = sinedon.set(PARAMS_TABLE, {**values, "fieldsize": fieldsize})
            sinedon.update("ApAceRunData", acerun_id, {PARAMS_COLUMN: new_id})


def done_images(acerun_id: int) -> set[int]:
    return {row["image"] for row in sinedon.filter("ApCtfData", {"acerun": acerun_id},
                                                   fields=("image",))}


def ctfdata_values(result: CtfResult, acerun_id: int) -> dict[str, Any]:
    """The ApCtfData row of a result: classic mapping, convention, scores and confidence."""
    fit, scores, search = result.fit, result.scores, result.search
    values: dict[str, Any] = ctffind_fit_to_ctfdata(
        fit.defocus_1_a, fit.defocus_2_a, fit.azimuth_deg, fit.phase_shift_rad,
        fit.cross_correlation, fit.fit_resolution_a)
    values.update(
        acerun=acerun_id, image=result.image_id, cs=search.cs_mm,
        defocusinit=result.defocus_init_a * 1e-10,
        amplitude_contrast=search.amplitude_contrast,
        confidence_30_10=scores.confidence_30_10, confidence_5_peak=scores.confidence_5_peak,
        resolution_80_percent=scores.resolution_80_percent,
        resolution_50_percent=scores.resolution_50_percent,
        graph1=result.graph1, graph2=result.graph2, graph3=result.graph3,
        graph4=result.graph4,
        localCTFstarfile=result.local_star, tilt_angle=result.tilt_angle_deg,
        tilt_axis_angle=result.tilt_axis_angle_deg)
    values["confidence"] = classic_confidence(values)
    return values


def store_ctf(acerun_id: int, result: CtfResult) -> int:
    """Insert (or, for an image already in this run, update) its ApCtfData row; its id."""
    values = ctfdata_values(result, acerun_id)
    with sinedon.atomic("appiondata"):
        existing = sinedon.get("ApCtfData", {"acerun": acerun_id, "image": result.image_id})
        if existing is not None:
            sinedon.update("ApCtfData", existing["id"], values)
            return int(existing["id"])
        return sinedon.insert("ApCtfData", values)
