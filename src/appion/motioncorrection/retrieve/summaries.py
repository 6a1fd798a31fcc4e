"""Read, in bulk, what a motion-correction run stored per exposure, and a session's runs.

Per run, for a list of exposures (source images): their ``ApDDAlignImagePairData``
rows (which exposures are done, and their aligned images), the aligned images' file
names (``AcquisitionImageData``), the frame trajectories (``ApDDFrameTrajectoryData``,
positions in aligned pixels) and the statistics that hold the aligned pixel size
(``ApDDAlignStatsData.apix``, Å).  A fixed number of chunked ``IN`` queries, whatever
the number of exposures; the Leginon pixel size of the aligned image is read only for
a trajectory without statistics.  With the run directory, the summaries add the
worker-made thumbnail and preview of each exposure that has them (their names from
the exposure's file name, :mod:`~appion.motioncorrection.calc.internal.display`).

:func:`motion_details` reads everything about one exposure for its page: the frame
trajectory in Å, the run's files of it and the run's stored parameters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sinedon
from appion.base.calc.internal.names import plain_file_name
from appion.base.calc.internal.plain import plain_row
from appion.base.errors import InputFileError
from appion.base.retrieve.micrographs import load_micrographs
from appion.motioncorrection.calc.internal.display import (
    aligned_output_path,
    display_paths,
    st_log_path,
    trajectory_a,
)
from appion.motioncorrection.calc.internal.drift import total_drift_a, trajectory_positions

_CHUNK = 500
_DW = "-DW"


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    wanted = sorted({int(i) for i in ids})
    return [wanted[start:start + _CHUNK] for start in range(0, len(wanted), _CHUNK)]


def _filter_in(model: str, where: dict[str, Any], key: str, ids: Iterable[int],
               fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``model`` matching ``where`` with ``key`` in ``ids``, in chunked queries."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        rows += sinedon.filter(model, {**where, f"{key}__in": chunk}, fields=fields)
    return rows


def _newest_by_image(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    newest: dict[int, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda row: row["id"]):
        if row.get("image") is not None:
            newest[int(row["image"])] = row
    return newest


def _is_weighted(filename: str | None) -> bool:
    return bool(filename) and _DW in str(filename)


def _choose(results: list[int], names: dict[int, str | None], prefer_dw: bool
            ) -> tuple[int, int]:
    """``(handed-on aligned image, non-weighted image)`` among an exposure's results
    (oldest first): the dose-weighted sum with ``prefer_dw`` when there is one."""
    plain = [i for i in results if not _is_weighted(names.get(i))]
    weighted = [i for i in results if _is_weighted(names.get(i))]
    first_plain = (plain or weighted)[0]
    handed_on = weighted[0] if prefer_dw and weighted else first_plain
    return handed_on, first_plain


def _frames(trajectory: dict[str, Any] | None,
            positions: list[tuple[float, float]] | None) -> int | None:
    if trajectory is not None and trajectory.get("number_of_positions") is not None:
        return int(trajectory["number_of_positions"])
    return len(positions) if positions else None


def _source_name(filename: Any) -> str | None:
    """An exposure's stored file name as a bare name, ``None`` when it is not one."""
    try:
        return plain_file_name(filename, "image file name")
    except InputFileError:
        return None


def image_files(rundir: str | Path, filenames: Mapping[int, Any]
                ) -> dict[int, dict[str, str]]:
    """``{exposure id: {"thumbnail_path", "preview_path"}}``: the absolute paths of the
    worker-made images that exist in the run directory (an absent one is left out)."""
    found: dict[int, dict[str, str]] = {}
    for source, filename in filenames.items():
        name = _source_name(filename)
        if name is None:
            continue
        thumbnail, preview = display_paths(aligned_output_path(os.path.abspath(rundir), name))
        files = {key: path for key, path in (("thumbnail_path", thumbnail),
                                              ("preview_path", preview))
                 if os.path.isfile(path)}
        if files:
            found[int(source)] = files
    return found


