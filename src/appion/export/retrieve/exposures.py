"""Read a session's motion-corrected exposures and their CTF from the classic tables.

Only classic rows are read (``ApDDStackRunData``, ``ApDDAlignImagePairData``,
``ApDDFrameTrajectoryData``, ``ApDDAlignStatsData``, ``ApCtfData``, ``ApAceRunData``,
Leginon's images, cameras, presets and ice thickness; a picking run's
``ApSelectionRunData``/``ApParticleData``, :mod:`appion.export.retrieve.picks`), so runs
made by classic Appion or by the MotionCor2/CTFFIND engines export like the built-in ones.  A
fixed number of bulk queries per call, whatever the number of exposures.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from typing import Any

import sinedon
from appion.base.calc.internal.pixel_size import calc_pixel_size
from appion.base.errors import AppionError
from appion.base.retrieve.images import combine_status, complete_status, ice_thickness
from appion.base.retrieve.leginon_rows import referenced_row, rows_by_ids
from appion.export.calc.exposure import CtfFit, Exposure, Movie, Pick
from appion.export.retrieve.picks import pick_run, picks_by_image
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.retrieve.metadata import find_frames_file, load_image_metadata


def motion_run(session_id: int, runname: str | None) -> dict[str, Any]:
    """The ``ApDDStackRunData`` row named ``runname``, else the session's newest."""
    where = {"session": session_id, **({"runname": runname} if runname else {})}
    rows = sinedon.filter("ApDDStackRunData", where)
    if not rows:
        what = f"motion correction run '{runname}'" if runname else "motion correction run"
        raise AppionError(f"no {what} in session id {session_id}; check --run or run "
                          "makeDDAlignMotionCor2_UCSF.py first")
    return max(rows, key=lambda row: row["id"])


def aligned_pairs(run_id: int) -> dict[int, list[int]]:
    """``{source image id: [aligned image ids, oldest first]}`` of a motion run."""
    pairs: dict[int, list[int]] = {}
    for row in sinedon.filter("ApDDAlignImagePairData", {"ddstackrun": run_id}):
        pairs.setdefault(int(row["source"]), []).append(int(row["result"]))
    return pairs


def _positions(row: dict | None) -> tuple[tuple[float, float], ...]:
    if not row:
        return ()
    xs, ys = (_sequence(row.get(key)) for key in ("pos_x", "pos_y"))
    return tuple(zip(xs, ys))


def _sequence(value: Any) -> list[float]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = ast.literal_eval(value)
    return [float(item) for item in value]


def _image_path(image: dict, session: dict) -> str:
    name = image.get("image") or f"{image['filename']}.mrc"
    return os.path.join(session.get("image_path") or "", name)


def _pixel_size(meta: P.ImageMetadata) -> float | None:
    binning = int(meta.camera.get("binning_x") or 1)
    return calc_pixel_size(meta.pixel_calibrations, meta.image["def_timestamp"], binning)


def _movie(meta: P.ImageMetadata) -> Movie:
    frame_path = meta.session.get("frame_path") or ""
    path = find_frames_file(frame_path, meta.image["filename"]) if frame_path else None
    rot, flip = P.orientation(meta)
    return Movie(path=path, size_x=int(meta.camera.get("dimension_x") or 0),
                 size_y=int(meta.camera.get("dimension_y") or 0),
                 frames=P.raw_frame_count(meta), pixel_size_a=_pixel_size(meta),
                 is_eer=bool(meta.camera.get("eer_frames")), gain_path=meta.norm_path(),
                 rot_gain=rot, flip_gain=flip, defects=P.defects_of(meta))


def _newest_by(rows: Iterable[dict], key: str) -> dict[int, dict]:
    newest: dict[int, dict] = {}
    for row in sorted(rows, key=lambda row: row["id"]):
        newest[int(row[key])] = row
    return newest


def ctf_rows(image_ids: list[int], ctf_runname: str | None, session_id: int) -> dict[int, dict]:
    """``{image id: newest ApCtfData row}`` (of the named run when given)."""
    where: dict[str, Any] = {"image__in": image_ids}
    if ctf_runname:
        runs = sinedon.ids("ApAceRunData", {"name": ctf_runname, "session": session_id})
        if not runs:
            raise AppionError(f"no CTF run '{ctf_runname}' in session id {session_id}; "
                              "check --ctf-run")
        where["acerun__in"] = runs
    return _newest_by(sinedon.filter("ApCtfData", where) if image_ids else [], "image")


def _ctf_runs(rows: Iterable[dict]) -> dict[int, dict]:
    runs = rows_by_ids("ApAceRunData", {row["acerun"] for row in rows})
    paths = rows_by_ids("ApPathData", {run.get("path") for run in runs.values()})
    params = rows_by_ids("ApCtfFind4ParamsData",
                         {run.get("ctffind4_params") for run in runs.values()})
    for run in runs.values():
        run["_path"] = (referenced_row(paths, run.get("path")) or {}).get("path")
        run["_phase"] = bool((referenced_row(params, run.get("ctffind4_params")) or {})
                             .get("shift_phase"))
    return runs


