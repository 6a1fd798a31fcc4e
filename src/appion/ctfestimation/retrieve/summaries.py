"""Read, in bulk, what a CTF run stored per micrograph, and a session's CTF runs.

The run's ``ApCtfData`` rows of a list of micrographs in chunked ``IN`` queries (the
newest row per micrograph; the step keeps one), and the session's ``ApAceRunData``
runs, whatever program made them (``ctffind4.py``, ``gctf.py``, ACE, the web).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sinedon
from appion.ctfestimation.calc.internal.summary import ctf_summary

_CHUNK = 500
_FIELDS = ("id", "image", "defocus1", "defocus2", "angle_astigmatism", "ctffind4_resolution",
           "resolution_50_percent", "cross_correlation", "amplitude_contrast", "confidence")


def ctf_summaries(acerun_id: int, image_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``{micrograph id: summary}`` (:func:`~appion.ctfestimation.calc.internal.summary.
    ctf_summary`) of the micrographs the run has a CTF for; the others are omitted."""
    wanted = sorted({int(i) for i in image_ids})
    newest: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = sinedon.filter("ApCtfData", {"acerun": int(acerun_id),
                                            "image__in": wanted[start:start + _CHUNK]},
                              fields=_FIELDS)
        for row in rows:  # ordered by id: the newest last
            if row.get("image") is not None:
                newest[int(row["image"])] = row
    return {image: ctf_summary(row) for image, row in newest.items()}


def classic_ctf_runs(session_id: int) -> list[str]:
    """Names of the session's ``ApAceRunData`` runs, oldest first; ``[]`` when the site
    has no such table."""
    if not sinedon.table_exists(sinedon.APPION, "ApAceRunData"):
        return []
    names: list[str] = []
    for run in sinedon.filter("ApAceRunData", {"session": int(session_id)},
                              fields=("id", "name")):
        name = run.get("name")
        if name and str(name) not in names:
            names.append(str(name))
    return names


__all__ = ["classic_ctf_runs", "ctf_summaries"]
