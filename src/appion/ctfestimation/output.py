"""The CTF step's graph files (classic opimages graph1..graph4), written atomically.

Each writer takes the pixels :mod:`.calc.internal.diagnostics` computes, writes them
to a temporary name in the target folder and renames it, so a reader never sees a
partial file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appion.base.files import atomic_path
from appion.ctfestimation.calc.internal import diagnostics
from appion.ctfestimation.calc.internal.estimator import Profile1D
from appion.ctfestimation.contract import CtfFit, SearchParameters


def write_pixels(pixels: np.ndarray, path: Path, **save_options: object) -> Path:
    """8-bit pixels as a JPEG or PNG image (format from the suffix)."""
    from PIL import Image
    image_format = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    with atomic_path(path) as temporary:
        Image.fromarray(pixels).save(temporary, format=image_format, **save_options)
    return path


def write_image(array: np.ndarray, path: Path, *,
                percentiles: tuple[float, float] = (1.0, 99.5)) -> Path:
    """An array as an 8-bit greyscale JPEG/PNG (format from the suffix)."""
    return write_pixels(diagnostics.grey_pixels(array, percentiles), path)


def write_profile_plot(profile: Profile1D, fit: CtfFit, params: SearchParameters, path: Path,
                       *, resolutions: dict[str, float] | None = None) -> Path:
    """The 1D fit plot as a PNG."""
    pixels = diagnostics.profile_plot_pixels(profile, fit, params, resolutions=resolutions)
    return write_pixels(pixels, path, compress_level=1)


__all__ = ["write_image", "write_pixels", "write_profile_plot"]
