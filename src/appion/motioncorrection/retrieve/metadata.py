"""Read, in bulk, the Leginon metadata motion correction needs for a list of images.

One query per table for the whole list (images, cameras, scopes, presets,
sessions, norm/dark references, corrector plans) and one per
distinct (microscope, camera, magnification) for the pixel-size calibration
history, so that preparing hundreds of exposures costs a handful of queries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from appion.base.retrieve.leginon_rows import PixelCalibrations, referenced_row, rows_by_ids
from appion.motioncorrection.calc.internal.params import ImageMetadata, frames_candidates


def _referenced(rows: Iterable[dict], key: str) -> set[int]:
    return {int(row[key]) for row in rows if row and row.get(key)}


def load_image_metadata(image_ids: Iterable[int]) -> dict[int, ImageMetadata]:
    """``{image_id: ImageMetadata}`` for every image found."""
    images = rows_by_ids("AcquisitionImageData", {int(i) for i in image_ids})
    if not images:
        return {}
    rows = list(images.values())
    cameras = rows_by_ids("CameraEMData", _referenced(rows, "camera"))
    scopes = rows_by_ids("ScopeEMData", _referenced(rows, "scope"))
    presets = rows_by_ids("PresetData", _referenced(rows, "preset"))
    norms = rows_by_ids("NormImageData", _referenced(rows, "norm"))
    darks = rows_by_ids("DarkImageData", _referenced(rows, "dark"))
    plans = rows_by_ids("CorrectorPlanData", _referenced(rows, "corrector_plan"))
    dark_cameras = rows_by_ids("CameraEMData", _referenced(darks.values(), "camera"))
    sessions = rows_by_ids("SessionData", _referenced(rows, "session")
                           | _referenced(norms.values(), "session")
                           | _referenced(darks.values(), "session"))
    calibrations = PixelCalibrations()
    found = {}
    for image_id, image in images.items():
        camera = referenced_row(cameras, image.get("camera")) or {}
        scope = referenced_row(scopes, image.get("scope")) or {}
        norm = referenced_row(norms, image.get("norm"))
        dark = referenced_row(darks, image.get("dark"))
        found[image_id] = ImageMetadata(
            image=image, session=referenced_row(sessions, image.get("session")) or {},
            camera=camera, scope=scope, preset=referenced_row(presets, image.get("preset")),
            norm=norm,
            norm_session=referenced_row(sessions, (norm or {}).get("session")), dark=dark,
            dark_session=referenced_row(sessions, (dark or {}).get("session")),
            dark_camera=referenced_row(dark_cameras, (dark or {}).get("camera")),
            corrector_plan=referenced_row(plans, image.get("corrector_plan")),
            pixel_calibrations=calibrations(camera, scope))
    return found


def find_frames_file(frame_path: str, filename: str) -> str | None:
    """The exposure's frames file (``<frame_path>/<filename>.frames.{mrc,tif,eer}``), if any."""
    for candidate in frames_candidates(frame_path, filename):
        if os.path.isfile(candidate):
            return candidate
    return None
