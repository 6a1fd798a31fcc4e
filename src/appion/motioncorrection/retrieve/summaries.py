"""Read, in bulk, what a motion-correction run stored per exposure, and a session's runs.

Per run, for a list of exposures (source images): their ``ApDDAlignImagePairData``
rows (which exposures are done, and their aligned images), the aligned images' file
names (``AcquisitionImageData``), the frame trajectories (``ApDDFrameTrajectoryData``,
positions in aligned pixels) and the statistics that hold the aligned pixel size
(``ApDDAlignStatsData.apix``, Å).  A fixed number of chunked ``IN`` queries, whatever
the number of exposures; the Leginon pixel size of the aligned image is read only for
a trajectory without statistics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sinedon
from appion.base.retrieve.micrographs import load_micrographs
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


def motion_summaries(ddstackrun_id: int, source_ids: Iterable[int], *,
                     prefer_dw: bool = False) -> dict[int, dict[str, Any]]:
    """``{exposure id: summary}`` of the exposures the run has stored (others omitted).

    A summary: ``aligned_image_id`` (the aligned sum handed on to the next step: the
    non-weighted ``-a`` unless ``prefer_dw``), ``aligned_filename``, ``drift_total_a``
    (the length of the frame trajectory in aligned pixels times the aligned pixel size
    ``ApDDAlignStatsData.apix``, else Leginon's pixel size of the aligned image; ``None``
    when no trajectory is stored) and ``frames`` (the trajectory's positions).
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
    return found


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


__all__ = ["classic_motion_runs", "motion_summaries"]
