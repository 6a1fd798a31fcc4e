"""Find the Leginon session a run works on, and the project it belongs to.

Classic Appion takes the session from ``--session`` (its name), else ``--expid``
(its ``DEF_id``), else from the images named in ``--mrclist``; the project from
``--projectid``, else from the session (``projectexperiments``).
"""

from __future__ import annotations

import logging
from typing import Any

import sinedon
from appion.base.errors import AppionError, UsageError
from appion.base.selection import ImageSelection, image_name, mrclist_names
from sinedon.connection import location

log = logging.getLogger(__name__)

__all__ = ["check_preset", "find_session", "image_name", "mrclist_names",
           "project_of_session", "session_by_id", "session_by_name",
           "session_of_images", "session_project"]


def _leginon_description() -> str:
    return location(sinedon.LEGINON).describe()


def session_by_name(name: str) -> dict[str, Any]:
    """The newest ``SessionData`` row called ``name``."""
    row = sinedon.get("SessionData", {"name": name})
    if row is None:
        raise AppionError(f"session '{name}' not found in {_leginon_description()}; "
                          "check --session")
    return row


def session_by_id(session_id: int) -> dict[str, Any]:
    """The ``SessionData`` row with ``DEF_id`` ``session_id``."""
    row = sinedon.get("SessionData", {"id": session_id})
    if row is None:
        raise AppionError(f"session id {session_id} not found in {_leginon_description()}; "
                          "check --expid")
    return row


def session_of_images(names: list[str]) -> dict[str, Any]:
    """The session of the first ``--mrclist`` image (classic: every name must exist)."""
    if not names:
        raise UsageError("--mrclist names no image; give comma-separated image names")
    image = sinedon.get("AcquisitionImageData", {"filename": names[0]})
    if image is None or image.get("session") is None:
        raise AppionError(f"image '{names[0]}' from --mrclist not found in "
                          f"{_leginon_description()}; check the name")
    return session_by_id(image["session"])


def find_session(selection: ImageSelection) -> dict[str, Any]:
    """The run's session row: ``--session``, else ``--expid``, else the ``--mrclist`` images."""
    name, expid = selection.session_name, selection.session_id
    if name:
        session = session_by_name(name)
        if expid is not None and session["id"] != expid:
            raise UsageError(f"--session {name} is session id {session['id']}, not --expid "
                             f"{expid}; give one of them or make them match")
        return session
    if expid is not None:
        return session_by_id(expid)
    if selection.image_names:
        return session_of_images(list(selection.image_names))
    raise UsageError("no images selected: give --session (or --expid, or --mrclist)")


def check_preset(session: dict[str, Any], preset: str | None, *, waiting: bool) -> None:
    """A ``--preset`` the session lacks (``manual``: images without one): one line naming
    the presets it has.  A run that waits for new images only warns (classic web starts
    ``ctffind4.py --preset=enn-a-DW`` before the first aligned image makes that preset);
    any other run would end with nothing done, so it stops."""
    if not preset or preset == "manual":
        return
    if sinedon.ids("PresetData", {"session": session["id"], "name": preset}):
        return
    names = sorted({row["name"] for row in sinedon.filter(
        "PresetData", {"session": session["id"]}, fields=["name"]) if row.get("name")})
    problem = (f"preset {preset} not found in session {session['name']} (presets: "
               f"{', '.join(names) or 'none'})")
    if waiting:
        log.warning("%s; waiting for its images", problem)
        return
    raise UsageError(f"{problem}; check --preset")


def project_of_session(session_id: int) -> int | None:
    """The project a session is linked to in ``projectexperiments``, or ``None``."""
    row = sinedon.get("projectexperiments", {"session": session_id})
    return None if row is None else row["project"]


def session_project(session: dict[str, Any], projectid: int | None) -> int:
    """The run's project: ``--projectid`` when given, else (classic
    ``getProjectIdFromSessionName``) the project the session is linked to in
    ``projectexperiments``.

    A ``--projectid`` other than the session's project is refused (its rows would land
    in the wrong Appion database); an unlinked session is accepted with ``--projectid``,
    as classic does, and is an error without it.
    """
    linked = project_of_session(session["id"])
    if projectid is None:
        if linked is None:
            raise UsageError(f"session '{session['name']}' belongs to no project (no "
                             "projectexperiments row); give --projectid")
        return linked
    if linked is not None and linked != projectid:
        raise UsageError(f"session '{session['name']}' belongs to project {linked}, not "
                         f"--projectid {projectid}; check --projectid")
    return projectid
