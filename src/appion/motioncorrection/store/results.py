"""Store a motion correction the way classic Appion did.

Per run: ``ApDDStackParamsData`` (the preset *name*, the integer ``bin``, the engine
in ``method``) and ``ApDDStackRunData``.  Per image: the aligned sums hard-linked
into the session's image path, a new ``CameraEMData``, ``PresetData``
(``<preset>-a`` / ``-a-DW``) and ``AcquisitionImageData`` for each, copied from the
source rows whole (every column the site's table has, as classic's
``initializer=``), ice-thickness rows copied to both, the frame
trajectory and drift statistics of the non-weighted image, and last the
``ApDDAlignImagePairData`` rows that mark the image done.  Storing an image twice
leaves one set of rows: the pair rows are looked up first, and an aligned image
left by an interrupted store is recognised by its file being ours.
"""

from __future__ import annotations

import filecmp
import math
import os
import shutil
from collections.abc import Sequence
from typing import Any

import sinedon

from appion.base.errors import AppionError
from appion.base.files import atomic_path
from appion.motioncorrection.calc.internal import params as P

_NOT_COPIED = ("id", "def_timestamp")


def save_run(*, runname: str, rundir: str, session_id: int, preset_name: str | None,
             bin_factor: float, engine: str) -> int:
    """``ApDDStackRunData`` (and its params and path), once per run; returns its id."""
    path_id = sinedon.set("ApPathData", {"path": os.path.abspath(rundir)})
    params_id = sinedon.set("ApDDStackParamsData", {
        "preset": preset_name, "align": True, "bin": math.floor(float(bin_factor) + 0.5),
        "stack": None, "method": engine})
    return sinedon.set("ApDDStackRunData", {"runname": runname, "params": params_id,
                                            "session": session_id, "path": path_id})


def find_run(*, runname: str, rundir: str, session_id: int) -> int | None:
    """The ``ApDDStackRunData`` id of this run directory, if it was stored."""
    path = sinedon.get("ApPathData", {"path": os.path.abspath(rundir)})
    if path is None:
        return None
    row = sinedon.get("ApDDStackRunData", {"runname": runname, "session": session_id,
                                           "path": path["id"]})
    return row["id"] if row else None


def done_sources(ddstackrun_id: int) -> set[int]:
    """Source images with a stored aligned result in this run."""
    rows = sinedon.filter("ApDDAlignImagePairData", {"ddstackrun": ddstackrun_id},
                          fields=("source",))
    return {int(row["source"]) for row in rows if row["source"] is not None}


def _copy(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    values = {key: value for key, value in row.items() if key not in _NOT_COPIED}
    values.update(changes)
    return values


def aligned_camera_changes(camera: dict[str, Any], bin_factor: float, trim: int = 0,
                           partial_frames: Sequence[int] | None = None) -> dict[str, Any]:
    """What classic changes in the camera of the aligned sum: binned by ``--bin``,
    trimmed and recentred, frames marked aligned."""
    values: dict[str, Any] = {
        "align_frames": True,
        "use_frames": repr(tuple(partial_frames)) if partial_frames else None}
    for axis in ("x", "y"):
        old_bin = int(camera.get(f"binning_{axis}") or 1)
        new_bin = int(round(old_bin * bin_factor))
        dimension = int(camera.get(f"dimension_{axis}") or 0)
        values[f"binning_{axis}"] = new_bin
        values[f"dimension_{axis}"] = int(dimension * old_bin / new_bin - 2 * trim / new_bin)
        offset = int(camera.get(f"offset_{axis}") or 0)
        values[f"offset_{axis}"] = int((offset * old_bin + trim) / new_bin)
    return values


def aligned_preset_changes(camera_changes: dict[str, Any], camera: dict[str, Any],
                           name: str) -> dict[str, Any]:
    """``<preset>-a``: the source preset renamed, with the aligned camera's geometry."""
    geometry = {key: camera_changes[key] for key in
                ("dimension_x", "dimension_y", "binning_x", "binning_y", "offset_x", "offset_y")}
    return {"name": name, **geometry, "exposure_time": camera.get("exposure_time")}


def _same_file(first: str, second: str) -> bool:
    try:
        return os.path.samefile(first, second) or filecmp.cmp(first, second, shallow=False)
    except OSError:
        return False


def _place(source: str, target: str) -> None:
    """Hard-link ``source`` to ``target`` (copy across devices), never leaving a partial file."""
    with atomic_path(target) as temporary:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)


def choose_name(image_path: str, base_name: str, aligned_path: str) -> tuple[str, bool]:
    """``(name, already_placed)``: ``base_name`` or ``base_name_vNN`` not taken by another file."""
    for version in range(100):
        name = P.versioned_name(base_name, version)
        target = os.path.join(image_path, name + ".mrc")
        if not os.path.exists(target):
            return name, False
        if _same_file(aligned_path, target):
            return name, True
    raise AppionError(f"{base_name}: 100 versions already exist in {image_path}; clean up")


