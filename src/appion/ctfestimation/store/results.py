"""Write a CTF run and its results into the classic Appion tables.

``ApCtfFind4ParamsData`` / ``ApGctfParamsData`` and ``ApAceRunData`` once per run
(a run name reused with other parameters is refused, as classic does), then one
``ApCtfData`` row per image, idempotently: storing the same image again in the
same run updates its row instead of adding one.
"""

from __future__ import annotations

from typing import Any

import sinedon

from appion.base.errors import AppionError
from appion.ctfestimation.calc.internal.classic import (classic_confidence,
                                                        ctffind_fit_to_ctfdata)
from appion.ctfestimation.calc.internal.spectrum import fitting_box
from appion.ctfestimation.calc.result import CtfResult

#: The ApAceRunData column that points at each parameter table.
PARAMS_COLUMN = {"ApCtfFind4ParamsData": "ctffind4_params", "ApGctfParamsData": "gctf_params"}


def find_run(runname: str, session_id: int) -> dict[str, Any] | None:
    return sinedon.get("ApAceRunData", {"name": runname, "session": session_id})


def save_run(*, runname: str, rundir: str, session_id: int, params_table: str,
             params: dict[str, Any]) -> int:
    """The run's ApAceRunData id (created once); a same-name run with other parameters is refused."""
    column = PARAMS_COLUMN[params_table]
    with sinedon.atomic("appiondata"):
        params_id = sinedon.set(params_table, params)
        path_id = sinedon.set("ApPathData", {"path": rundir})
        existing = find_run(runname, session_id)
        if existing is not None:
            if existing.get(column) != params_id and not _same_but_forced_box(
                    params_table, params, existing):
                raise AppionError(
                    f"run name {runname} was already used in this session with different "
                    "CTF parameters; choose another --runname (or repeat the same flags)")
            return int(existing["id"])
        return sinedon.insert("ApAceRunData", {
            "name": runname, "session": session_id, "path": path_id, "hidden": False,
            column: params_id})


def _same_but_forced_box(params_table: str, params: dict[str, Any],
                         run: dict[str, Any]) -> bool:
    """Whether the run's parameters are ``params`` with the fieldsize its micrographs forced.

    A ``--fieldsize`` larger than the micrographs is stored as the box actually used
    (:func:`record_fieldsize`); the same command line run again is the same run.
    """
    stored_id = run.get(PARAMS_COLUMN[params_table])
    stored = sinedon.get(params_table, {"id": stored_id}) if stored_id else None
    if stored is None or not stored["fieldsize"] < params["fieldsize"]:
        return False
    same = sinedon.get(params_table, {**params, "fieldsize": stored["fieldsize"]})
    if same is None or same["id"] != stored_id:
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
    for table, column in PARAMS_COLUMN.items():
        if run and run.get(column):
            params = sinedon.get(table, {"id": run[column]})
            return params["fieldsize"] if params else None
    return None


def record_fieldsize(acerun_id: int, fieldsize: int) -> None:
    """Point the run at parameters with the fieldsize actually used (smaller than asked).

    Parameter rows are shared between runs, so a new row is set (or found), never
    an existing one changed.
    """
    with sinedon.atomic("appiondata"):
        run = sinedon.get("ApAceRunData", {"id": acerun_id})
        for table, column in PARAMS_COLUMN.items():
            if run.get(column):
                params = sinedon.get(table, {"id": run[column]})
                values = {key: value for key, value in params.items()
                          if key not in ("id", "def_timestamp")}
                new_id = sinedon.set(table, {**values, "fieldsize": fieldsize})
                sinedon.update("ApAceRunData", acerun_id, {column: new_id})


def done_images(acerun_id: int) -> set[int]:
    return {row["image"] for row in sinedon.filter("ApCtfData", {"acerun": acerun_id},
                                                   fields=("image",))}


def ctfdata_values(result: CtfResult, acerun_id: int) -> dict[str, Any]:
    """The ApCtfData row of a result: classic mapping, convention, scores and confidence."""
    fit, scores, search = result.fit, result.scores, result.search
    values = ctffind_fit_to_ctfdata(fit.defocus_1_a, fit.defocus_2_a, fit.azimuth_deg,
                                    fit.phase_shift_rad, fit.cross_correlation,
                                    fit.fit_resolution_a)
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
        tilt_axis_angle=result.tilt_axis_angle_deg,
        sample_thickness=result.sample_thickness_a)
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
