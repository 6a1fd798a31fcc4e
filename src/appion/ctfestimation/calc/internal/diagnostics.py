"""Diagnostic images and plots of a CTF fit (classic opimages graph1..graph4).

The array builders are pure; the ``write_*`` functions are the explicit writers:
each writes to a temporary name in the target folder and renames it, so a reader
never sees a partial file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from appion.base.files import atomic_path
from appion.ctfestimation.calc.internal.ctf_model import ctf_2d
from appion.ctfestimation.calc.internal.estimator import CtfFit, Profile1D, SearchParameters


def centred_full_spectrum(half: np.ndarray) -> np.ndarray:
    """An ``rfft2`` half-plane array as the full, centred ``box × box`` spectrum."""
    box = half.shape[0]
    shifted = np.fft.fftshift(half, axes=0)
    # Friedel symmetry: the value at (ky, -kx) is the one at (-ky, kx).
    mirrored = shifted[(-np.arange(box)) % box][:, box // 2:0:-1]
    return np.concatenate([mirrored, shifted[:, :box // 2]], axis=1)


def fit_comparison(spectrum_half: np.ndarray, fit: CtfFit, params: SearchParameters
                   ) -> np.ndarray:
    """CTFFIND-style diagnostic: the spectrum on the left, the fitted ``sin²(chi)`` on the right."""
    box = params.box
    observed = centred_full_spectrum(spectrum_half)
    model = np.fft.fftshift(ctf_2d((box, box), params.pixel_size_a, fit.defocus_1_a,
                                   fit.defocus_2_a, fit.azimuth_deg, params.kv, params.cs_mm,
                                   params.amplitude_contrast, fit.phase_shift_rad) ** 2)
    low, high = np.percentile(observed, (2.0, 99.5))
    scaled = np.clip((observed - low) / max(high - low, 1e-12), 0.0, 1.0)
    image = scaled.copy()
    image[:, box // 2:] = model[:, box // 2:]
    return image.astype(np.float32)


def write_image(array: np.ndarray, path: Path, *, percentiles: tuple[float, float] = (1.0, 99.5)
                ) -> Path:
    """An array as an 8-bit greyscale JPEG/PNG (format from the suffix)."""
    from PIL import Image
    low, high = np.percentile(array, percentiles)
    scaled = np.clip((array - low) / max(float(high - low), 1e-12), 0.0, 1.0)
    with atomic_path(path) as temporary:
        Image.fromarray((scaled * 255).astype(np.uint8)[::-1]).save(
            temporary, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    return path


def write_profile_plot(profile: Profile1D, fit: CtfFit, params: SearchParameters, path: Path,
                       *, resolutions: dict[str, float] | None = None) -> Path:
    """The 1D fit plot: equiphase average, fitted sin²(chi) and ring-by-ring correlation."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    s = profile.spatial_frequency
    keep = (s >= 1.0 / params.resmin_a * 0.8) & (profile.counts > 0)
    figure = Figure(figsize=(8, 5), dpi=100)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    observed = profile.observed[keep]
    spread = float(np.percentile(np.abs(observed), 99)) or 1.0
    top.plot(s[keep], observed / spread, lw=0.8, color="0.3", label="equiphase average")
    top.plot(s[keep], profile.model[keep], lw=1.0, color="tab:green", label="CTF fit")
    top.set_ylabel("normalised amplitude")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(f"defocus {fit.defocus_1_a:.0f} / {fit.defocus_2_a:.0f} Å, "
                  f"azimuth {fit.azimuth_deg:.1f}°, CC {fit.cross_correlation:.3f}, "
                  f"fit to {fit.fit_resolution_a:.1f} Å", fontsize=9)
    bottom.plot(s[keep], profile.goodness[keep], lw=1.0, color="tab:blue")
    bottom.set_ylim(-0.2, 1.05)
    bottom.set_ylabel("ring CC")
    bottom.set_xlabel("spatial frequency (1/Å)")
    for label, value in (resolutions or {}).items():
        if value and math.isfinite(value) and value > 0:
            bottom.axvline(1.0 / value, ls="--", lw=0.8, color="tab:red")
            bottom.text(1.0 / value, 1.0, f" {label} {value:.1f} Å", fontsize=7,
                        va="top", color="tab:red")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    return path
