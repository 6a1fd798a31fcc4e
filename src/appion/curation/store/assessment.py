"""Write decisions as classic assessment rows; nothing is ever deleted or changed.

Each decision is an ``ApAssessmentData`` row (``selectionkeep`` 1 keep, 0 reject,
NULL undecided) on every image of the exposure (the movie's image and its aligned
sums), so classic ``--no-rejects``/``--best-images`` and myamiweb honour it whichever
preset they look at.  The newest row of an image is its decision.
"""

from __future__ import annotations

from collections.abc import Iterable

import sinedon

MANUAL_RUN = "appion-manual"


def new_run(session_id: int, name: str) -> int:
    """A new ``ApAssessmentRunData`` (one per curation)."""
    return sinedon.insert("ApAssessmentRunData", {"session": session_id, "name": name})


def manual_run(session_id: int) -> int:
    """The session's run for decisions made with ``appion curate --keep/--reject``."""
    return sinedon.set("ApAssessmentRunData", {"session": session_id, "name": MANUAL_RUN})


def write_decisions(run_id: int, decisions: Iterable[tuple[int, bool | None]]) -> int:
    """Insert ``(image id, keep)`` rows in one transaction; returns how many."""
    count = 0
    with sinedon.atomic(sinedon.APPION):
        for image_id, keep in decisions:
            sinedon.insert("ApAssessmentData", {
                "assessmentrun": run_id, "image": image_id,
                "selectionkeep": None if keep is None else int(bool(keep))})
            count += 1
    return count
