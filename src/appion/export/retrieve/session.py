"""Open a session for the exports and curation: databases set up for its project."""

from __future__ import annotations

from typing import Any

import sinedon
from appion.base.retrieve.session import session_by_name, session_project


def open_session(name: str, projectid: int | None = None) -> dict[str, Any]:
    """The ``SessionData`` row of ``name``, with sinedon set up for its project."""
    sinedon.setup(projectid=projectid)
    session = session_by_name(name)
    project = session_project(session, projectid)
    if project != projectid:
        sinedon.setup(projectid=project)
    return session
