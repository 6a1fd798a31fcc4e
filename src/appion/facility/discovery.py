"""Finding sessions as Leginon records them, on every microscope, incrementally.

The discovery keeps one mark: the highest ``AcquisitionImageData`` id it has read.  A
poll reads the images above it (a range of the primary key, so its cost does not grow
with years of sessions) and says which sessions they belong to, with the microscope,
camera, preset and project each image was taken with; the names of sessions, presets
and instruments are read once and kept.  At the very first start the mark is the last
image acquired before ``now - lookback`` (one probe of the ``DEF_timestamp`` index), so
sessions collected in the lookback window are taken up and older ones are not.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sinedon
from appion.base.retrieve.session import project_of_session

log = logging.getLogger("appion.facility")

#: At most this many new images are read by one poll (the next poll reads on).
POLL_BATCH = 5000


@dataclass(frozen=True)
class Sighting:
    """Images of one session and preset that arrived since the last poll."""

    session_id: int
    session: str
    image_path: str
    microscope: str
    camera: str
    preset: str
    project: int | None
    image_ids: tuple[int, ...]
    newest_at: float               # epoch seconds of the newest image's acquisition


def epoch_seconds(value: Any) -> float | None:
    """A ``DEF_timestamp`` (naive local time, as Leginon's server writes it) as epoch s."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value)


def first_image_after(when: datetime.datetime) -> int | None:
    """The id of the first image acquired at or after ``when`` (naive local time)."""
    rows = sinedon.filter("AcquisitionImageData", {"def_timestamp__gte": when},
                          order_by="def_timestamp", limit=1, fields=["id"])
    return int(rows[0]["id"]) if rows else None


def start_mark(lookback_s: float, now: datetime.datetime | None = None) -> int:
    """The mark of a first start: sessions with images in the last ``lookback_s``
    seconds are found by the first poll, older ones are not."""
    now = now or datetime.datetime.now()
    first = first_image_after(now - datetime.timedelta(seconds=lookback_s))
    if first is None:
        return sinedon.max_id("AcquisitionImageData")
    return first - 1


class SessionDiscovery:
    """New images since the last poll, grouped by session and preset."""

    def __init__(self, mark: int):
        self.mark = int(mark)
        self._sessions: dict[int, dict[str, Any]] = {}
        self._presets: dict[int, str] = {}
        self._instruments: dict[int, str] = {}
        self._projects: dict[int, int | None] = {}
        self._scopes_of_session: dict[tuple[int, str], tuple[str, str]] = {}

    def poll(self) -> list[Sighting]:
        """What arrived since the last poll (at most :data:`POLL_BATCH` images)."""
        rows = sinedon.filter(
            "AcquisitionImageData", {"id__gt": self.mark}, order_by="id", limit=POLL_BATCH,
            fields=["id", "session", "preset", "scope", "camera", "def_timestamp"])
        if not rows:
            return []
        self.mark = int(rows[-1]["id"])
        return self._sightings(rows)

    def _sightings(self, rows: list[dict[str, Any]]) -> list[Sighting]:
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self._read_names(rows)
        for row in rows:
            if row["session"] is None:
                continue
            preset = self._presets.get(row["preset"], "") if row["preset"] else ""
            groups.setdefault((int(row["session"]), preset), []).append(row)
        self._read_instruments(groups)
        return [self._sighting(session_id, preset, images)
                for (session_id, preset), images in groups.items()]

    def _sighting(self, session_id: int, preset: str,
                  images: list[dict[str, Any]]) -> Sighting:
        session = self._sessions.get(session_id, {})
        microscope, camera = self._scopes_of_session.get((session_id, preset), ("", ""))
        newest = max((epoch_seconds(row["def_timestamp"]) or 0.0) for row in images)
        return Sighting(session_id=session_id, session=str(session.get("name") or session_id),
                        image_path=str(session.get("image_path") or ""),
                        microscope=microscope, camera=camera, preset=preset,
                        project=self._project(session_id),
                        image_ids=tuple(int(row["id"]) for row in images), newest_at=newest)

    def _read_names(self, rows: list[dict[str, Any]]) -> None:
        sessions = _missing(self._sessions, (row["session"] for row in rows))
        if sessions:
            found = sinedon.rows_by_ids("SessionData", sessions, fields=["name", "image_path"])
            self._sessions.update(found)
        presets = _missing(self._presets, (row["preset"] for row in rows))
        if presets:
            found = sinedon.rows_by_ids("PresetData", presets, fields=["name"])
            self._presets.update((key, str(row["name"])) for key, row in found.items())

    def _read_instruments(self, groups: dict[tuple[int, str], list[dict[str, Any]]]) -> None:
        """The microscope and camera of each new (session, preset): from its newest image's
        ``ScopeEMData.tem`` and ``CameraEMData.ccdcamera``, read once per pair."""
        new = {key: images[-1] for key, images in groups.items()
               if key not in self._scopes_of_session}
        if not new:
            return
        scopes = sinedon.rows_by_ids("ScopeEMData", [r["scope"] for r in new.values()
                                                     if r["scope"]], fields=["tem"])
        cameras = sinedon.rows_by_ids("CameraEMData", [r["camera"] for r in new.values()
                                                       if r["camera"]], fields=["ccdcamera"])
        instrument_ids = [row["tem"] for row in scopes.values()]
        instrument_ids += [row["ccdcamera"] for row in cameras.values()]
        missing = _missing(self._instruments, instrument_ids)
        if missing:
            found = sinedon.rows_by_ids("InstrumentData", missing, fields=["name"])
            self._instruments.update((key, str(row["name"])) for key, row in found.items())
        for key, row in new.items():
            tem = scopes.get(row["scope"], {}).get("tem")
            ccd = cameras.get(row["camera"], {}).get("ccdcamera")
            self._scopes_of_session[key] = (self._instruments.get(tem, "") if tem else "",
                                            self._instruments.get(ccd, "") if ccd else "")

    def _project(self, session_id: int) -> int | None:
        if session_id not in self._projects:
            try:
                self._projects[session_id] = project_of_session(session_id)
            except sinedon.SinedonError as error:
                log.warning("cannot read the project of session %d: %s", session_id, error)
                return None
        return self._projects[session_id]


def _missing(known: dict[int, Any], ids: Iterable[Any]) -> list[int]:
    return sorted({int(i) for i in ids if i is not None and int(i) not in known})
