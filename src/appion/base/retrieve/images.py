"""Which images of a session a run processes: classic ``appionLoop2`` image selection.

Classic Appion (``_getAllImages`` → ``skipTestOnImage``) selects the session's
images by preset (``manual``: images with no preset) or by ``--mrclist`` names,
keeps ``--startimgid``/``--endimgid``, applies the viewer and assessment status
(``--no-rejects``, ``--best-images``) and the stage-tilt filter (``--tiltangle``),
and orders them by id.  Here that is done with a handful of bulk queries per call,
whatever the number of images, because the controller calls it every few seconds
with ``after_id`` = the newest id it has seen.

Status (``getImgCompleteStatus``): the newest ``ViewerImageStatus`` row gives
``hidden``/``trash`` → False, ``exemplar`` → True; the newest ``ApAssessmentData``
row gives its ``selectionkeep``.  False wins over True, True over unknown (None).
Without ``--no-rejects`` hidden and rejected images are processed, as in classic.

``--limit`` is not applied here: it bounds what the controller submits.
``--sib-assess`` (status of the defocal-pair sibling) is not supported.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

import sinedon
from appion.base.errors import AppionError
from appion.base.selection import ImageSelection

#: ``ViewerImageStatus.status`` values and the classic status they stand for.
VIEWER_STATUS = {"hidden": False, "trash": False, "exemplar": True}

#: Classic tilt thresholds (degrees): ``tiltangle`` -> predicate keeping an image at alpha.
TILT_KEEPS = {
    "all": lambda alpha: True,
    "notilt": lambda alpha: abs(alpha) <= 3.0,
    "hightilt": lambda alpha: abs(alpha) >= 30.0,
    "lowtilt": lambda alpha: abs(alpha) < 30.0,
    "minustilt": lambda alpha: alpha <= -2.0,
    "plustilt": lambda alpha: alpha >= 2.0,
}


def combine_status(viewer: bool | None, assessment: bool | None) -> bool | None:
    """Classic ``getImgCompleteStatus``: False wins, then True, else None."""
    if viewer is False or assessment is False:
        return False
    if viewer is True or assessment is True:
        return True
    return None


def keeps_status(status: bool | None, *, norejects: bool, bestimages: bool) -> bool:
    """Classic ``skipTestOnImage`` status tests (``--no-rejects``, ``--best-images``)."""
    if norejects and status is False:
        return False
    return not (bestimages and status is not True)


def keeps_tilt(alpha_radians: float | None, tiltangle: str) -> bool:
    """Classic tilt filter on the stage alpha (radians in the database, degrees in the
    thresholds).  An image without a stage alpha counts as untilted."""
    alpha = (alpha_radians or 0.0) * 180.0 / math.pi  # classic getTiltAngleDeg
    return TILT_KEEPS[tiltangle](alpha)


def order_ids(image_ids: Iterable[int], *, reverse: bool = False, shuffle: bool = False,
              rng: random.Random | None = None) -> list[int]:
    """Ascending ids (old → new); newest first with ``--reverse``; random with ``--shuffle``."""
    ordered = sorted(image_ids, reverse=reverse)
    if shuffle:
        (rng or random).shuffle(ordered)
    return ordered


def _preset_condition(session_id: int, preset: str | None) -> dict:
    if not preset:
        return {}
    if preset == "manual":
        return {"preset": None}
    preset_ids = sinedon.ids("PresetData", {"session": session_id, "name": preset})
    return {"preset__in": preset_ids}


def _id_range(selection: ImageSelection, after_id: int) -> dict:
    condition = {"id__gt": after_id}
    start, end = selection.start_image_id, selection.end_image_id
    if start is not None:
        condition["id__gte"] = start
    if end is not None:
        condition["id__lte"] = end
    return condition


def _check_mrclist(session_id: int, names: list[str]) -> None:
    found = {row["filename"] for row in sinedon.filter(
        "AcquisitionImageData", {"session": session_id, "filename__in": names},
        fields=["filename"])}
    missing = [name for name in names if name not in found]
    if missing:
        raise AppionError(f"image '{missing[0]}' from --mrclist not found in session id "
                          f"{session_id}; check the name (--mrclist takes image names "
                          "without folder)")


def _candidates(selection: ImageSelection, session_id: int, after_id: int,
                with_scope: bool, only_ids: Collection[int] | None = None) -> list[dict]:
    where = {"session": session_id, **_id_range(selection, after_id)}
    if only_ids is not None:
        where["id__in"] = sorted(only_ids)
    names = list(selection.image_names)
    if names:
        _check_mrclist(session_id, names)
        where["filename__in"] = names
    else:
        where.update(_preset_condition(session_id, selection.preset))
    fields = ["id", "scope"] if with_scope else ["id"]
    return sinedon.filter("AcquisitionImageData", where, fields=fields)


def _newest_by_image(rows: Iterable[dict], value_key: str) -> dict[int, Any]:
    """``{image id: value of its newest row}`` (rows ascending by id)."""
    newest: dict[int, Any] = {}
    for row in sorted(rows, key=lambda row: row["id"]):
        newest[row["image"]] = row[value_key]
    return newest


def _session_assessment_runs(session_id: int) -> list[int]:
    return sinedon.ids("ApAssessmentRunData", {"session": session_id})


def viewer_status(session_id: int, where: dict | None = None) -> dict[int, bool | None]:
    """Newest ``ViewerImageStatus`` per image of the session, as classic True/False/None."""
    rows = sinedon.filter("ViewerImageStatus", {"session": session_id, **(where or {})},
                          fields=["id", "image", "status"])
    return {image: VIEWER_STATUS.get((status or "").lower())
            for image, status in _newest_by_image(rows, "status").items()}


def assessment_status(session_id: int, where: dict | None = None
                      ) -> dict[int, bool | None]:
    """Newest ``ApAssessmentData.selectionkeep`` per image, over the session's runs."""
    runs = _session_assessment_runs(session_id)
    if not runs:
        return {}
    rows = sinedon.filter("ApAssessmentData", {"assessmentrun__in": runs, **(where or {})},
                          fields=["id", "image", "selectionkeep"])
    return {image: (None if keep is None else bool(keep))
            for image, keep in _newest_by_image(rows, "selectionkeep").items()}


