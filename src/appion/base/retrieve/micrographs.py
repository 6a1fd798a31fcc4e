"""Read, in bulk, where micrographs are and their pixel size: what every step that
works on a micrograph needs.

One query per table for the whole batch (images, cameras, scopes, sessions) and one
per distinct magnification for the pixel-size history.  A step that needs more of
the microscope (the CTF's voltage and Cs) reads it from the scope rows given here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appion.base.calc.internal.names import plain_file_name
from appion.base.calc.internal.pixel_size import calc_pixel_size
from appion.base.retrieve.leginon_rows import PixelCalibrations, referenced_row, rows_by_ids


@dataclass(frozen=True)
class Micrograph:
    """One micrograph's file and pixel size, from Leginon, and its ``ScopeEMData`` row."""

    image_id: int
    filename: str
    path: str  # <session image path>/<filename>.mrc
    pixel_size_a: float | None
    scope: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def load_micrographs(image_ids: Iterable[int]) -> dict[int, Micrograph]:
    """``{image_id: Micrograph}`` for every image found."""
    images = rows_by_ids("AcquisitionImageData", image_ids)
    cameras = rows_by_ids("CameraEMData", (row.get("camera") for row in images.values()))
    scopes = rows_by_ids("ScopeEMData", (row.get("scope") for row in images.values()))
    sessions = rows_by_ids("SessionData", (row.get("session") for row in images.values()))
    calibrations = PixelCalibrations()
    found = {}
    for image_id, image in images.items():
        camera = referenced_row(cameras, image.get("camera")) or {}
        scope = referenced_row(scopes, image.get("scope")) or {}
        session = referenced_row(sessions, image.get("session")) or {}
        pixel_size = calc_pixel_size(calibrations(camera, scope), image["def_timestamp"],
                                     int(camera.get("binning_x") or 1))
        filename = plain_file_name(image["filename"], "image file name")
        found[image_id] = Micrograph(
            image_id=image_id, filename=filename,
            path=os.path.join(session.get("image_path") or "", f"{filename}.mrc"),
            pixel_size_a=pixel_size, scope=scope)
    return found


__all__ = ["Micrograph", "load_micrographs"]
