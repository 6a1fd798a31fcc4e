"""The worker-made images of a CTF fit for ``appion serve``'s pages, as arrays and plain
data (pure), and their names.

* ``<rundir>/opimages/<micrograph>.spectrum.png``: :data:`SPECTRUM_PX` square, the
  micrograph's spectrum centred, the left half the data (the amplitude over its local
  mean along the fitted rings, log-scaled: the background is gone and the Thon rings
  stand out; light low-pass, stretched between percentiles of the fitted band), the
  right half the fitted model ``sin²(chi)`` with the fit's defocus, astigmatism and
  phase shift, like CTFFIND's diagnostic.  Row ``SPECTRUM_PX // 2`` and column
  ``SPECTRUM_PX // 2`` hold the zero frequency; the pixel size of the image's frequency
  grid is :func:`display_pixel_size_a`.
* ``<rundir>/opimages/<micrograph>.profile.json``: the 1D equiphase average with the
  fitted model (:func:`profile_record`).

Every engine's fit is drawn on the spectrum the worker already computed with the
built-in functions (:mod:`.spectrum`), so drawing costs no second spectrum.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from appion.base.calc.internal.images import (
    resample,
    scale_to_longest,
    smooth,
    stretch_limits,
    to_grey,
)
from appion.base.calc.internal.names import plain_file_name
from appion.ctfestimation.calc.internal.ctf_model import ctf_2d
from appion.ctfestimation.calc.internal.diagnostics import centred_full_spectrum
from appion.ctfestimation.calc.internal.estimator import Profile1D
from appion.ctfestimation.contract import CtfFit, SearchParameters

#: Side (pixels) of the spectrum image.
SPECTRUM_PX = 512
SPECTRUM_SUFFIX = ".spectrum.png"
PROFILE_SUFFIX = ".profile.json"
#: The folder of the run directory that holds the graphs and these images.
GRAPH_FOLDER = "opimages"
#: Significant digits of the numbers in the profile JSON.
PROFILE_DIGITS = 6


def display_paths(rundir: str, micrograph_name: str) -> tuple[str, str]:
    """``(spectrum image, profile JSON)`` of a micrograph (its file name without ``.mrc``)
    in the run directory."""
    name = plain_file_name(micrograph_name, "micrograph file name")
    folder = os.path.join(str(rundir), GRAPH_FOLDER)
    return (os.path.join(folder, name + SPECTRUM_SUFFIX),
            os.path.join(folder, name + PROFILE_SUFFIX))


def display_pixel_size_a(params: SearchParameters, size: int = SPECTRUM_PX) -> float:
    """The pixel size (Å) whose ``size``-pixel FFT grid is the spectrum image's: the
    image spans the ``params.box`` spectrum to Nyquist, whatever its box, so it is the
    micrograph's (``size`` is there for the reader: the frequency step is
    ``1 / (size × pixel size)``)."""
    del size
    return params.pixel_size_a


def model_half(fit: CtfFit, params: SearchParameters, size: int = SPECTRUM_PX
               ) -> np.ndarray:
    """The fitted ``sin²(chi)`` on the image's centred ``size × size`` grid, in [0, 1]."""
    ctf = ctf_2d((size, size), display_pixel_size_a(params, size), fit.defocus_1_a,
                 fit.defocus_2_a, fit.azimuth_deg, params.kv, params.cs_mm,
                 params.amplitude_contrast, fit.phase_shift_rad)
    return np.fft.fftshift(ctf * ctf).astype(np.float32)


def _radius(size: int) -> np.ndarray:
    centre = np.arange(size, dtype=np.float32) - size // 2
    return np.hypot(centre[:, None], centre[None, :])


def data_half(spectrum_half: np.ndarray, size: int = SPECTRUM_PX) -> np.ndarray:
    """The normalised spectrum (``rfft2`` half plane, local mean 0) centred, as the
    amplitude over its local mean (``1 + value``), lightly low-passed, scaled to ``size``
    and log-scaled."""
    full = centred_full_spectrum(np.asarray(spectrum_half, dtype=np.float32))
    ratio = smooth(np.maximum(full + np.float32(1.0), np.float32(0.0)))
    scaled = (scale_to_longest(ratio, size) if full.shape[0] > size
              else resample(ratio, (size, size)))
    return np.log(np.maximum(scaled, np.float32(1e-2)))


def spectrum_pixels(spectrum_half: np.ndarray, fit: CtfFit, params: SearchParameters,
                    size: int = SPECTRUM_PX) -> np.ndarray:
    """The spectrum image as 8-bit grey (``size × size``): data left, model right.

    The data's grey levels are stretched between the 0.5 and 99.5 percentiles of the
    fitted band (``resmin`` to ``resmax``), so the strong lowest frequencies do not
    wash the rings out.
    """
    data = data_half(spectrum_half, size)
    radius = _radius(size)
    per_pixel = 1.0 / (size * display_pixel_size_a(params, size))  # 1/Å per pixel
    band = ((radius >= 1.0 / params.resmin_a / per_pixel)
            & (radius <= 1.0 / params.resmax_a / per_pixel))
    band[:, size // 2:] = False
    low, high = stretch_limits(data, mask=band if band.any() else None)
    pixels = to_grey(data, low, high)
    model = to_grey(model_half(fit, params, size), 0.0, 1.0)
    pixels[:, size // 2:] = model[:, size // 2:]
    return pixels


def _number(value: float) -> float | None:
    value = float(value)
    return float(f"{value:.{PROFILE_DIGITS}g}") if math.isfinite(value) else None


def profile_record(profile: Profile1D, fit: CtfFit) -> dict[str, Any]:
    """The 1D profile as plain data: ``spatial_frequency_per_a`` (1/Å), ``spectrum`` (the
    equiphase average of the spectrum over its local mean, minus 1), ``fit`` (the model
    ``sin²(chi)``), over the bins that hold pixels, and ``resolution_a`` (the fit's)."""
    keep = np.nonzero(np.asarray(profile.counts) > 0)[0]
    return {
        "spatial_frequency_per_a": [_number(v) for v in profile.spatial_frequency[keep]],
        "spectrum": [_number(v) for v in profile.observed[keep]],
        "fit": [_number(v) for v in profile.model[keep]],
        "resolution_a": _number(fit.fit_resolution_a),
    }


__all__ = ["GRAPH_FOLDER", "PROFILE_SUFFIX", "SPECTRUM_PX", "SPECTRUM_SUFFIX", "data_half",
           "display_paths", "display_pixel_size_a", "model_half", "profile_record",
           "spectrum_pixels"]