def motion_summaries(ddstackrun_id: int, source_ids: Iterable[int], *,
                     prefer_dw: bool = False, rundir: str | Path | None = None
                     ) -> dict[int, dict[str, Any]]:
    """``{exposure id: summary}`` of the exposures the run has stored (others omitted).

    A summary: ``aligned_image_id`` (the aligned sum handed on to the next step: the
    non-weighted ``-a`` unless ``prefer_dw``), ``aligned_filename``, ``drift_total_a``
    (the length of the frame trajectory in aligned pixels times the aligned pixel size
    ``ApDDAlignStatsData.apix``, else Leginon's pixel size of the aligned image; ``None``
    when no trajectory is stored) and ``frames`` (the trajectory's positions); with
    ``rundir``, ``thumbnail_path`` and ``preview_path`` where those files exist.
    """
    pairs = _filter_in("ApDDAlignImagePairData", {"ddstackrun": ddstackrun_id}, "source",
                       source_ids, fields=("id", "source", "result"))
    results: dict[int, list[int]] = {}
    for pair in sorted(pairs, key=lambda row: row["id"]):
        if pair.get("source") is not None and pair.get("result") is not None:
            results.setdefault(int(pair["source"]), []).append(int(pair["result"]))
    if not results:
        return {}
    aligned_ids = {i for ids in results.values() for i in ids}
    images = sinedon.rows_by_ids("AcquisitionImageData", aligned_ids, fields=("filename",))
    names = {i: row.get("filename") for i, row in images.items()}
    where = {"ddstackrun": ddstackrun_id}
    trajectories = _newest_by_image(_filter_in(
        "ApDDFrameTrajectoryData", where, "image", aligned_ids,
        fields=("id", "image", "pos_x", "pos_y", "number_of_positions")))
    stats = _newest_by_image(_filter_in("ApDDAlignStatsData", where, "image", aligned_ids,
                                        fields=("id", "image", "apix")))
    chosen = {source: _choose(ids, names, prefer_dw) for source, ids in results.items()}
    measured = {source: next((i for i in (plain, *results[source]) if i in trajectories),
                             None) for source, (_, plain) in chosen.items()}
    no_apix = {image for image in measured.values()
               if image is not None and (stats.get(image) or {}).get("apix") is None}
    leginon_apix = ({i: m.pixel_size_a for i, m in load_micrographs(no_apix).items()}
                    if no_apix else {})
    found: dict[int, dict[str, Any]] = {}
    for source, (handed_on, _) in chosen.items():
        image = measured[source]
        trajectory = trajectories.get(image) if image is not None else None
        positions = (trajectory_positions(trajectory.get("pos_x"), trajectory.get("pos_y"))
                     if trajectory else None)
        apix = ((stats.get(image) or {}).get("apix") or leginon_apix.get(image)
                if image is not None else None)
        drift = total_drift_a(positions, apix)
        found[source] = {
            "aligned_image_id": handed_on, "aligned_filename": names.get(handed_on),
            "drift_total_a": round(drift, 3) if drift is not None else None,
            "frames": _frames(trajectory, positions)}
    if rundir is not None:
        sources = sinedon.rows_by_ids("AcquisitionImageData", found, fields=("filename",))
        for source, files in image_files(rundir, {i: row.get("filename")
                                                   for i, row in sources.items()}).items():
            found[source].update(files)
    return found


def _existing(path: str | None) -> str | None:
    return path if path and os.path.isfile(path) else None


