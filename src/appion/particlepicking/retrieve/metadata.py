"""Read, in bulk, what picking needs about micrographs: their file and pixel size.

One query per table for the whole batch (images, cameras, sessions) and one per
distinct magnification for the pixel-size history, as the CTF step reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from appion.base.calc.internal.names import plain_file_name
from appion.base.calc.internal.pixel_size import calc_pixel_size
from appion.base.retrieve.leginon_rows import PixelCalibrations, referenced_row, rows_by_ids


@dataclass(frozen=True)
class MicrographInfo:
    """One micrograph's file and pixel size, from Leginon."""

    image_id: int
    filename: str
    path: str  # <session image path>/<filename>.mrc
    pixel_size_a: float | None


def load_micrographs(image_ids: Iterable[int]) -> dict[int, MicrographInfo]:
    """``{image_id: MicrographInfo}`` for every image found."""
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
        found[image_id] = MicrographInfo(
            image_id=image_id, filename=filename,
            path=os.path.join(session.get("image_path") or "", f"{filename}.mrc"),
            pixel_size_a=pixel_size)
    return found


__all__ = ["MicrographInfo", "load_micrographs"]
