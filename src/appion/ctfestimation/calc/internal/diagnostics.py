"""Diagnostic images and plots of a CTF fit (classic opimages graph1..graph4), as arrays.

Everything here is computation: arrays in, arrays out (the files are written by
:mod:`appion.ctfestimation.output`).  The profile plot's figure is drawn once per
thread and x range and reused (only its curves and texts are redrawn), since
drawing a new matplotlib figure twice per micrograph cost more than the CTF fit
itself.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from appion.ctfestimation.calc.internal.ctf_model import ctf_2d
from appion.ctfestimation.calc.internal.estimator import Profile1D
from appion.ctfestimation.contract import CtfFit, SearchParameters


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


def grey_pixels(array: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.5)
                ) -> np.ndarray:
    """An array as 8-bit grey levels between two percentiles, first row at the bottom."""
    low, high = np.percentile(array, percentiles)
    scaled = np.clip((array - low) / max(float(high - low), 1e-12), 0.0, 1.0)
    return (scaled * 255).astype(np.uint8)[::-1]


def profile_plot_pixels(profile: Profile1D, fit: CtfFit, params: SearchParameters, *,
                        resolutions: dict[str, float] | None = None) -> np.ndarray:
    """The 1D fit plot as RGB pixels: equiphase average, fitted sin²(chi) and ring-by-ring
    correlation."""
    s = profile.spatial_frequency
    keep = (s >= 1.0 / params.resmin_a * 0.8) & (profile.counts > 0)
    observed = profile.observed[keep]
    spread = float(np.percentile(np.abs(observed), 99)) if observed.size else 1.0
    x_range = (float(s[keep][0]), float(s[keep][-1])) if keep.any() else (0.0, float(s[-1]))
    plot = _profile_figure(_rounded_range(x_range))
    return plot.render(s[keep], observed / (spread or 1.0), profile.model[keep],
                       profile.goodness[keep], _plot_title(fit), _markers(resolutions))


def _plot_title(fit: CtfFit) -> str:
    return (f"defocus {fit.defocus_1_a:.0f} / {fit.defocus_2_a:.0f} Å, "
            f"azimuth {fit.azimuth_deg:.1f}°, CC {fit.cross_correlation:.3f}, "
            f"fit to {fit.fit_resolution_a:.1f} Å")


def _markers(resolutions: dict[str, float] | None) -> list[tuple[str, float]]:
    return [(label, value) for label, value in (resolutions or {}).items()
            if value and math.isfinite(value) and value > 0]


def _rounded_range(x_range: tuple[float, float]) -> tuple[float, float]:
    """A plot's x range, rounded so that micrographs of one run share one figure."""
    return round(x_range[0], 5), round(x_range[1], 5)


class _ProfilePlot:
    """The figure of :func:`profile_plot_pixels` for one x range, drawn once.

    Axes, ticks and labels are drawn when the figure is made and kept as a bitmap;
    each plot restores it and draws only the curves, the title, the legend and the
    resolution markers (matplotlib's blitting), a few times faster than a new
    figure.  The axes' y ranges are fixed: the observed profile is scaled to about
    ±1 and the correlation lies in [−0.2, 1].
    """

    def __init__(self, x_range: tuple[float, float]):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(8, 5), dpi=100)
        self.canvas = FigureCanvasAgg(self.figure)
        self.top, self.bottom = self.figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        margin = 0.02 * (x_range[1] - x_range[0])
        self.top.set_xlim(x_range[0] - margin, x_range[1] + margin)
        self.top.set_ylim(-1.25, 1.25)
        self.bottom.set_ylim(-0.2, 1.05)
        self.top.set_ylabel("normalised amplitude")
        self.bottom.set_ylabel("ring CC")
        self.bottom.set_xlabel("spatial frequency (1/Å)")
        self.observed, = self.top.plot([], [], lw=0.8, color="0.3", label="equiphase average",
                                       animated=True)
        self.model, = self.top.plot([], [], lw=1.0, color="tab:green", label="CTF fit",
                                    animated=True)
        self.goodness, = self.bottom.plot([], [], lw=1.0, color="tab:blue", animated=True)
        self.legend = self.top.legend(loc="upper right", fontsize=8)
        self.legend.set_animated(True)
        self.title = self.top.set_title("", fontsize=9, animated=True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def render(self, s: np.ndarray, observed: np.ndarray, model: np.ndarray,
               goodness: np.ndarray, title: str, markers: list[tuple[str, float]]
               ) -> np.ndarray:
        """The plot as an RGB array."""
        self.canvas.restore_region(self.background)
        self.observed.set_data(s, observed)
        self.model.set_data(s, model)
        self.goodness.set_data(s, goodness)
        self.title.set_text(title)
        extra = []
        for label, value in markers:
            extra.append(self.bottom.axvline(1.0 / value, ls="--", lw=0.8, color="tab:red",
                                             animated=True))
            extra.append(self.bottom.text(1.0 / value, 1.0, f" {label} {value:.1f} Å",
                                          fontsize=7, va="top", color="tab:red",
                                          animated=True))
        try:
            for artist in (self.observed, self.model, self.goodness, *extra, self.legend,
                           self.title):
                self.figure.draw_artist(artist)
            return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
        finally:
            for artist in extra:
                artist.remove()


_PLOTS = threading.local()


def _profile_figure(x_range: tuple[float, float]) -> _ProfilePlot:
    """This thread's figure for ``x_range`` (a few are kept; workers may run threads)."""
    cache = getattr(_PLOTS, "figures", None)
    if cache is None:
        cache = _PLOTS.figures = {}
    plot = cache.get(x_range)
    if plot is None:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        plot = cache[x_range] = _ProfilePlot(x_range)
    return plot
