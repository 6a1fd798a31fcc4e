"""Write a picking run and its particles into the classic Appion tables.

Per run, as classic ``particleLoop2.commitRunToDatabase``: the parameters
(``ApDogParamsData`` for the DoG picker, ``ApSelectionParamsData`` for the others),
the ``ApPathData`` of the run directory and ``ApSelectionRunData`` (``name`` the run
name, ``program``, ``description``); a run name reused in the session with other
parameters is refused before anything is written.  Per image: one ``ApParticleData``
row per particle (``xcoord``/``ycoord`` in unbinned pixels, rounded as classic
``insertParticlePeaks``; ``correlation`` the engine's score; ``diameter`` in Å).

Classic's tables are MyISAM: no transaction can undo half a store.  So an image is
stored under a marker: ``<rundir>/.picking/<image id>.pending`` is written before its
rows and removed after them.  An image with a marker is not done; storing it again
first deletes whatever rows it has in the run, so a store interrupted at any point
and run again leaves exactly one set.  An image with no particle leaves
``<image id>.empty``: it is done, with nothing to store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sinedon
from appion.base.errors import AppionError
from appion.base.files import write_text
from appion.particlepicking.contract import Pick, PickOptions, PickResult

#: The folder of the run directory holding the store markers.
MARKER_FOLDER = ".picking"
PENDING, EMPTY = ".pending", ".empty"
#: ApSelectionRunData's reference to each parameter table.
PARAMS_COLUMNS = {"ApDogParamsData": "dogparams", "ApSelectionParamsData": "params"}
#: The ``program`` of each engine's run row.
PROGRAMS = {"dog": "dogpicker", "topaz": "topaz"}


def params_table(engine: str) -> str:
    return "ApDogParamsData" if engine == "dog" else "ApSelectionParamsData"


def params_row(options: PickOptions) -> dict[str, Any]:
    """The run's parameter row, as classic ``particleLoop2``'s ``dbmap`` fills it (the
    DoG picker ignores --lowpass/--highpass: classic stores none)."""
    dog = options.dog
    row: dict[str, Any] = {
        "diam": int(round(dog.diameter_a)), "bin": dog.bin, "manual_thresh": dog.threshold,
        "max_threshold": dog.max_threshold, "invert": int(dog.invert),
        "max_peaks": dog.max_peaks, "median": dog.median or None,
        "pixel_value_limit": dog.pixel_value_limit or None,
        "maxsize": int(round(dog.max_size)), "defocal_pairs": False,
        "overlapmult": dog.overlap_mult}
    if options.engine == "dog":
        row.update(kfactor=dog.kfactor, size_range=dog.size_range, num_slices=dog.num_slices)
    else:
        row["manual_thresh"] = options.topaz_threshold
    return row


def find_run(runname: str, session_id: int) -> dict[str, Any] | None:
    return sinedon.get("ApSelectionRunData", {"name": runname, "session": session_id})


def _equal(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, float) or isinstance(wanted, float):
        return (stored is not None and wanted is not None
                and abs(float(stored) - float(wanted)) <= 1e-9 * max(1.0, abs(float(wanted))))
    return bool(stored == wanted)


def _same_params(run: dict[str, Any], table: str, params: dict[str, Any]) -> bool:
    params_id = run.get(PARAMS_COLUMNS[table])
    stored = sinedon.get(table, {"id": params_id}) if params_id else None
    return stored is not None and all(_equal(stored.get(key), value)
                                      for key, value in params.items() if key in stored)


def save_run(*, runname: str, rundir: str, session_id: int, options: PickOptions) -> int:
    """The run's ApSelectionRunData id (created once); a same-name run of the session
    with other parameters or another picker is refused, as classic does."""
    table = params_table(options.engine)
    params = params_row(options)
    program = PROGRAMS.get(options.engine, options.engine)
    existing = find_run(runname, session_id)
    if existing is not None:
        if existing.get("program") not in (None, program) or not _same_params(
                existing, table, params):
            raise AppionError(f"run name {runname} was already used in this session with "
                              "different picking parameters; choose another --runname (or "
                              "repeat the same flags)")
        return int(existing["id"])
    params_id = sinedon.set(table, params)
    path_id = sinedon.set("ApPathData", {"path": os.path.abspath(rundir)})
    return sinedon.insert("ApSelectionRunData", {
        "name": runname, "session": session_id, "path": path_id, "hidden": False,
        "program": program, "description": options.description or None,
        PARAMS_COLUMNS[table]: params_id})


def _marker(rundir: str | Path, image_id: int, kind: str) -> Path:
    return Path(rundir) / MARKER_FOLDER / f"{int(image_id)}{kind}"


def _markers(rundir: str | Path, kind: str) -> set[int]:
    folder = Path(rundir) / MARKER_FOLDER
    if not folder.is_dir():
        return set()
    return {int(path.name[:-len(kind)]) for path in folder.iterdir()
            if path.name.endswith(kind) and path.name[:-len(kind)].isdigit()}


def done_images(selectionrun_id: int, rundir: str | Path) -> set[int]:
    """Images this run stored: those with particle rows and no pending marker, and
    those stored with no particle."""
    with_rows = {row["image"] for row in sinedon.filter(
        "ApParticleData", {"selectionrun": selectionrun_id}, fields=("image",))}
    return (with_rows | _markers(rundir, EMPTY)) - _markers(rundir, PENDING)


def particle_rows(result: PickResult, selectionrun_id: int, label: str
                  ) -> list[dict[str, Any]]:
    """The ApParticleData rows of a result (classic rounding: integer coordinates,
    six decimals of the score)."""
    return [_particle_row(pick, result.image_id, selectionrun_id, label)
            for pick in result.picks]


def _particle_row(pick: Pick, image_id: int, selectionrun_id: int, label: str
                  ) -> dict[str, Any]:
    return {"selectionrun": selectionrun_id, "image": image_id,
            "xcoord": int(round(pick.x)), "ycoord": int(round(pick.y)),
            "correlation": round(float(pick.score), 6),
            "diameter": round(float(pick.diameter_a), 6), "label": label}


def store_particles(selectionrun_id: int, rundir: str | Path, result: PickResult,
                    label: str) -> int:
    """Replace the image's particles in this run by the result's; how many were stored."""
    rows = particle_rows(result, selectionrun_id, label)
    pending = _marker(rundir, result.image_id, PENDING)
    empty = _marker(rundir, result.image_id, EMPTY)
    write_text(pending, f"{selectionrun_id}\n")
    with sinedon.atomic("appiondata"):  # one transaction where the engine has them
        _delete_particles(selectionrun_id, [result.image_id])
        sinedon.insert_many("ApParticleData", rows, batch_size=max(1, len(rows)))
    if rows:
        empty.unlink(missing_ok=True)
    else:
        write_text(empty, f"{selectionrun_id}\n")
    pending.unlink()
    return len(rows)


def _delete_particles(selectionrun_id: int, image_ids: Iterable[int]) -> None:
    for image_id in image_ids:
        sinedon.delete("ApParticleData", {"selectionrun": selectionrun_id, "image": image_id})


__all__ = ["MARKER_FOLDER", "PROGRAMS", "done_images", "find_run", "params_row",
           "params_table", "particle_rows", "save_run", "store_particles"]