def motion_details(ddstackrun_id: int, source_id: int, *, rundir: str | Path,
                   image_path: str | None) -> dict[str, Any]:
    """Everything about one exposure of the run (``{}`` when the run has not stored it):
    ``trajectory_a`` (``[[x, y], ...]`` in Å per frame, ``None`` without a trajectory),
    ``files`` (``aligned``, ``aligned_dw`` (``None`` without dose weighting) in the
    session's image path; ``log``, ``thumbnail``, ``preview`` in the run directory,
    ``None`` when absent) and ``parameters`` (the run's ``ApDDStackParamsData`` values)."""
    pairs = sinedon.filter("ApDDAlignImagePairData",
                           {"ddstackrun": int(ddstackrun_id), "source": int(source_id)},
                           fields=("id", "result"))
    results = [int(p["result"]) for p in sorted(pairs, key=lambda row: row["id"])
               if p.get("result") is not None]
    if not results:
        return {}
    images = sinedon.rows_by_ids("AcquisitionImageData", [*results, int(source_id)],
                                 fields=("filename",))
    names = {i: row.get("filename") for i, row in images.items()}
    plain = next((i for i in results if not _is_weighted(names.get(i))), results[0])
    weighted = next((i for i in results if _is_weighted(names.get(i))), None)
    where = {"ddstackrun": int(ddstackrun_id), "image": plain}
    trajectory = _newest_by_image(sinedon.filter(
        "ApDDFrameTrajectoryData", where, fields=("id", "image", "pos_x", "pos_y"))).get(plain)
    stats = _newest_by_image(sinedon.filter("ApDDAlignStatsData", where,
                                            fields=("id", "image", "apix"))).get(plain)
    apix = (stats or {}).get("apix")
    if apix is None and trajectory is not None:
        micrograph = load_micrographs([plain]).get(plain)
        apix = micrograph.pixel_size_a if micrograph else None
    positions = (trajectory_positions(trajectory.get("pos_x"), trajectory.get("pos_y"))
                 if trajectory else None)
    return {"trajectory_a": trajectory_a(positions, apix),
            "files": _motion_files(rundir, image_path, names, plain, weighted, source_id),
            "parameters": _run_parameters(ddstackrun_id)}


def _aligned_file(image_path: str | None, filename: Any) -> str | None:
    name = _source_name(filename)
    if not image_path or name is None:
        return None
    return os.path.join(os.path.abspath(image_path), f"{name}.mrc")


def _motion_files(rundir: str | Path, image_path: str | None, names: dict[int, Any],
                  plain: int, weighted: int | None, source_id: int) -> dict[str, str | None]:
    rundir = os.path.abspath(rundir)
    files: dict[str, str | None] = {
        "aligned": _aligned_file(image_path, names.get(plain)),
        "aligned_dw": _aligned_file(image_path, names.get(weighted)) if weighted else None,
        "log": None, "thumbnail": None, "preview": None}
    source = _source_name(names.get(source_id))
    if source is not None:
        thumbnail, preview = display_paths(aligned_output_path(rundir, source))
        files.update(log=_existing(st_log_path(rundir, source)),
                     thumbnail=_existing(thumbnail), preview=_existing(preview))
    return files


def _run_parameters(ddstackrun_id: int) -> dict[str, Any]:
    """The run's ``ApDDStackParamsData`` values, plain (``{}`` without the row)."""
    run = sinedon.rows_by_ids("ApDDStackRunData", [int(ddstackrun_id)],
                              fields=("params",)).get(int(ddstackrun_id))
    params_id = (run or {}).get("params")
    if params_id is None:
        return {}
    return plain_row(sinedon.rows_by_ids("ApDDStackParamsData", [int(params_id)]
                                         ).get(int(params_id)))


def classic_motion_runs(session_id: int) -> list[str]:
    """Names of the session's frame-aligning ``ApDDStackRunData`` runs, oldest first (a
    raw frame stack run, its parameters' ``align`` false, is not one); ``[]`` when the
    site has no such table."""
    if not sinedon.table_exists(sinedon.APPION, "ApDDStackRunData"):
        return []
    runs = sinedon.filter("ApDDStackRunData", {"session": int(session_id)},
                          fields=("id", "runname", "params"))
    params = (sinedon.rows_by_ids("ApDDStackParamsData",
                                  {int(run["params"]) for run in runs if run.get("params")},
                                  fields=("align",))
              if runs and sinedon.table_exists(sinedon.APPION, "ApDDStackParamsData") else {})
    names: list[str] = []
    for run in runs:
        align = ((params.get(int(run["params"])) or {}).get("align")
                 if run.get("params") else None)
        name = run.get("runname")
        if name and (align is None or bool(align)) and name not in names:
            names.append(str(name))
    return names


__all__ = ["classic_motion_runs", "image_files", "motion_details", "motion_summaries"]