def _aligned_preset_id(meta: P.ImageMetadata, camera_changes: dict[str, Any],
                       name: str) -> int:
    changes = aligned_preset_changes(camera_changes, meta.camera, name)
    if meta.preset and meta.preset.get("id"):
        return sinedon.copy_row("PresetData", meta.preset["id"], changes,
                                reuse_identical=True)
    return sinedon.set("PresetData", {"session": meta.image["session"], **changes})


def _store_image(meta: P.ImageMetadata, aligned_path: str, label: str, camera_id: int,
                 camera_changes: dict[str, Any]) -> int:
    image_path = meta.session.get("image_path") or ""
    if not os.path.isdir(image_path):
        raise AppionError(f"image path {image_path} of session {meta.session.get('name')} "
                          "does not exist; create it or fix SessionData")
    source_preset = (meta.preset or {}).get("name")
    preset_name = P.aligned_preset_name(source_preset, label)
    base = P.aligned_filename(meta.image["filename"], label)
    name, placed = choose_name(image_path, base, aligned_path)
    if placed:
        existing = sinedon.get("AcquisitionImageData",
                               {"session": meta.image["session"], "filename": name})
        if existing:
            return existing["id"]
    else:
        _place(aligned_path, os.path.join(image_path, name + ".mrc"))
    preset_id = _aligned_preset_id(meta, camera_changes, preset_name)
    return sinedon.copy_row("AcquisitionImageData", meta.image_id, {
        "camera": camera_id, "preset": preset_id, "filename": name, "image": name + ".mrc"})


def _copy_ice_thickness(source_id: int, target_ids: Sequence[int]) -> None:
    for model in ("ObjIceThicknessData", "ZeroLossIceThicknessData"):
        for row in sinedon.filter(model, {"image": source_id}):
            for target in target_ids:
                sinedon.set(model, _copy(row, image=target))


def _trajectory_values(positions: Sequence[tuple[float, float]]) -> dict[str, Any]:
    xs = [round(x, 5) for x, _ in positions]
    ys = [round(y, 5) for _, y in positions]
    return {"pos_x": repr(xs), "pos_y": repr(ys), "last_x": xs[-1] if xs else None,
            "last_y": ys[-1] if ys else None, "number_of_positions": len(positions),
            "reference_index": len(positions) // 2}


def _stats_values(positions: Sequence[tuple[float, float]], apix: float | None
                  ) -> dict[str, Any]:
    top, median = P.frame_shift_stats(positions)
    values: dict[str, Any] = {"apix": apix, "median_shift_value": median}
    for rank in range(3):
        value, index = top[rank] if rank < len(top) else (None, None)
        values[f"top_shift{rank + 1}_value"] = value
        values[f"top_shift{rank + 1}_index"] = index
    return values


def store_aligned(meta: P.ImageMetadata, *, ddstackrun_id: int, aligned_path: str,
                  aligned_dw_path: str | None, shifts_px: Sequence[tuple[float, float]],
                  ft_bin: float, bin_factor: float, label: str = "a", trim: int = 0,
                  apix: float | None = None) -> list[int]:
    """Store one aligned exposure; returns the ids of its aligned images, the non-weighted
    ``-a`` first and then, with dose weighting, ``-a-DW``."""
    source_id = meta.image_id
    pairs = sinedon.filter("ApDDAlignImagePairData",
                           {"source": source_id, "ddstackrun": ddstackrun_id})
    if pairs:
        return [pair["result"] for pair in sorted(pairs, key=lambda row: row["id"])]
    changes = aligned_camera_changes(meta.camera, bin_factor, trim)
    camera_id = (sinedon.copy_row("CameraEMData", meta.camera["id"], changes,
                                  reuse_identical=True) if meta.camera.get("id") else
                 sinedon.set("CameraEMData", {"session": meta.image["session"], **changes}))
    aligned_id = _store_image(meta, aligned_path, label, camera_id, changes)
    results = [aligned_id]
    if aligned_dw_path:
        results.append(_store_image(meta, aligned_dw_path, f"{label}-DW", camera_id, changes))
    _copy_ice_thickness(source_id, results)
    positions = P.motioncorr_positions(shifts_px, ft_bin)
    with sinedon.atomic(sinedon.APPION):
        where = {"image": aligned_id, "ddstackrun": ddstackrun_id}
        sinedon.delete("ApDDAlignStatsData", where)
        sinedon.delete("ApDDFrameTrajectoryData", where)
        trajectory_id = sinedon.insert("ApDDFrameTrajectoryData",
                                       {**where, **_trajectory_values(positions)})
        sinedon.insert("ApDDAlignStatsData", {**where, "trajectory": trajectory_id,
                                              **_stats_values(positions, apix)})
        for result_id in results:
            sinedon.insert("ApDDAlignImagePairData", {
                "source": source_id, "result": result_id, "ddstackrun": ddstackrun_id})
    return results