def _ctf_fit(row: dict, run: dict) -> CtfFit:
    image = None
    if run.get("_path") and row.get("graph1"):
        image = os.path.join(run["_path"], "opimages", row["graph1"])
    return CtfFit(image_id=int(row["image"]), defocus1_m=float(row["defocus1"]),
                  defocus2_m=float(row["defocus2"]),
                  angle_astigmatism_deg=float(row["angle_astigmatism"] or 0.0),
                  resolution_a=row.get("ctffind4_resolution"),
                  confidence=row.get("confidence"),
                  cross_correlation=row.get("cross_correlation"),
                  cs_mm=float(row.get("cs") or 2.7),
                  amplitude_contrast=float(row.get("amplitude_contrast") or 0.1),
                  phase_shift_rad=row.get("extra_phase_shift") if run.get("_phase") else None,
                  ctf_image=image if image and os.path.exists(image) else None)


def _camera_names(metas: Iterable[P.ImageMetadata]) -> dict[int | None, str]:
    ids = {meta.camera.get("ccdcamera") for meta in metas}
    rows = rows_by_ids("InstrumentData", ids)
    return {key: str(row.get("name") or key) for key, row in rows.items()}


def _split_dw(aligned: list[int], images: dict[int, dict]) -> tuple[int, int | None]:
    plain = [i for i in aligned if "-DW" not in images[i]["filename"]]
    weighted = [i for i in aligned if "-DW" in images[i]["filename"]]
    return (plain or weighted)[0], (weighted[0] if weighted else None)


def _best_ctf(ids: Iterable[int], ctfs: dict[int, dict]) -> dict | None:
    rows = [ctfs[i] for i in ids if i in ctfs]
    return max(rows, key=lambda row: row["id"]) if rows else None


def _status(ids: Iterable[int], status: dict[int, bool | None]) -> bool | None:
    values = [status.get(i) for i in ids]
    return combine_status(False if False in values else None,
                          True if True in values else None)


def _picks_of(aligned: Iterable[int], picks: dict[int, tuple[Pick, ...]]
              ) -> tuple[Pick, ...] | None:
    """The picks of the first picked aligned sum (plain, then dose-weighted: the same
    pixels), ``None`` when the picking run picked neither."""
    return next((picks[i] for i in aligned if i in picks), None)


def load_exposures(session: dict, *, runname: str | None = None,
                   ctf_runname: str | None = None,
                   pick_runname: str | None = None) -> list[Exposure]:
    """The session's exposures aligned by the motion run, oldest first, with the picks
    of the picking run ``pick_runname`` (default: the newest; none: no picks)."""
    run = motion_run(session["id"], runname)
    pairs = aligned_pairs(run["id"])
    aligned_ids = sorted({i for ids in pairs.values() for i in ids})
    all_ids = sorted(set(pairs) | set(aligned_ids))
    metas = load_image_metadata(all_ids)
    images = {i: meta.image for i, meta in metas.items()}
    where = {"ddstackrun": run["id"], "image__in": aligned_ids}
    trajectories = _newest_by(sinedon.filter("ApDDFrameTrajectoryData", where), "image")
    stats = _newest_by(sinedon.filter("ApDDAlignStatsData", where), "image")
    ctfs = ctf_rows(all_ids, ctf_runname, session["id"])
    ctf_runs = _ctf_runs(ctfs.values())
    ice = ice_thickness(sorted(pairs))
    status = complete_status(session["id"], {"image__in": all_ids})
    cameras = _camera_names(metas.values())
    picking = pick_run(session["id"], pick_runname)
    picks = picks_by_image(picking, aligned_ids) if picking else {}
    exposures = []
    for source_id in sorted(pairs):
        if source_id not in metas:
            continue
        plain, weighted = _split_dw([i for i in pairs[source_id] if i in images], images)
        meta, aligned = metas[source_id], metas[plain]
        ids = (source_id, *pairs[source_id])
        ctf = _best_ctf(ids, ctfs)
        exposures.append(Exposure(
            source_id=source_id, name=meta.image["filename"], session_id=session["id"],
            preset=(meta.preset or {}).get("name"),
            camera=cameras.get(meta.camera.get("ccdcamera"), "camera"),
            aligned_id=plain, aligned_path=_image_path(aligned.image, session),
            aligned_dw_path=(_image_path(images[weighted], session) if weighted else None),
            aligned_pixel_size_a=(stats.get(plain) or {}).get("apix") or _pixel_size(aligned),
            positions=_positions(trajectories.get(plain)), movie=_movie(meta),
            voltage_kv=(meta.scope.get("high_tension") or 0) / 1000.0 or None,
            total_dose=P.calc_total_dose(None, (meta.preset or {}).get("dose")),
            ctf=_ctf_fit(ctf, ctf_runs.get(ctf["acerun"], {})) if ctf else None,
            ice_thickness=ice.get(source_id), status=_status(ids, status), image_ids=ids,
            picks=_picks_of((plain, *([weighted] if weighted else []), *pairs[source_id]),
                            picks)))
    return exposures
