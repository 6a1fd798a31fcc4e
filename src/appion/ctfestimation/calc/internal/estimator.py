"""The built-in CTF estimator: CTFFIND's method in NumPy/SciPy, no external binary.

1. Power spectrum of the whole micrograph, resampled onto the ``box`` grid by
   Fourier cropping (:func:`spectrum.power_spectrum`), square-rooted: an amplitude
   spectrum whose Thon rings are not blurred (tile averages bias the defocus).
2. Exhaustive 1D search of the mean defocus (and phase shift) on the rotational
   average, flattened by a moving background, by Pearson correlation with
   ``sin²(chi)``.
3. Background: ``B + A·sin²(chi)`` fitted to the rotational average with smooth
   ``B`` and ``A`` (:func:`spectrum.ring_background`); the spectrum is divided by
   the local mean ``B + A/2``.  A moving average leaks partial rings into the
   background and biased the defocus by several Å.
4. Coarse 2D grid over astigmatism around the 1D result, then a bounded Newton
   refinement of defocus 1, defocus 2 and azimuth (and phase shift) with an analytic
   gradient.  Astigmatism is parametrised linearly, ``Δf(θ) = m + a·cos2θ +
   b·sin2θ``, which has no angle wrap-around and a smooth score.  The correlation
   weights taper over one ring at both ends of the band, so a band edge cutting a
   ring part way does not pull the fit.
5. The background is taken again along the rings of that fit (equiphase bins,
   which an astigmatic spectrum's rotational average blurs) and the fit refined.
6. Score (cross correlation), fit resolution and the equiphase 1D profile used by
   the ctfdisplay-like scores, the diagnostic image and the 1D plot.

Everything here is pure: arrays in, frozen dataclasses out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy.optimize import minimize

from appion.ctfestimation.calc.internal import ctf_model
from appion.ctfestimation.calc.internal.ctf_model import electron_wavelength_a
from appion.ctfestimation.calc.internal.spectrum import (
    edge_taper,
    fill_gaps,
    half_plane_polar,
    pearson,
    power_spectrum,
    radial_average,
    ring_background,
    smooth_along,
    strictly_increasing,
)
from appion.ctfestimation.contract import CtfFit, SearchParameters

#: Pixels used by the coarse 2D grid (a strided subset of the fitted band).
_COARSE_PIXELS = 6000
#: Best candidates of the coarse grid searched again on a finer grid around them.
_COARSE_KEEP = 6
#: Elements of one batch of candidate models (bounds the memory of the coarse grid).
_BATCH_ELEMENTS = 1 << 21
#: Rings of the 1D fit the coarse 2D search band holds at least (when resmax allows).
LOW_BAND_RINGS = 4


@dataclass(frozen=True)
class Profile1D:
    """Equiphase average of the normalised spectrum and the fitted model, per ring bin."""

    spatial_frequency: np.ndarray  # 1/Å
    observed: np.ndarray  # background-subtracted, envelope-flattened amplitude
    model: np.ndarray  # sin²(chi) of the fit
    goodness: np.ndarray  # local correlation of the two over about two rings
    counts: np.ndarray  # pixels per bin
    chi: np.ndarray  # CTF phase of the fit at each bin (mean defocus)


@dataclass(frozen=True)
class Estimate:
    """A fit with what the diagnostics need (the normalised spectrum and the profile)."""

    fit: CtfFit
    spectrum: np.ndarray  # normalised amplitude spectrum, rfft2 half-plane layout
    profile: Profile1D
    parameters: SearchParameters


def normalize_convention(defocus_1_a: float, defocus_2_a: float, azimuth_deg: float
                         ) -> tuple[float, float, float]:
    """CTFFIND's ``EnforceConvention``: defocus 1 the larger, azimuth in (−90, 90]."""
    if defocus_1_a < defocus_2_a:
        defocus_1_a, defocus_2_a = defocus_2_a, defocus_1_a
        azimuth_deg += 90.0
    azimuth_deg = wrap_angle_deg(azimuth_deg)
    return defocus_1_a, defocus_2_a, azimuth_deg


def wrap_angle_deg(angle: float) -> float:
    """An axis angle (period 180°) wrapped into (−90, 90]."""
    wrapped = math.fmod(angle, 180.0)
    if wrapped <= -90.0:
        wrapped += 180.0
    elif wrapped > 90.0:
        wrapped -= 180.0
    return wrapped


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a · b`` without BLAS, whose threads (unless OMP_NUM_THREADS=1) spin against the
    other workers of a busy machine and made every correlation several times slower."""
    return float(np.einsum("i,i->", a, b))


def _rows_dot(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` (float64) without BLAS, for the same reason as :func:`_dot`."""
    return np.einsum("ij,j->i", matrix, vector).astype(np.float64)


