"""Read, in bulk, the Leginon metadata motion correction needs for a list of images.

One query per table for the whole list (images, cameras, scopes, presets,
sessions, norm/dark references, corrector plans) and one per
distinct (microscope, camera, magnification) for the pixel-size calibration
history, so that preparing hundreds of exposures costs a handful of queries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import sinedon

from appion.motioncorrection.calc.internal.params import ImageMetadata, frames_candidates


def _referenced(rows: Iterable[dict], key: str) -> set[int]:
    return {int(row[key]) for row in rows if row and row.get(key)}


def _bulk(model: str, row_ids: set[int]) -> dict[int, dict]:
    return sinedon.rows_by_ids(model, row_ids) if row_ids else {}


def pixel_calibrations(tem: int | None, ccdcamera: int | None, magnification: int | None
                       ) -> tuple[tuple[object, float], ...]:
    """The calibration history ``(timestamp, metres per pixel)`` of one magnification."""
    where = {"tem": tem, "ccdcamera": ccdcamera, "magnification": magnification}
    rows = sinedon.filter("PixelSizeCalibrationData", where,
                          fields=("def_timestamp", "pixelsize"))
    return tuple((row["def_timestamp"], row["pixelsize"]) for row in rows)


def load_image_metadata(image_ids: Iterable[int]) -> dict[int, ImageMetadata]:
    """``{image_id: ImageMetadata}`` for every image found."""
    images = _bulk("AcquisitionImageData", {int(i) for i in image_ids})
    if not images:
        return {}
    rows = list(images.values())
    cameras = _bulk("CameraEMData", _referenced(rows, "camera"))
    scopes = _bulk("ScopeEMData", _referenced(rows, "scope"))
    presets = _bulk("PresetData", _referenced(rows, "preset"))
    norms = _bulk("NormImageData", _referenced(rows, "norm"))
    darks = _bulk("DarkImageData", _referenced(rows, "dark"))
    plans = _bulk("CorrectorPlanData", _referenced(rows, "corrector_plan"))
    dark_cameras = _bulk("CameraEMData", _referenced(darks.values(), "camera"))
    sessions = _bulk("SessionData", _referenced(rows, "session")
                     | _referenced(norms.values(), "session")
                     | _referenced(darks.values(), "session"))
    calibrations: dict[tuple, tuple] = {}
    found = {}
    for image_id, image in images.items():
        camera = cameras.get(image.get("camera")) or {}
        scope = scopes.get(image.get("scope")) or {}
        key = (scope.get("tem"), camera.get("ccdcamera"), scope.get("magnification"))
        if key not in calibrations:
            calibrations[key] = pixel_calibrations(*key)
        norm = norms.get(image.get("norm"))
        dark = darks.get(image.get("dark"))
        found[image_id] = ImageMetadata(
            image=image, session=sessions.get(image.get("session")) or {}, camera=camera,
            scope=scope, preset=presets.get(image.get("preset")), norm=norm,
            norm_session=sessions.get((norm or {}).get("session")), dark=dark,
            dark_session=sessions.get((dark or {}).get("session")),
            dark_camera=dark_cameras.get((dark or {}).get("camera")),
            corrector_plan=plans.get(image.get("corrector_plan")),
            pixel_calibrations=calibrations[key])
    return found


def find_frames_file(frame_path: str, filename: str) -> str | None:
    """The exposure's frames file (``<frame_path>/<filename>.frames.{mrc,tif,eer}``), if any."""
    for candidate in frames_candidates(frame_path, filename):
        if os.path.isfile(candidate):
            return candidate
    return None
