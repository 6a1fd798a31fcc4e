"""Store a motion correction the way classic Appion did.

Per run: ``ApDDStackParamsData`` (the preset *name*, the integer ``bin``, the engine
in ``method``) and ``ApDDStackRunData``.  Per image: the aligned sums hard-linked
into the session's image path, a new ``CameraEMData``, ``PresetData``
(``<preset>-a`` / ``-a-DW``) and ``AcquisitionImageData`` for each, copied from the
source rows whole (every column the site's table has, as classic's
``initializer=``), ice-thickness rows copied to both, the frame
trajectory and drift statistics of the non-weighted image, and last the
``ApDDAlignImagePairData`` rows that mark the image done.  Storing an image twice
leaves one set of rows: the pair rows are looked up first.

A store interrupted at any line (a crash, a lost database) and run again makes no
duplicate and loses nothing, because "ours" is decided by what was recorded, never
by comparing bytes (an MRC header holds its creation time): before an aligned image
is placed, a small marker in the run directory (``.placed/<name>.json``) records the
name chosen for it and the newest ``AcquisitionImageData`` id at that moment.  Run
again, the store takes the same name, replaces the file (it is ours), and reuses the
image row of that name inserted after the marker, if any.  Camera, preset and
ice-thickness rows are reused when identical, and the trajectory, statistics and
pair rows go in one transaction.  The markers are removed once the pair rows are in.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from typing import Any

import sinedon
from appion.base.calc.internal.names import plain_file_name
from appion.base.errors import AppionError
from appion.base.files import atomic_path, write_text
from appion.motioncorrection.calc.internal import params as P

_NOT_COPIED = ("id", "def_timestamp")
#: The folder of the run directory holding the markers of aligned images being placed.
MARKER_FOLDER = ".placed"


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
    """The same file (a hard link of it), not merely equal bytes."""
    try:
        return os.path.samefile(first, second)
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
    """``(name, already_placed)``: ``base_name`` or ``base_name_vNN`` not taken by another
    file (a hard link of ``aligned_path`` is this result, placed already)."""
    for version in range(100):
        name = P.versioned_name(base_name, version)
        target = os.path.join(image_path, name + ".mrc")
        if not os.path.lexists(target):
            return name, False
        if _same_file(aligned_path, target):
            return name, True
    raise AppionError(f"{base_name}: 100 versions already exist in {image_path}; clean up")


def _marker_path(marker_dir: str, base_name: str) -> str:
    name = plain_file_name(base_name, "aligned image file name")
    return os.path.join(marker_dir, MARKER_FOLDER, name + ".json")


def read_marker(marker_dir: str, base_name: str, source_id: int) -> dict[str, Any] | None:
    """The marker of ``base_name`` recorded for image ``source_id`` (else ``None``)."""
    try:
        with open(_marker_path(marker_dir, base_name), encoding="utf-8") as stream:
            marker = json.load(stream)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("source") != source_id:
        return None
    return marker


def _write_marker(marker_dir: str, base_name: str, marker: dict[str, Any]) -> None:
    write_text(_marker_path(marker_dir, base_name), json.dumps(marker, sort_keys=True))


def _remove_markers(marker_dir: str, base_names: Sequence[str]) -> None:
    for base_name in base_names:
        try:
            os.unlink(_marker_path(marker_dir, base_name))
        except FileNotFoundError:
            pass


def _our_name(meta: P.ImageMetadata, image_path: str, base: str, aligned_path: str,
              marker_dir: str) -> dict[str, Any]:
    """The marker of this source's aligned image ``base``: the one recorded by an
    interrupted store, else a new one with a free name, recorded before placing."""
    marker = read_marker(marker_dir, base, meta.image_id)
    if marker is not None:
        plain_file_name(marker.get("name"), "recorded aligned image name")
        return marker
    name, placed = choose_name(image_path, base, aligned_path)
    existing = _image_named(meta, name, 0) if placed else None
    marker = {"source": meta.image_id, "name": name,
              "after_id": existing - 1 if existing else sinedon.max_id("AcquisitionImageData")}
    _write_marker(marker_dir, base, marker)
    return marker


def _image_named(meta: P.ImageMetadata, name: str, after_id: int) -> int | None:
    """The id of the session's image row ``name`` inserted after row ``after_id``."""
    found = sinedon.ids("AcquisitionImageData",
                        {"session": meta.image["session"], "filename": name},
                        after_id=int(after_id), limit=1)
    return found[0] if found else None


def _aligned_preset_id(meta: P.ImageMetadata, camera_changes: dict[str, Any],
                       name: str) -> int:
    changes = aligned_preset_changes(camera_changes, meta.camera, name)
    if meta.preset and meta.preset.get("id"):
        return sinedon.copy_row("PresetData", meta.preset["id"], changes,
                                reuse_identical=True)
    return sinedon.set("PresetData", {"session": meta.image["session"], **changes})


def _store_image(meta: P.ImageMetadata, aligned_path: str, label: str, camera_id: int,
                 camera_changes: dict[str, Any], marker_dir: str) -> int:
    image_path = meta.session.get("image_path") or ""
    if not os.path.isdir(image_path):
        raise AppionError(f"image path {image_path} of session {meta.session.get('name')} "
                          "does not exist; create it or fix SessionData")
    source_preset = (meta.preset or {}).get("name")
    preset_name = P.aligned_preset_name(source_preset, label)
    base = P.aligned_filename(meta.image["filename"], label)
    marker = _our_name(meta, image_path, base, aligned_path, marker_dir)
    name = marker["name"]
    target = os.path.join(image_path, name + ".mrc")
    if not _same_file(aligned_path, target):
        _place(aligned_path, target)
    existing = _image_named(meta, name, marker["after_id"])
    if existing is not None:
        return existing
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
                  apix: float | None = None, marker_dir: str | None = None) -> list[int]:
    """Store one aligned exposure; returns the ids of its aligned images, the non-weighted
    ``-a`` first and then, with dose weighting, ``-a-DW``.

    ``marker_dir`` (default: the folder of ``aligned_path``, the run directory) holds
    the markers that make a store interrupted at any line idempotent.
    """
    source_id = meta.image_id
    marker_dir = marker_dir or os.path.dirname(os.path.abspath(aligned_path))
    labels = [label] + ([f"{label}-DW"] if aligned_dw_path else [])
    bases = [P.aligned_filename(meta.image["filename"], each) for each in labels]
    pairs = sinedon.filter("ApDDAlignImagePairData",
                           {"source": source_id, "ddstackrun": ddstackrun_id})
    if pairs:
        _remove_markers(marker_dir, bases)
        return [pair["result"] for pair in sorted(pairs, key=lambda row: row["id"])]
    changes = aligned_camera_changes(meta.camera, bin_factor, trim)
    camera_id = (sinedon.copy_row("CameraEMData", meta.camera["id"], changes,
                                  reuse_identical=True) if meta.camera.get("id") else
                 sinedon.set("CameraEMData", {"session": meta.image["session"], **changes}))
    paths = [aligned_path] + ([aligned_dw_path] if aligned_dw_path else [])
    results = [_store_image(meta, path, each, camera_id, changes, marker_dir)
               for path, each in zip(paths, labels)]
    aligned_id = results[0]
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
    _remove_markers(marker_dir, bases)
    return results
