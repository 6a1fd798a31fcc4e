"""Read curation and manual decisions from the classic assessment tables.

``ApAssessmentRunData`` rows named ``appion-curate {rules}`` are curations (one per
set of thresholds); every other assessment run of the session (myamiweb's image
assessment, ``appion curate --keep/--reject``) holds a person's decisions, as does
``ViewerImageStatus`` (hidden, trash: reject; exemplar: keep).
"""

from __future__ import annotations

from collections.abc import Iterable

import sinedon
from appion.base.retrieve.images import combine_status, viewer_status
from appion.curation.calc.rules import RUN_PREFIX


def all_runs(session_id: int) -> list[dict]:
    """Every assessment run of the session, oldest first."""
    return sinedon.filter("ApAssessmentRunData", {"session": session_id})


def curation_runs(session_id: int) -> list[dict]:
    """The session's curation runs, oldest first."""
    return [row for row in all_runs(session_id)
            if (row.get("name") or "").startswith(RUN_PREFIX)]


def _manual_runs(session_id: int) -> list[int]:
    return [row["id"] for row in all_runs(session_id)
            if not (row.get("name") or "").startswith(RUN_PREFIX)]


def newest_keep(run_ids: list[int], image_ids: Iterable[int]) -> dict[int, bool | None]:
    """``{image: selectionkeep of its newest row}`` over the given assessment runs."""
    ids = sorted(set(image_ids))
    if not run_ids or not ids:
        return {}
    rows = sinedon.filter("ApAssessmentData", {"assessmentrun__in": run_ids,
                                               "image__in": ids},
                          fields=["id", "image", "selectionkeep"])
    found: dict[int, bool | None] = {}
    for row in sorted(rows, key=lambda row: row["id"]):
        keep = row["selectionkeep"]
        found[int(row["image"])] = None if keep is None else bool(keep)
    return found


def manual_decisions(session_id: int, exposures: dict[int, tuple[int, ...]]
                     ) -> dict[int, bool | None]:
    """``{source id: a person's decision}`` over the exposure's images: a reject (viewer
    hidden/trash or a manual assessment) wins over a keep, as classic combines status."""
    all_ids = {i for ids in exposures.values() for i in ids}
    assessed = newest_keep(_manual_runs(session_id), all_ids)
    viewer = viewer_status(session_id, {"image__in": sorted(all_ids)}) if all_ids else {}
    decisions = {}
    for source, ids in exposures.items():
        values = [combine_status(viewer.get(i), assessed.get(i)) for i in ids]
        decisions[source] = (False if False in values else True if True in values else None)
    return decisions
