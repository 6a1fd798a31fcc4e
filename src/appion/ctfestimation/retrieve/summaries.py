"""Read, in bulk, what a CTF run stored per micrograph, and a session's CTF runs.

The run's ``ApCtfData`` rows of a list of micrographs in chunked ``IN`` queries (the
newest row per micrograph; the step keeps one), and the session's ``ApAceRunData``
runs, whatever program made them (``ctffind4.py``, ``gctf.py``, ACE, the web).  With
the run directory, the summaries add the worker-made spectrum image and 1D profile of
each micrograph that has them (their names from the micrograph's file name,
:func:`appion.ctfestimation.calc.internal.display.display_paths`).

:func:`ctf_details` reads everything about one micrograph for its page: the profile
JSON's content, the run's files of it and the run's stored parameters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sinedon
from appion.base.calc.internal.names import plain_file_name
from appion.base.calc.internal.plain import plain_row
from appion.base.errors import InputFileError
from appion.ctfestimation.calc.internal.display import GRAPH_FOLDER, display_paths
from appion.ctfestimation.calc.internal.summary import ctf_summary

_CHUNK = 500
_FIELDS = ("id", "image", "defocus1", "defocus2", "angle_astigmatism", "ctffind4_resolution",
           "resolution_50_percent", "cross_correlation", "amplitude_contrast", "confidence")


def _plain_name(filename: Any) -> str | None:
    try:
        return plain_file_name(filename, "micrograph file name")
    except InputFileError:
        return None


def image_files(rundir: str | Path, filenames: Mapping[int, Any]
                ) -> dict[int, dict[str, str]]:
    """``{micrograph id: {"spectrum_path", "profile_path"}}``: the absolute paths of the
    worker-made files that exist in the run directory (an absent one is left out)."""
    found: dict[int, dict[str, str]] = {}
    for image, filename in filenames.items():
        name = _plain_name(filename)
        if name is None:
            continue
        spectrum, profile = display_paths(os.path.abspath(rundir), name)
        files = {key: path for key, path in (("spectrum_path", spectrum),
                                              ("profile_path", profile))
                 if os.path.isfile(path)}
        if files:
            found[int(image)] = files
    return found


def ctf_summaries(acerun_id: int, image_ids: Iterable[int], *,
                  rundir: str | Path | None = None) -> dict[int, dict[str, Any]]:
    """``{micrograph id: summary}`` (:func:`~appion.ctfestimation.calc.internal.summary.
    ctf_summary`) of the micrographs the run has a CTF for; the others are omitted.
    With ``rundir``, ``spectrum_path`` and ``profile_path`` where those files exist."""
    wanted = sorted({int(i) for i in image_ids})
    newest: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = sinedon.filter("ApCtfData", {"acerun": int(acerun_id),
                                            "image__in": wanted[start:start + _CHUNK]},
                              fields=_FIELDS)
        for row in rows:  # ordered by id: the newest last
            if row.get("image") is not None:
                newest[int(row["image"])] = row
    found = {image: ctf_summary(row) for image, row in newest.items()}
    if rundir is not None and found:
        images = sinedon.rows_by_ids("AcquisitionImageData", found, fields=("filename",))
        for image, files in image_files(rundir, {i: row.get("filename")
                                                 for i, row in images.items()}).items():
            found[image].update(files)
    return found


def read_profile(path: str | None) -> dict[str, Any] | None:
    """The content of a profile JSON file; ``None`` when absent or unreadable."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _existing(path: str | None) -> str | None:
    return path if path and os.path.isfile(path) else None


def ctf_details(acerun_id: int, image_id: int, *, rundir: str | Path,
                image_path: str | None) -> dict[str, Any]:
    """Everything about one micrograph of the run (``{}`` when the run has no CTF of it):
    ``profile`` (the profile JSON's content, ``None`` without the file), ``files``
    (``micrograph`` in the session's image path; ``spectrum``, ``profile`` and the
    classic ``graph1``..``graph4`` in the run directory, ``None`` when absent) and
    ``parameters`` (the run's ``ApCtfFind4ParamsData`` values)."""
    rows = sinedon.filter("ApCtfData", {"acerun": int(acerun_id), "image": int(image_id)},
                          fields=("id", "image", "graph1", "graph2", "graph3", "graph4"))
    if not rows:
        return {}
    row = rows[-1]
    image = sinedon.rows_by_ids("AcquisitionImageData", [int(image_id)],
                                fields=("filename",)).get(int(image_id)) or {}
    name = _plain_name(image.get("filename"))
    rundir = os.path.abspath(rundir)
    files: dict[str, str | None] = {
        "micrograph": (os.path.join(os.path.abspath(image_path), f"{name}.mrc")
                       if image_path and name else None),
        "spectrum": None, "profile": None}
    if name is not None:
        spectrum, profile = display_paths(rundir, name)
        files.update(spectrum=_existing(spectrum), profile=_existing(profile))
    for graph in ("graph1", "graph2", "graph3", "graph4"):
        graph_name = _plain_graph(row.get(graph))
        files[graph] = _existing(os.path.join(rundir, GRAPH_FOLDER, graph_name)
                                 if graph_name else None)
    return {"profile": read_profile(files["profile"]), "files": files,
            "parameters": _run_parameters(acerun_id)}


def _plain_graph(name: Any) -> str | None:
    try:
        return plain_file_name(name, "graph file name") if name else None
    except InputFileError:
        return None


def _run_parameters(acerun_id: int) -> dict[str, Any]:
    """The run's ``ApCtfFind4ParamsData`` values, plain (``{}`` without the row)."""
    run = sinedon.rows_by_ids("ApAceRunData", [int(acerun_id)],
                              fields=("ctffind4_params",)).get(int(acerun_id))
    params_id = (run or {}).get("ctffind4_params")
    if params_id is None:
        return {}
    return plain_row(sinedon.rows_by_ids("ApCtfFind4ParamsData", [int(params_id)]
                                         ).get(int(params_id)))


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


__all__ = ["classic_ctf_runs", "ctf_details", "ctf_summaries", "image_files", "read_profile"]
