"""A Leginon session of image rows only (no movies, no references).

The controller and the no-op step read only ``SessionData``, ``PresetData`` and
``AcquisitionImageData``; a live session is simulated by inserting more image rows
while a controller runs.  Controller tests and ``benchmarks/controller.py`` use it
where the full simulator's movies would only cost time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sinedon

BULK_BATCH = 2000


@dataclass
class RowsSession:
    """A session with one ``enn`` preset; images are named ``<session>_<NNNNN>_enn``."""

    name: str
    id: int
    preset_id: int
    count: int = 0

    def _next_filename(self) -> str:
        self.count += 1
        return f"{self.name}_{self.count:05d}_enn"

    def add_images(self, number: int, preset_id: int | None = None) -> list[int]:
        """Insert ``number`` exposures one by one, as Leginon does; their ids."""
        return [sinedon.insert("AcquisitionImageData", {
            "session": self.id, "preset": preset_id or self.preset_id,
            "filename": self._next_filename(), "label": "enn"}) for _ in range(number)]

    def bulk_add(self, number: int) -> None:
        """Insert many exposures at once (batched inserts), for large sessions."""
        sinedon.insert_many("AcquisitionImageData", (
            {"session": self.id, "preset": self.preset_id, "label": "enn",
             "filename": self._next_filename()} for _ in range(number)), batch_size=BULK_BATCH)


def start_rows_session(root: Path, name: str) -> RowsSession:
    """A new ``SessionData`` (image path under ``root``) with its ``enn`` preset."""
    image_path = Path(root) / "leginon" / name / "rawdata"
    image_path.mkdir(parents=True, exist_ok=True)
    session_id = sinedon.insert("SessionData", {"name": name, "image_path": str(image_path)})
    preset_id = sinedon.insert("PresetData", {"session": session_id, "name": "enn"})
    return RowsSession(name, session_id, preset_id)
