"""Read, in bulk, how many particles a picking run stored per micrograph, and a
session's picking runs.

Which micrographs the run has picked is the picking step's own record
(:mod:`appion.particlepicking.store.results`): those with ``ApParticleData`` rows and
no pending store marker, and those stored with no particle (an ``.empty`` marker in
the run directory).  The rows of a list of micrographs are read in chunked ``IN``
queries (their ``image`` column only) and the markers with one listing of the
marker folder.  A site without the picking tables (needed only by picking) has no
picking run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sinedon
from appion.base.calc.internal.plain import plain_row
from appion.particlepicking.store.results import EMPTY, MARKER_FOLDER, PARAMS_COLUMNS, PENDING

_CHUNK = 500


def picking_tables_exist() -> bool:
    """Whether the site has the picking run and particle tables."""
    return (sinedon.table_exists(sinedon.APPION, "ApSelectionRunData")
            and sinedon.table_exists(sinedon.APPION, "ApParticleData"))


def _markers(rundir: str | Path) -> dict[str, set[int]]:
    """``{".pending": image ids, ".empty": image ids}`` of the run directory's markers."""
    found: dict[str, set[int]] = {PENDING: set(), EMPTY: set()}
    folder = Path(rundir) / MARKER_FOLDER
    try:
        names = [path.name for path in folder.iterdir()]
    except OSError:  # no marker folder: nothing pending, nothing stored empty
        return found
    for name in names:
        for kind, ids in found.items():
            stem = name[:-len(kind)]
            if name.endswith(kind) and stem.isdigit():
                ids.add(int(stem))
    return found


def particle_counts(selectionrun_id: int, image_ids: Iterable[int]) -> Counter[int]:
    """``{image id: particles}`` of the run among ``image_ids`` (images without a row
    are absent)."""
    wanted = sorted({int(i) for i in image_ids})
    counts: Counter[int] = Counter()
    for start in range(0, len(wanted), _CHUNK):
        rows = sinedon.filter("ApParticleData", {"selectionrun": int(selectionrun_id),
                                                 "image__in": wanted[start:start + _CHUNK]},
                              fields=("image",))
        counts.update(int(row["image"]) for row in rows if row.get("image") is not None)
    return counts


def pick_summaries(selectionrun_id: int, rundir: str | Path, image_ids: Iterable[int]
                   ) -> dict[int, dict[str, Any]]:
    """``{micrograph id: {"particles": count}}`` of the micrographs the run has picked
    (``0``: picked, no particle found); the others are omitted."""
    wanted = {int(i) for i in image_ids}
    if not wanted:
        return {}
    counts = particle_counts(selectionrun_id, wanted)
    markers = _markers(rundir)
    done = ((set(counts) | (markers[EMPTY] & wanted)) - markers[PENDING])
    return {image: {"particles": int(counts.get(image, 0))} for image in sorted(done)}


def run_parameters(selectionrun_id: int) -> dict[str, Any]:
    """The run's parameter row (``ApDogParamsData`` for the DoG picker, else
    ``ApSelectionParamsData``) as plain values; ``{}`` without one."""
    run = sinedon.rows_by_ids("ApSelectionRunData", [int(selectionrun_id)],
                              fields=tuple(PARAMS_COLUMNS.values())).get(int(selectionrun_id))
    for table, column in PARAMS_COLUMNS.items():
        params_id = (run or {}).get(column)
        if params_id is not None:
            return plain_row(sinedon.rows_by_ids(table, [int(params_id)]).get(int(params_id)))
    return {}


def pick_details(selectionrun_id: int, rundir: str | Path, image_id: int) -> dict[str, Any]:
    """Everything about one micrograph of the run (``{}`` when the run has not picked it):
    ``particles`` (its count) and ``parameters`` (:func:`run_parameters`)."""
    summary = pick_summaries(selectionrun_id, rundir, [image_id]).get(int(image_id))
    if summary is None:
        return {}
    return {"particles": summary["particles"], "parameters": run_parameters(selectionrun_id)}


def classic_pick_runs(session_id: int) -> list[str]:
    """Names of the session's ``ApSelectionRunData`` runs (any picker, hidden ones too),
    oldest first; ``[]`` when the site has no such table."""
    if not sinedon.table_exists(sinedon.APPION, "ApSelectionRunData"):
        return []
    names: list[str] = []
    for run in sinedon.filter("ApSelectionRunData", {"session": int(session_id)},
                              fields=("id", "name")):
        name = run.get("name")
        if name and str(name) not in names:
            names.append(str(name))
    return names


__all__ = ["classic_pick_runs", "particle_counts", "pick_details", "pick_summaries",
           "picking_tables_exist", "run_parameters"]
