"""The pixel size of a Leginon image from its calibration history (shared by every step)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable


def _as_datetime(value: datetime.datetime | str) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    return datetime.datetime.fromisoformat(str(value).replace("T", " ")).replace(tzinfo=None)


def calc_pixel_size(calibrations: Iterable[tuple[datetime.datetime | str, float]],
                    image_time: datetime.datetime | str, binning: int) -> float | None:
    """Å per pixel: the newest calibration not newer than the image × binning × 1e10
    (classic ``-PixSize`` and the CTF pixel size)."""
    when = _as_datetime(image_time)
    usable = [(_as_datetime(stamp), size) for stamp, size in calibrations
              if size and _as_datetime(stamp) <= when]
    if not usable:
        return None
    _, meters = max(usable, key=lambda item: item[0])
    return meters * binning * 1e10