def complete_status(session_id: int, image_where: dict | None = None
                    ) -> dict[int, bool | None]:
    """Classic complete status of the images with a viewer or assessment row."""
    viewer = viewer_status(session_id, image_where)
    assessed = assessment_status(session_id, image_where)
    return {image: combine_status(viewer.get(image), assessed.get(image))
            for image in viewer.keys() | assessed.keys()}


def _image_where(selection: ImageSelection, after_id: int) -> dict:
    """The id range as conditions on a status row's ``image`` column."""
    return {f"image__{lookup.removeprefix('id__')}": value
            for lookup, value in _id_range(selection, after_id).items()}


def _stage_alpha(scope_ids: list[int]) -> dict[int, float | None]:
    """``{ScopeEMData id: stage alpha (radians)}`` in one query over the ids' range
    (a range, not ``IN``: one query however many images, and no variable limit)."""
    if not scope_ids:
        return {}
    wanted = set(scope_ids)
    rows = sinedon.filter("ScopeEMData", {"id__gte": min(wanted), "id__lte": max(wanted)},
                          fields=["id", "stage_position_a"])
    return {row["id"]: row["stage_position_a"] for row in rows if row["id"] in wanted}


def select_image_ids(selection: ImageSelection, session_id: int, *, after_id: int = 0,
                     only_ids: Collection[int] | None = None) -> list[int]:
    """Ids of the session's images this run should process, newer than ``after_id``
    (and among ``only_ids`` when given).

    Follows classic image selection (see the module docstring) with a fixed number of
    bulk queries: the images, then only when needed the status rows and stage tilts.
    """
    tiltangle = selection.tilt_angle
    if tiltangle not in TILT_KEEPS:
        raise AppionError(f"--tiltangle {tiltangle} is unknown; use one of "
                          f"{', '.join(TILT_KEEPS)}")
    candidates = _candidates(selection, session_id, after_id,
                             with_scope=tiltangle != "all", only_ids=only_ids)
    if not candidates:
        return []
    if selection.watches_rejects:
        candidates = _keep_by_status(selection, session_id, after_id, only_ids, candidates)
    if tiltangle != "all":
        alpha = _stage_alpha([row["scope"] for row in candidates
                              if row["scope"] is not None])
        candidates = [row for row in candidates
                      if keeps_tilt(alpha.get(row["scope"]), tiltangle)]
    return order_ids((row["id"] for row in candidates), reverse=selection.reverse,
                     shuffle=selection.shuffle)


