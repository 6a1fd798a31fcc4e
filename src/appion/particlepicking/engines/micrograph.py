"""The micrograph an engine picks: read once, checked for garbage."""

from __future__ import annotations

import numpy as np

from appion.base.calc.internal import validate
from appion.base.errors import InputFileError
from appion.base.files import read_mrc

PICK_HINT = "no particles are stored for it; check the micrograph"


def read_micrograph(path: str) -> np.ndarray:
    """A 2D float32 micrograph (the first slice of a stack); an
    :class:`~appion.base.errors.InputFileError` when it is unreadable, not an image, or
    garbage (NaN/Inf pixels, one value everywhere)."""
    data = read_mrc(path, "micrograph", "check the motion-corrected sum of this image")
    if data.ndim not in (2, 3):
        raise InputFileError(f"micrograph {path} is not an image; check the file")
    image = data[0] if data.ndim == 3 else data
    validate.check_image(image, f"micrograph {path}", PICK_HINT)
    return image


__all__ = ["PICK_HINT", "read_micrograph"]
