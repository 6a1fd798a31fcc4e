"""Bulk reads of Leginon rows that every step's metadata loader makes.

A batch of images is read with one query per table (:func:`rows_by_ids`) and one
per distinct (microscope, camera, magnification) for the pixel-size calibration
history (:class:`PixelCalibrations`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import sinedon

#: A magnification's calibration history: ``(timestamp, metres per pixel)`` pairs.
CalibrationHistory = tuple[tuple[datetime.datetime | str, float], ...]


def rows_by_ids(model: str, ids: Iterable[Any]) -> dict[int, dict]:
    """``{id: row}`` of ``model`` for ``ids`` in one query; ``None`` and 0 are skipped."""
    wanted = {int(i) for i in ids if i}
    return sinedon.rows_by_ids(model, wanted) if wanted else {}


def referenced_row(rows: dict[int, dict], reference: int | None) -> dict | None:
    """The row of ``rows`` a reference column points to; ``None`` for no reference."""
    return None if reference is None else rows.get(reference)


def pixel_calibrations(tem: int | None, ccdcamera: int | None, magnification: int | None
                       ) -> CalibrationHistory:
    """The calibration history ``(timestamp, metres per pixel)`` of one magnification."""
    where = {"tem": tem, "ccdcamera": ccdcamera, "magnification": magnification}
    rows = sinedon.filter("PixelSizeCalibrationData", where,
                          fields=("def_timestamp", "pixelsize"))
    return tuple((row["def_timestamp"], row["pixelsize"]) for row in rows)


class PixelCalibrations:
    """The calibration histories of one batch, each read once and then kept.

    Call it with an image's ``CameraEMData`` and ``ScopeEMData`` rows (``{}`` when
    missing).  Make a new one per batch: calibrations may be added between batches.
    """

    def __init__(self) -> None:
        self._histories: dict[tuple, CalibrationHistory] = {}

    def __call__(self, camera: dict, scope: dict) -> CalibrationHistory:
        key = (scope.get("tem"), camera.get("ccdcamera"), scope.get("magnification"))
        if key not in self._histories:
            self._histories[key] = pixel_calibrations(*key)
        return self._histories[key]