@dataclass(frozen=True)
class _Grid:
    """Where every pixel of an ``rfft2`` half plane of ``box`` lies (read-only arrays)."""

    radius: np.ndarray  # Fourier pixels
    angle: np.ndarray  # rad, from the x axis
    cos2: np.ndarray  # cos 2·angle
    sin2: np.ndarray  # sin 2·angle
    s2: np.ndarray  # squared spatial frequency, 1/Å²
    bins: np.ndarray  # ring of each pixel (the corners share the last one)
    frequencies: np.ndarray  # spatial frequency of each ring, 1/Å
    excluded: np.ndarray  # the axes, where the micrograph's edges leak power


@lru_cache(maxsize=8)
def _grid(box: int, pixel_size_a: float) -> _Grid:
    radius, angle = half_plane_polar(box)
    step = 1.0 / (box * pixel_size_a)
    grid = _Grid(radius=radius, angle=angle, cos2=np.cos(2.0 * angle), sin2=np.sin(2.0 * angle),
                 s2=(radius * step) ** 2,
                 bins=np.minimum(np.rint(radius).astype(np.intp), box // 2),
                 frequencies=np.arange(box // 2 + 1) * step, excluded=_axis_mask(box))
    for array in vars(grid).values():
        array.flags.writeable = False
    return grid


class _Band:
    """The pixels of the fitted band, flattened, with everything chi needs precomputed.

    Scores are Pearson correlations weighted by ``weights`` (1 where not given).
    """

    def __init__(self, normalised: np.ndarray, grid: _Grid, mask: np.ndarray,
                 params: SearchParameters, weights: np.ndarray | None = None):
        self.s2 = grid.s2[mask]
        self.weights = (np.ones(self.s2.size) if weights is None or not np.any(weights > 0)
                        else np.asarray(weights, dtype=np.float64))
        self._set_values(normalised[mask].astype(np.float64))
        self.cos2 = grid.cos2[mask]
        self.sin2 = grid.sin2[mask]
        self.pi_lambda_s2 = ctf_model.defocus_phase_per_angstrom(self.s2, params.kv)
        self.static = ctf_model.chi(self.s2, 0.0, params.kv, params.cs_mm,
                                    params.amplitude_contrast)

    def _set_values(self, values: np.ndarray) -> None:
        self.values = values
        self.total_weight = float(self.weights.sum())
        centred = values - _dot(self.weights, values) / self.total_weight
        self.weighted = self.weights * centred
        self.norm = math.sqrt(max(_dot(self.weighted, centred), 0.0))

    def subset(self, count: int) -> _Band:
        stride = max(1, self.s2.size // count)
        sub = object.__new__(_Band)
        for name in ("s2", "weights", "cos2", "sin2", "pi_lambda_s2", "static"):
            setattr(sub, name, getattr(self, name)[::stride])
        sub._set_values(self.values[::stride])
        return sub

    def chi(self, mean: float, a: float, b: float, phase: float) -> np.ndarray:
        return self.pi_lambda_s2 * (mean + a * self.cos2 + b * self.sin2) + self.static + phase

    def _model_norm2(self, model: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted sum of squares of the centred model, and the weighted centred model."""
        centred = model - _dot(self.weights, model) / self.total_weight
        weighted = self.weights * centred
        return _dot(weighted, centred), weighted

    def score(self, mean: float, a: float, b: float, phase: float) -> float:
        model = np.sin(self.chi(mean, a, b, phase)) ** 2
        model_norm2, _ = self._model_norm2(model)
        denominator = self.norm * math.sqrt(max(model_norm2, 0.0))
        return _dot(self.weighted, model) / denominator if denominator > 0 else 0.0

    def scores(self, mean: np.ndarray, a: np.ndarray, b: np.ndarray, phase: float
               ) -> np.ndarray:
        """:meth:`score` of many candidates at once (1D arrays of equal length).

        In single precision: a grid only needs to rank its candidates.
        """
        f32 = np.float32
        pi_lambda_s2, cos2, sin2 = (self.pi_lambda_s2.astype(f32), self.cos2.astype(f32),
                                    self.sin2.astype(f32))
        static = (self.static + phase).astype(f32)
        weights, weighted = self.weights.astype(f32), self.weighted.astype(f32)
        out = np.empty(mean.size)
        chunk = max(1, _BATCH_ELEMENTS // max(self.s2.size, 1))
        for start in range(0, mean.size, chunk):
            part = slice(start, start + chunk)
            model = (mean[part, None].astype(f32) + a[part, None].astype(f32) * cos2
                     + b[part, None].astype(f32) * sin2)
            model *= pi_lambda_s2
            model += static
            np.sin(model, out=model)
            model *= model
            total = _rows_dot(model, weights)
            model_norm2 = _rows_dot(model * model, weights)
            model_norm2 -= total * total / self.total_weight
            denominator = self.norm * np.sqrt(np.maximum(model_norm2, 0.0))
            dot = _rows_dot(model, weighted)
            out[part] = np.where(denominator > 0, dot / np.maximum(denominator, 1e-300), 0.0)
        return out

    def score_and_gradient(self, mean: float, a: float, b: float, phase: float
                           ) -> tuple[float, np.ndarray]:
        chi = self.chi(mean, a, b, phase)
        model = np.sin(chi) ** 2
        model_norm2, weighted_model = self._model_norm2(model)
        if model_norm2 <= 0 or self.norm <= 0:
            return 0.0, np.zeros(4)
        dot = _dot(self.weighted, model)
        model_norm = math.sqrt(model_norm2)
        score = dot / (self.norm * model_norm)
        dmodel = np.sin(2.0 * chi)  # d sin²chi / d chi
        gradient = np.empty(4)
        for i, dchi in enumerate((self.pi_lambda_s2, self.pi_lambda_s2 * self.cos2,
                                  self.pi_lambda_s2 * self.sin2, None)):
            derivative = dmodel if dchi is None else dmodel * dchi
            d_dot = _dot(self.weighted, derivative)
            d_norm2 = _dot(weighted_model, derivative)
            gradient[i] = (d_dot * model_norm2 - dot * d_norm2) / (self.norm * model_norm ** 3)
        return score, gradient


def estimate_ctf(image: np.ndarray, params: SearchParameters) -> Estimate:
    """Fit the CTF of a micrograph (a 2D array) within the search ranges of ``params``."""
    params.check()
    spectrum = np.sqrt(power_spectrum(image, params.box))
    return estimate_from_spectrum(spectrum, params)


#: A fit in the linear parametrisation: (mean defocus, a, b, phase shift), Å and rad.
Solution = tuple[float, float, float, float]


def estimate_from_spectrum(amplitude: np.ndarray, params: SearchParameters) -> Estimate:
    """Fit the CTF of an amplitude spectrum (``rfft2`` half-plane layout, ``params.box``).

    A first fit works on the spectrum divided by the background of its rotational
    average; the background and the weights are then taken again along the rings of
    that fit (which the rotational average of an astigmatic spectrum blurs) and the
    fit refined once more.
    """
    grid = _grid(params.box, params.pixel_size_a)
    rotational, counts = radial_average(amplitude, grid.bins, grid.frequencies.size,
                                        weights=~grid.excluded)
    rotational = fill_gaps(rotational)
    mean_defocus, phase = _initial_search(rotational, counts, grid, params)
    isotropic = (mean_defocus, 0.0, 0.0, phase)
    normalised, weights = _normalise(amplitude, grid, isotropic, params)
    start = _astigmatism_search(normalised, weights, grid, isotropic, params)
    first = _refine_2d(_band(normalised, weights, grid, params), start, params)
    normalised, weights = _normalise(amplitude, grid, first, params)
    band = _band(normalised, weights, grid, params)
    solution = _refine_2d(band, first, params)
    fit = _as_fit(solution, band.score(*solution), params)
    return _with_profile(normalised, fit, params)


def _initial_search(rotational: np.ndarray, counts: np.ndarray, grid: _Grid,
                    params: SearchParameters) -> tuple[float, float]:
    """Mean defocus (and phase) from the rotational average, flattened over about
    one ring of the least defocused candidate."""
    s2_1d = grid.frequencies ** 2
    band = ((grid.frequencies >= 1.0 / params.resmin_a)
            & (grid.frequencies <= 1.0 / params.resmax_a))
    band_s2 = s2_1d[band]
    wavelength = electron_wavelength_a(params.kv)
    window = 1.0 / (wavelength * max(params.defocus_min_a, 0.25 * params.defocus_max_a, 1.0))
    window = min(window, 0.25 * float(band_s2[-1] - band_s2[0]))
    flattened = _flatten_1d(rotational, s2_1d, window)
    return _search_1d(flattened[band], band_s2, counts[band], params)


def _astigmatism_search(normalised: np.ndarray, weights: np.ndarray, grid: _Grid,
                        isotropic: Solution, params: SearchParameters) -> Solution:
    """Coarse grid and a first refinement at lower resolution, where the rings are
    wide enough for the grid not to miss them."""
    chi_1d = _chi(grid.frequencies ** 2, isotropic[0], isotropic[3], params)
    top = _low_band_limit(grid.frequencies, chi_1d, params)
    low_band = _band(normalised, weights, grid, params, top_frequency=top)
    start = _coarse_2d(low_band.subset(_COARSE_PIXELS), isotropic[0], isotropic[3], params)
    return _refine_2d(low_band, start, params)


def _band(normalised: np.ndarray, weights: np.ndarray, grid: _Grid,
          params: SearchParameters, top_frequency: float | None = None) -> _Band:
    """The fitted pixels: from the minimum resolution to ``top_frequency`` (default the
    maximum resolution), axes left out."""
    top = 1.0 / params.resmax_a if top_frequency is None else top_frequency
    mask = ((grid.s2 >= 1.0 / params.resmin_a ** 2) & (grid.s2 <= top ** 2)
            & ~grid.excluded)
    return _Band(normalised, grid, mask, params, weights[mask])


def _normalise(amplitude: np.ndarray, grid: _Grid, solution: Solution,
               params: SearchParameters) -> tuple[np.ndarray, np.ndarray]:
    """The spectrum over its local mean, minus 1, and each pixel's correlation weight.

    The local mean is taken along the rings of ``solution`` (equiphase bins), so the
    rings of an astigmatic spectrum are not blurred into it.  Weights taper to zero
    over a ring at both ends of the band (:func:`_band_weights`).
    """
    mean, a, b, phase = solution
    bins = _equiphase_bins(grid, mean, a, b)
    n_bins = grid.frequencies.size
    keep = (bins < n_bins) & ~grid.excluded
    profile, counts = radial_average(amplitude, np.where(keep, bins, n_bins), n_bins + 1)
    chi_1d = _chi(grid.frequencies ** 2, mean, phase, params)
    first_bin = int(np.searchsorted(grid.frequencies, 0.75 / params.resmin_a))
    local_mean = _background(fill_gaps(profile[:n_bins]), chi_1d, counts[:n_bins], first_bin)
    normalised = amplitude / local_mean[np.minimum(bins, n_bins - 1)] - 1.0
    return normalised, _band_weights(grid.s2, mean, phase, params)


def equiphase_bins(radius: np.ndarray, angle: np.ndarray, mean: float, a: float, b: float
                   ) -> np.ndarray:
    """The ring bin each pixel would fall in with the mean defocus (astigmatism undone)."""
    return _stretched_bins(radius, np.cos(2.0 * angle), np.sin(2.0 * angle), mean, a, b)


def _equiphase_bins(grid: _Grid, mean: float, a: float, b: float) -> np.ndarray:
    return _stretched_bins(grid.radius, grid.cos2, grid.sin2, mean, a, b)


def _stretched_bins(radius: np.ndarray, cos2: np.ndarray, sin2: np.ndarray, mean: float,
                    a: float, b: float) -> np.ndarray:
    local = mean + a * cos2 + b * sin2
    stretch = np.sqrt(np.clip(local / max(mean, 1e-6), 0.0, None))
    return np.rint(radius * stretch).astype(np.intp)


def _as_fit(solution: Solution, score: float, params: SearchParameters) -> CtfFit:
    mean, a, b, phase = solution
    half_difference = math.hypot(a, b)
    azimuth = 0.5 * math.degrees(math.atan2(b, a))
    defocus_1, defocus_2, azimuth = normalize_convention(mean + half_difference,
                                                         mean - half_difference, azimuth)
    return CtfFit(defocus_1_a=defocus_1, defocus_2_a=defocus_2, azimuth_deg=azimuth,
                  phase_shift_rad=phase if params.find_phase_shift else 0.0,
                  cross_correlation=score, fit_resolution_a=0.0)


def _as_solution(fit: CtfFit) -> Solution:
    mean = 0.5 * (fit.defocus_1_a + fit.defocus_2_a)
    half_difference = 0.5 * (fit.defocus_1_a - fit.defocus_2_a)
    twice = math.radians(2.0 * fit.azimuth_deg)
    return (mean, half_difference * math.cos(twice), half_difference * math.sin(twice),
            fit.phase_shift_rad)


def evaluate_fit(amplitude: np.ndarray, fit: CtfFit, params: SearchParameters) -> Estimate:
    """Judge any engine's fit on our own spectrum (classic ctfdisplay's role).

    The background is taken along the rings of the given fit; the profile and
    scores then say how well that fit matches the micrograph.  The fit's own values
    are kept, except a missing fit resolution, which is measured.
    """
    grid = _grid(params.box, params.pixel_size_a)
    normalised, _ = _normalise(amplitude, grid, _as_solution(fit), params)
    return _with_profile(normalised, fit, params, keep_resolution=True)


def _with_profile(normalised: np.ndarray, fit: CtfFit, params: SearchParameters, *,
                  keep_resolution: bool = False) -> Estimate:
    grid = _grid(params.box, params.pixel_size_a)
    mean, a, b, phase = _as_solution(fit)
    profile = equiphase_profile(normalised, grid.radius, grid.angle, grid.excluded, mean, a, b,
                                phase, params)
    if not (keep_resolution and fit.fit_resolution_a > 0):
        fit = replace(fit, fit_resolution_a=fit_resolution_a(profile, params))
    return Estimate(fit=fit, spectrum=normalised.astype(np.float32), profile=profile,
                    parameters=params)


def _low_band_limit(frequencies: np.ndarray, chi_1d: np.ndarray,
                    params: SearchParameters) -> float:
    """Upper frequency (1/Å) of the band the coarse 2D grid works on.

    Half the maximum resolution keeps the rings wide enough for the grid not to
    miss them; but the band must hold :data:`LOW_BAND_RINGS` rings of the 1D fit,
    or astigmatism and mean defocus are free to wander over a band with no zero
    in it (a low defocus on a small micrograph).  Never beyond the maximum resolution.
    """
    top = 1.0 / params.resmax_a
    limit = 1.0 / min(2.0 * params.resmax_a, 0.5 * (params.resmin_a + params.resmax_a))
    start = min(int(np.searchsorted(frequencies, 1.0 / params.resmin_a)), chi_1d.size - 1)
    monotonic = np.maximum.accumulate(chi_1d)
    reach = int(np.searchsorted(monotonic, monotonic[start] + LOW_BAND_RINGS * math.pi))
    limit = max(limit, float(frequencies[reach]) if reach < frequencies.size else top)
    return min(limit, top)


def _axis_mask(box: int) -> np.ndarray:
    """The ``kx = 0`` and ``ky = 0`` lines, where the micrograph's edges leak power; left
    out of fits."""
    mask = np.zeros((box, box // 2 + 1), dtype=bool)
    mask[0, :] = True
    mask[:, 0] = True
    return mask


def _chi(s2: np.ndarray, defocus: float | np.ndarray, phase: float,
         params: SearchParameters) -> np.ndarray:
    return ctf_model.chi(s2, defocus, params.kv, params.cs_mm, params.amplitude_contrast,
                         phase)


def _flatten_1d(profile: np.ndarray, coordinate: np.ndarray, window: float) -> np.ndarray:
    background = smooth_along(profile, coordinate, window)
    residual = profile - background
    rms = np.sqrt(np.maximum(smooth_along(residual ** 2, coordinate, window), 1e-30))
    return residual / rms


def _background(profile: np.ndarray, chi_1d: np.ndarray, counts: np.ndarray,
                first_bin: int) -> np.ndarray:
    """The local mean of a 1D profile of the spectrum: what its rings oscillate about.

    Dividing the spectrum by it weights each pixel by its inverse noise level (the
    amplitude noise of a spectrum is proportional to its mean), so noise-only high
    frequencies cannot swamp the rings.  From ``first_bin`` on it is ``B + A/2`` of
    :func:`ring_background`, which knows where the rings are; below, and where that
    fails, the profile smoothed over two periods of sin²(chi).
    """
    smooth = np.maximum(smooth_along(profile, strictly_increasing(chi_1d), 2.0 * math.pi),
                        1e-30)
    weights = np.where(np.arange(profile.size) >= first_bin, counts / smooth ** 2, 0.0)
    weights[-1] = 0.0  # the last bin also holds the corners beyond Nyquist
    if np.count_nonzero(weights) < 8:
        return smooth
    base, amplitude = ring_background(profile, weights, chi_1d)
    local_mean = base + 0.5 * amplitude
    return np.where(np.isfinite(local_mean) & (local_mean > 0), local_mean, smooth)


def _band_weights(s2: np.ndarray, mean_defocus: float, phase: float,
                  params: SearchParameters) -> np.ndarray:
    """Correlation weights of band pixels: 1 inside, tapered over one ring at each edge."""
    s2_limits = np.array([1.0 / params.resmin_a ** 2, 1.0 / params.resmax_a ** 2])
    low, high = _chi(s2_limits, mean_defocus, phase, params)
    chi = _chi(s2, mean_defocus, phase, params)
    width = min(math.pi, 0.25 * max(float(high - low), 0.0))
    return edge_taper(chi, float(low), float(high), width)


def _phase_candidates(params: SearchParameters) -> np.ndarray:
    if not params.find_phase_shift:
        return np.zeros(1)
    step = max(params.phase_step_rad, 1e-3)
    count = int(math.floor((params.phase_max_rad - params.phase_min_rad) / step + 1e-9)) + 1
    return params.phase_min_rad + step * np.arange(max(count, 1))


def _search_1d(profile: np.ndarray, s2: np.ndarray, counts: np.ndarray,
               params: SearchParameters) -> tuple[float, float]:
    """Exhaustive search of mean defocus (and phase) on the flattened rotational average."""
    wavelength = electron_wavelength_a(params.kv)
    # Fine enough that chi moves by at most π/8 at the band edge between candidates.
    fine = 1.0 / (8.0 * wavelength * float(s2[-1]))
    step = min(params.defocus_step_a, fine) if params.defocus_step_a > 0 else fine
    defoci = np.arange(params.defocus_min_a, params.defocus_max_a + 0.5 * step, step)
    weights = counts / counts.sum()
    centred = profile - _dot(weights, profile)
    best = (-np.inf, float(defoci[0]), 0.0)
    for phase in _phase_candidates(params):
        chi = _chi(s2[None, :], defoci[:, None], float(phase), params)
        models = np.sin(chi) ** 2
        models -= _rows_dot(models, weights)[:, None]
        numerator = _rows_dot(models, weights * centred)
        denominator = np.sqrt(_rows_dot(models ** 2, weights) * _dot(weights, centred ** 2))
        scores = numerator / np.maximum(denominator, 1e-30)
        index = int(np.argmax(scores))
        if scores[index] > best[0]:
            best = (float(scores[index]), float(defoci[index]), float(phase))
    return best[1], best[2]


def half_difference_limit(mean: float, params: SearchParameters) -> float:
    """The largest half astigmatism (Å) that keeps both defoci inside the search range.

    Classic ``ctffind4.py`` tells CTFFIND where the defocus lies (``bestdef ∓
    defstep·numstep``); a fit may not leave that range through astigmatism either,
    or a noisy spectrum "fits" with one defocus negative and the other far out.
    """
    return max(0.0, min(mean - params.defocus_min_a, params.defocus_max_a - mean))


def _ring_width(band: _Band, params: SearchParameters) -> float:
    """Defocus change (Å) that moves the outermost fitted ring by π."""
    return 1.0 / (electron_wavelength_a(params.kv) * float(band.s2.max()))


def _coarse_2d(band: _Band, mean_defocus: float, phase: float,
               params: SearchParameters) -> Solution:
    """Grid over astigmatism and nearby mean defocus; the best candidate.

    The astigmatism ``(a, b)`` runs over a square grid inside a disc, so no
    direction is sampled more coarsely than another: first half a ring apart, then
    a quarter (an eighth when exhaustive) around the best few.  Only candidates with
    both defoci inside the search range are tried.
    """
    ring = _ring_width(band, params)
    limit = max(params.expected_astigmatism_a, 0.1 * mean_defocus, 500.0)
    if params.exhaustive:
        limit *= 2.0
    means, a, b = _coarse_candidates(mean_defocus, limit, ring / 2.0, ring / 4.0, params)
    if means.size == 0:
        return mean_defocus, 0.0, 0.0, phase
    scores = band.scores(means, a, b, phase)
    fine = ring / (8.0 if params.exhaustive else 4.0)
    best = np.argsort(scores)[::-1][:_COARSE_KEEP]
    local_a, local_b = astigmatism_grid(ring / 2.0, fine)
    offsets = fine * np.arange(-1, 2)
    means_f = (means[best, None, None] + offsets[None, :, None]
               + 0.0 * local_a[None, None, :]).ravel()
    a_f = (a[best, None, None] + 0.0 * offsets[None, :, None] + local_a[None, None, :]).ravel()
    b_f = (b[best, None, None] + 0.0 * offsets[None, :, None] + local_b[None, None, :]).ravel()
    inside = _inside_range(means_f, a_f, b_f, params)
    means = np.concatenate([means[best], means_f[inside]])
    a, b = np.concatenate([a[best], a_f[inside]]), np.concatenate([b[best], b_f[inside]])
    top = int(np.argmax(band.scores(means, a, b, phase)))
    return float(means[top]), float(a[top]), float(b[top]), phase


def _coarse_candidates(mean_defocus: float, limit: float, step: float, mean_step: float,
                       params: SearchParameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean defocus within ±2 ``mean_step`` and astigmatism within ``limit`` on a grid."""
    means, a, b = [], [], []
    for offset in mean_step * np.arange(-2, 3):
        mean = mean_defocus + offset
        if not params.defocus_min_a <= mean <= params.defocus_max_a:
            continue
        grid_a, grid_b = astigmatism_grid(min(limit, half_difference_limit(mean, params)), step)
        means.append(np.full(grid_a.size, mean))
        a.append(grid_a)
        b.append(grid_b)
    if not means:
        return np.empty(0), np.empty(0), np.empty(0)
    return np.concatenate(means), np.concatenate(a), np.concatenate(b)


def _inside_range(mean: np.ndarray, a: np.ndarray, b: np.ndarray, params: SearchParameters
                  ) -> np.ndarray:
    """Whether both defoci of each candidate lie inside the search range."""
    half = np.hypot(a, b)
    return (mean - half >= params.defocus_min_a) & (mean + half <= params.defocus_max_a)


def astigmatism_grid(radius: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(a, b)`` of a square grid of ``step`` inside a disc of ``radius`` (with 0)."""
    count = int(radius / step) if step > 0 else 0
    axis = step * np.arange(-count, count + 1)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    inside = a * a + b * b <= radius * radius + 1e-9
    return a[inside], b[inside]


def _range_excess(mean: float, a: float, b: float, params: SearchParameters
                  ) -> tuple[float, np.ndarray]:
    """How far (Å) the larger or smaller defocus lies outside the range, and its gradient."""
    half = math.hypot(a, b)
    below, above = mean - params.defocus_min_a, params.defocus_max_a - mean
    excess = half - min(below, above)
    if excess <= 0.0:
        return 0.0, np.zeros(3)
    d_half = (a / half, b / half) if half > 0 else (0.0, 0.0)
    return excess, np.array([-1.0 if below <= above else 1.0, *d_half])


def clamp_to_range(mean: float, a: float, b: float, params: SearchParameters
                   ) -> tuple[float, float, float]:
    """``(mean, a, b)`` moved the least way that puts both defoci inside the range."""
    mean = min(max(mean, params.defocus_min_a), params.defocus_max_a)
    half, limit = math.hypot(a, b), half_difference_limit(mean, params)
    if half > limit:
        scale = limit / half
        a, b = a * scale, b * scale
    return mean, a, b


def _refine_2d(band: _Band, start: tuple[float, float, float, float],
               params: SearchParameters) -> tuple[float, float, float, float]:
    """Bounded truncated Newton (TNC) on (mean, a, b[, phase]) with the analytic
    gradient of the correlation.

    Leaving the search range costs a quadratic penalty that reaches a whole unit of
    correlation an eighth of a ring outside it; the result is then clamped inside.
    (SciPy's L-BFGS-B finds the same optimum but calls threaded BLAS on tiny
    matrices: without OMP_NUM_THREADS=1 its threads spin and each call costs
    milliseconds.)
    """
    scale = np.array([100.0, 100.0, 100.0, 1.0])
    free = 4 if params.find_phase_shift else 3
    fixed_phase = start[3]
    softness = _ring_width(band, params) / 8.0

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        values = x * scale[:free]
        mean, a, b = float(values[0]), float(values[1]), float(values[2])
        phase = float(values[3]) if free == 4 else fixed_phase
        score, gradient = band.score_and_gradient(mean, a, b, phase)
        excess, d_excess = _range_excess(mean, a, b, params)
        penalty = (excess / softness) ** 2
        gradient[:3] -= 2.0 * excess / softness ** 2 * d_excess
        return penalty - score, -(gradient[:free] * scale[:free])

    bounds = [(params.defocus_min_a / 100.0, params.defocus_max_a / 100.0),
              (None, None), (None, None)]
    if free == 4:
        bounds.append((params.phase_min_rad, params.phase_max_rad))
    mean, a, b = clamp_to_range(*start[:3], params)
    x0 = np.array([mean, a, b, start[3]][:free]) / scale[:free]
    result = minimize(objective, x0, jac=True, method="TNC", bounds=bounds,
                      options={"maxfun": 400, "ftol": 1e-12, "xtol": 1e-6, "gtol": 1e-9,
                               "scale": np.ones(free), "offset": np.zeros(free)})
    values = result.x * scale[:free]
    phase = float(values[3]) if free == 4 else fixed_phase
    mean, a, b = clamp_to_range(float(values[0]), float(values[1]), float(values[2]), params)
    return mean, a, b, phase


def equiphase_profile(normalised: np.ndarray, radius: np.ndarray, angle: np.ndarray,
                      axes: np.ndarray, mean: float, a: float, b: float, phase: float,
                      params: SearchParameters) -> Profile1D:
    """Average the spectrum along rings of equal CTF phase (astigmatism undone).

    Each pixel moves to the radius it would have with the mean defocus, so the
    rings line up before averaging (CTFFIND's ``_avrot`` "equiphase average").
    """
    box = params.box
    bins = equiphase_bins(radius, angle, mean, a, b)
    n_bins = box // 2 + 1
    keep = (bins < n_bins) & ~axes
    observed, counts = radial_average(normalised, np.where(keep, bins, n_bins), n_bins + 1)
    observed, counts = fill_gaps(observed[:n_bins]), counts[:n_bins]
    frequencies = np.arange(n_bins) / (box * params.pixel_size_a)
    chi_1d = _chi(frequencies ** 2, mean, phase, params)
    model = np.sin(chi_1d) ** 2
    goodness = _local_correlation(observed, model, chi_1d)
    return Profile1D(spatial_frequency=frequencies, observed=observed, model=model,
                     goodness=goodness, counts=counts, chi=chi_1d)


def _local_correlation(observed: np.ndarray, model: np.ndarray, chi_1d: np.ndarray
                       ) -> np.ndarray:
    """Correlation of observed and model over a window of ±π of chi (two rings)."""
    goodness = np.zeros_like(observed)
    monotonic = np.maximum.accumulate(chi_1d)
    starts = np.searchsorted(monotonic, monotonic - math.pi, side="left")
    ends = np.searchsorted(monotonic, monotonic + math.pi, side="right")
    for i in range(observed.size):
        lo, hi = starts[i], max(ends[i], starts[i] + 5)
        if hi - lo >= 5 and hi <= observed.size:
            goodness[i] = pearson(observed[lo:hi], model[lo:hi])
    return goodness


#: CTFFIND's thresholds on the fit's ring correlation (cisTEM ``ctffind.cpp``): the rings
#: count as fitted until the correlation falls below :data:`FIT_LOW` once it was above it
#: for more than three bins, or below :data:`FIT_SIGNIFICANT` once it was above
#: :data:`FIT_HIGH` for more than three bins.
FIT_LOW, FIT_SIGNIFICANT, FIT_HIGH = 0.1, 0.5, 0.66


def fit_resolution_a(profile: Profile1D, params: SearchParameters) -> float:
    """Spacing (Å) up to which the Thon rings are fitted, by CTFFIND's rule.

    The ring correlation is :func:`fit_ring_correlation`; the scan starts a tenth of
    the way out (and at the low-resolution limit at the earliest) and stops as
    described at :data:`FIT_LOW`; Nyquist when it never stops, the low-resolution
    limit when the fit is nowhere significant.
    """
    frequencies = profile.spatial_frequency
    first_fit = int(np.searchsorted(frequencies, 1.0 / params.resmin_a))
    frc = fit_ring_correlation(profile.observed, profile.model, profile.chi, first_fit)
    first_checked = int(0.1 * frc.size)
    above_low = above_significant = above_high = 0
    last = None
    for index in range(first_checked, frc.size):
        value = frc[index]
        if (above_low > 3 and value < FIT_LOW) or (above_high > 3 and value < FIT_SIGNIFICANT):
            last = index
            break
        above_low += value > FIT_LOW
        above_significant += value > FIT_SIGNIFICANT
        above_high += value > FIT_HIGH
    if last is None or above_significant == frc.size - first_checked:
        last = frc.size - 1
    if above_significant == 0 or last <= first_fit:
        return params.resmin_a
    return 1.0 / float(frequencies[last])


def fit_ring_correlation(observed: np.ndarray, model: np.ndarray, chi: np.ndarray,
                         first_fit: int) -> np.ndarray:
    """Correlation of the equiphase average and the fit around each bin, as CTFFIND
    computes it (``ComputeFRCBetween1DSpectrumAndFit``).

    The window's half-width is the distance between the model's extrema around the
    bin times 1 + 0.1 per extremum passed (wider further out), at least 1/40 of the
    bins and at most half of them; a window is shifted inwards at either end.  Bins
    below ``first_fit`` get 1.
    """
    count = observed.size
    minimum = max(1, count // 40)
    extrema = np.floor(np.maximum.accumulate(np.maximum(chi, 0.0)) / (math.pi / 2))
    half_width = np.full(count, minimum, dtype=int)
    changes = np.flatnonzero(np.diff(extrema) != 0) + 1
    previous = 0
    for at in changes:
        width = max(minimum, int((1.0 + 0.1 * extrema[at]) * (at - previous + 1)))
        half_width[previous:at] = min(width, count // 2 - 1)
        previous = int(at)
    if previous > 0:
        half_width[previous:] = half_width[previous - 1]
    frc = np.ones(count)
    for index in range(first_fit, count):
        width = int(half_width[index])
        lo, hi = index - width, index + width
        if lo < first_fit:
            lo, hi = first_fit, first_fit + 2 * width + 1
        if hi >= count:
            hi, lo = count - 1, count - 2 * width - 2
        lo = max(lo, 0)
        frc[index] = pearson(observed[lo:hi + 1], model[lo:hi + 1])
    return frc