def _keep_by_status(selection: ImageSelection, session_id: int, after_id: int,
                    only_ids: Collection[int] | None, candidates: list[dict]) -> list[dict]:
    """The candidates ``--no-rejects`` / ``--best-images`` keep."""
    where = _image_where(selection, after_id)
    if only_ids is not None:
        where["image__in"] = sorted(only_ids)
    status = complete_status(session_id, where)
    return [row for row in candidates
            if keeps_status(status.get(row["id"]), norejects=selection.no_rejects,
                            bestimages=selection.best_images)]


class StatusChanges(NamedTuple):
    """What new ``ViewerImageStatus``/``ApAssessmentData`` rows changed, and the new marks."""

    rejected: set[int]  # touched images that are now rejects
    kept: set[int]      # touched images that are not (un-hidden, re-assessed as keep)
    viewer_mark: int
    assessment_mark: int


def status_changes_since(session_id: int, *, viewer_after_id: int, assessment_after_id: int,
                         best_only: bool = False) -> StatusChanges:
    """Images whose status rows changed since the given status-row high-water marks.

    Only images touched by new ``ViewerImageStatus``/``ApAssessmentData`` rows are
    re-evaluated, with their full history: an image hidden then un-hidden is kept.
    A reject is status False; with ``best_only`` (``--best-images``) anything but True.
    """
    new_viewer = sinedon.filter("ViewerImageStatus",
                                {"session": session_id, "id__gt": viewer_after_id},
                                fields=["id", "image"])
    runs = _session_assessment_runs(session_id)
    new_assessed = (sinedon.filter("ApAssessmentData",
                                   {"assessmentrun__in": runs, "id__gt": assessment_after_id},
                                   fields=["id", "image"]) if runs else [])
    viewer_mark = max((row["id"] for row in new_viewer), default=viewer_after_id)
    assessment_mark = max((row["id"] for row in new_assessed), default=assessment_after_id)
    touched = {row["image"] for row in (*new_viewer, *new_assessed)
               if row["image"] is not None}
    if not touched:
        return StatusChanges(set(), set(), viewer_mark, assessment_mark)
    status = complete_status(session_id, {"image__gte": min(touched),
                                          "image__lte": max(touched)})
    rejected = {image for image in touched
                if not keeps_status(status.get(image), norejects=True,
                                    bestimages=best_only)}
    return StatusChanges(rejected, touched - rejected, viewer_mark, assessment_mark)


#: Image ids per ``IN`` query of :func:`ice_thickness`.
_ICE_CHUNK = 500


def ice_thickness(image_ids: Iterable[int]) -> dict[int, float]:
    """Leginon's measured ice thickness (nm) per image: objective-aperture, else
    zero-loss; images without a measurement (or sites without the tables) are omitted."""
    wanted = sorted({int(i) for i in image_ids})
    found: dict[int, float] = {}
    for model in ("ZeroLossIceThicknessData", "ObjIceThicknessData"):  # the last one wins
        if not wanted or not sinedon.table_exists(sinedon.LEGINON, model):
            continue
        for start in range(0, len(wanted), _ICE_CHUNK):
            chunk = wanted[start:start + _ICE_CHUNK]
            for row in sinedon.filter(model, {"image__in": chunk},
                                      fields=["image", "thickness"]):
                if row.get("thickness") is not None:
                    found[int(row["image"])] = float(row["thickness"])
    return found
