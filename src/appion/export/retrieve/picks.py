"""Read a picking run's particles per image from the classic tables.

``ApSelectionRunData`` (the run: ``--pick-run`` by name, else the session's newest
that is not hidden) and its ``ApParticleData`` rows (``xcoord``/``ycoord`` in unbinned
pixels of the picked micrograph as stored, ``correlation`` the score, ``diameter`` in
Å), in two bulk queries.  Which images the run has picked is the picking step's own
record (:func:`appion.particlepicking.store.results.done_images`): the images with
rows and no pending store, and those stored with no particle.  A database without
the picking tables (they are needed only by picking) has no picking run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sinedon
from appion.base.errors import AppionError
from appion.export.calc.exposure import Pick
from appion.particlepicking.store.results import done_images


def pick_run(session_id: int, runname: str | None) -> dict[str, Any] | None:
    """The ``ApSelectionRunData`` row named ``runname``, else the session's newest
    visible one; ``None`` when the session has no picking run (and none was named)."""
    if not sinedon.table_exists(sinedon.APPION, "ApSelectionRunData"):
        rows: list[dict[str, Any]] = []
    else:
        where = {"session": session_id, **({"name": runname} if runname else {})}
        rows = [row for row in sinedon.filter("ApSelectionRunData", where)
                if runname or not row.get("hidden")]
    if not rows:
        if runname:
            raise AppionError(f"no picking run '{runname}' in session id {session_id}; "
                              "check --pick-run")
        return None
    return max(rows, key=lambda row: row["id"])


def _rundir(run: dict[str, Any]) -> str | None:
    path = sinedon.get("ApPathData", {"id": run["path"]}) if run.get("path") else None
    return (path or {}).get("path")


def picks_by_image(run: dict[str, Any], image_ids: Iterable[int]
                   ) -> dict[int, tuple[Pick, ...]]:
    """``{image id: picks}`` for the given images the run has picked (``()``: picked,
    no particle found); an image the run has not picked (yet) is absent."""
    ids = sorted(set(image_ids))
    if not ids:
        return {}
    rundir = _rundir(run)
    done = done_images(int(run["id"]), rundir) if rundir else {
        row["image"] for row in sinedon.filter("ApParticleData", {"selectionrun": run["id"]},
                                               fields=("image",))}
    rows = sinedon.filter("ApParticleData", {"selectionrun": run["id"], "image__in": ids},
                          fields=("id", "image", "xcoord", "ycoord", "correlation",
                                  "diameter"))
    wanted = set(ids)
    found: dict[int, list[Pick]] = {int(image): [] for image in done if int(image) in wanted}
    for row in rows:
        image = int(row["image"])
        if image in found:
            found[image].append((float(row["xcoord"]), float(row["ycoord"]),
                                 _number(row.get("correlation")),
                                 _number(row.get("diameter"))))
    return {image: tuple(picks) for image, picks in found.items()}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
