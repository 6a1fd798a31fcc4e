"""The built-in CTF estimator: CTFFIND's method in NumPy/SciPy, no external binary.

1. Amplitude spectrum averaged over overlapping tiles of ``box`` pixels.
2. Background: the rotational average smoothed over whole CTF oscillations, then
   the envelope flattened by the local RMS, so every Thon ring counts alike.
3. Exhaustive 1D search of the mean defocus (and phase shift) on the rotational
   average, by Pearson correlation with ``sin²(chi)``.
4. Coarse 2D grid over astigmatism around it, then L-BFGS refinement of defocus 1,
   defocus 2 and azimuth (and phase shift) with an analytic gradient.  Astigmatism
   is parametrised linearly, ``Δf(θ) = m + a·cos2θ + b·sin2θ``, which has no angle
   wrap-around and a smooth score.
5. Score (cross correlation), fit resolution and the equiphase 1D profile used by
   the ctfdisplay-like scores, the diagnostic image and the 1D plot.

Everything here is pure: arrays in, frozen dataclasses out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from appion.ctfestimation.calc.internal.ctf_model import (amplitude_contrast_phase,
                                                          electron_wavelength_a)
from appion.ctfestimation.calc.internal.spectrum import (fill_gaps, half_plane_polar,
                                                         pearson, power_spectrum,
                                                         radial_average, smooth_along)

#: Pixels used by the coarse 2D grid (a strided subset of the fitted band).
_COARSE_PIXELS = 12000
#: Rings of the 1D fit the coarse 2D search band holds at least (when resmax allows).
LOW_BAND_RINGS = 4
#: Local correlation below which the Thon rings are no longer considered fitted.
FIT_THRESHOLD = 0.3


@dataclass(frozen=True)
class SearchParameters:
    """One CTF search, with CTFFIND's meaning for every field (Å, kV, mm, rad)."""

    pixel_size_a: float
    kv: float
    cs_mm: float
    amplitude_contrast: float = 0.07
    box: int = 512
    resmin_a: float = 30.0
    resmax_a: float = 5.0
    defocus_min_a: float = 5000.0
    defocus_max_a: float = 50000.0
    defocus_step_a: float = 100.0
    expected_astigmatism_a: float = 200.0
    find_phase_shift: bool = False
    phase_min_rad: float = 0.0
    phase_max_rad: float = math.pi
    phase_step_rad: float = 0.5
    exhaustive: bool = False

    def check(self) -> None:
        """Raise ``ValueError`` naming the first impossible value."""
        if self.pixel_size_a <= 0 or self.kv <= 0 or self.cs_mm < 0:
            raise ValueError("pixel size and voltage must be positive, Cs not negative")
        if not 0 < self.resmax_a < self.resmin_a:
            raise ValueError(f"resolution range {self.resmin_a}–{self.resmax_a} Å is empty")
        if self.resmax_a < 2 * self.pixel_size_a:
            raise ValueError(f"maximum resolution {self.resmax_a} Å is beyond Nyquist "
                             f"({2 * self.pixel_size_a:.3f} Å)")
        if not 0 <= self.defocus_min_a < self.defocus_max_a:
            raise ValueError(f"defocus range {self.defocus_min_a}–{self.defocus_max_a} Å "
                             "is empty")
        if self.box < 64 or self.box % 2:
            raise ValueError(f"spectrum box {self.box} must be even and at least 64")


@dataclass(frozen=True)
class CtfFit:
    """A fit in CTFFIND's convention: defocus_1 >= defocus_2, azimuth in (−90, 90]."""

    defocus_1_a: float
    defocus_2_a: float
    azimuth_deg: float
    phase_shift_rad: float
    cross_correlation: float
    fit_resolution_a: float


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


class _Band:
    """The pixels of the fitted band, flattened, with everything chi needs precomputed."""

    def __init__(self, normalised: np.ndarray, s2: np.ndarray, angle: np.ndarray,
                 mask: np.ndarray, params: SearchParameters):
        self.values = normalised[mask].astype(np.float64)
        self.values -= self.values.mean()
        self.norm = float(np.sqrt((self.values ** 2).sum()))
        self.s2 = s2[mask]
        self.cos2 = np.cos(2.0 * angle[mask])
        self.sin2 = np.sin(2.0 * angle[mask])
        wavelength = electron_wavelength_a(params.kv)
        self.pi_lambda_s2 = math.pi * wavelength * self.s2
        self.static = (-0.5 * math.pi * params.cs_mm * 1e7 * wavelength ** 3 * self.s2 ** 2
                       + amplitude_contrast_phase(params.amplitude_contrast))

    def subset(self, count: int) -> "_Band":
        stride = max(1, self.values.size // count)
        sub = object.__new__(_Band)
        for name in ("values", "s2", "cos2", "sin2", "pi_lambda_s2", "static"):
            setattr(sub, name, getattr(self, name)[::stride])
        sub.values = sub.values - sub.values.mean()
        sub.norm = float(np.sqrt((sub.values ** 2).sum()))
        return sub

    def chi(self, mean: float, a: float, b: float, phase: float) -> np.ndarray:
        return self.pi_lambda_s2 * (mean + a * self.cos2 + b * self.sin2) + self.static + phase

    def score(self, mean: float, a: float, b: float, phase: float) -> float:
        model = np.sin(self.chi(mean, a, b, phase)) ** 2
        model -= model.mean()
        denominator = self.norm * math.sqrt(float((model * model).sum()))
        return float(self.values @ model) / denominator if denominator > 0 else 0.0

    def score_and_gradient(self, mean: float, a: float, b: float, phase: float
                           ) -> tuple[float, np.ndarray]:
        chi = self.chi(mean, a, b, phase)
        model = np.sin(chi) ** 2
        model -= model.mean()
        model_norm2 = float((model * model).sum())
        if model_norm2 <= 0 or self.norm <= 0:
            return 0.0, np.zeros(4)
        dot = float(self.values @ model)
        model_norm = math.sqrt(model_norm2)
        score = dot / (self.norm * model_norm)
        dmodel = np.sin(2.0 * chi)  # d sin²chi / d chi
        gradient = np.empty(4)
        for i, dchi in enumerate((self.pi_lambda_s2, self.pi_lambda_s2 * self.cos2,
                                  self.pi_lambda_s2 * self.sin2, None)):
            derivative = dmodel if dchi is None else dmodel * dchi
            d_dot = float(self.values @ derivative)
            d_norm2 = float(model @ derivative)
            gradient[i] = (d_dot * model_norm2 - dot * d_norm2) / (self.norm * model_norm ** 3)
        return score, gradient


def estimate_ctf(image: np.ndarray, params: SearchParameters) -> Estimate:
    """Fit the CTF of a micrograph (a 2D array) within the search ranges of ``params``."""
    params.check()
    spectrum = np.sqrt(power_spectrum(image, params.box))
    return estimate_from_spectrum(spectrum, params)


def estimate_from_spectrum(amplitude: np.ndarray, params: SearchParameters) -> Estimate:
    """Fit the CTF of a tile-averaged amplitude spectrum (``rfft2`` half-plane layout)."""
    box = params.box
    radius, angle = half_plane_polar(box)
    frequency_step = 1.0 / (box * params.pixel_size_a)
    s2 = (radius * frequency_step) ** 2
    bins = np.minimum(np.rint(radius).astype(np.intp), box // 2)
    n_bins = box // 2 + 1
    frequencies = np.arange(n_bins) * frequency_step
    axes = _axis_mask(box)

    rotational, counts = radial_average(amplitude, bins, n_bins, weights=~axes)
    rotational = fill_gaps(rotational)
    band_1d = ((frequencies >= 1.0 / params.resmin_a) & (frequencies <= 1.0 / params.resmax_a))
    wavelength = electron_wavelength_a(params.kv)

    # Pass 1: background smoothed in s², over about one ring of the least defocused candidate.
    s2_1d = frequencies ** 2
    band_s2 = s2_1d[band_1d]
    window = 1.0 / (wavelength * max(params.defocus_min_a, 0.25 * params.defocus_max_a, 1.0))
    window = min(window, 0.25 * float(band_s2[-1] - band_s2[0]))
    flattened = _flatten_1d(rotational, s2_1d, window)
    mean_defocus, phase = _search_1d(flattened[band_1d], s2_1d[band_1d],
                                     counts[band_1d], params)

    # Pass 2: background smoothed over whole oscillations of the 1D estimate.
    chi_1d = _chi(s2_1d, mean_defocus, phase, params)
    background = _background(rotational, chi_1d)
    normalised = amplitude / background[bins] - 1.0

    # Coarse grid and a first refinement at lower resolution, where the rings are
    # wide enough for the grid not to miss them; then the whole band.
    low_band_limit = _low_band_limit(frequencies, chi_1d, params)
    low = ((s2 >= 1.0 / params.resmin_a ** 2) & (s2 <= low_band_limit ** 2) & ~axes)
    low_band = _Band(normalised, s2, angle, low, params)
    start = _coarse_2d(low_band.subset(_COARSE_PIXELS), mean_defocus, phase, params)
    start = _refine_2d(low_band, start, params)
    in_band = ((s2 >= 1.0 / params.resmin_a ** 2) & (s2 <= 1.0 / params.resmax_a ** 2)
               & ~axes)
    band = _Band(normalised, s2, angle, in_band, params)
    mean, a, b, phase = _refine_2d(band, start, params)

    half_difference = math.hypot(a, b)
    azimuth = 0.5 * math.degrees(math.atan2(b, a))
    defocus_1, defocus_2, azimuth = normalize_convention(mean + half_difference,
                                                         mean - half_difference, azimuth)
    fit = CtfFit(defocus_1_a=defocus_1, defocus_2_a=defocus_2, azimuth_deg=azimuth,
                 phase_shift_rad=phase if params.find_phase_shift else 0.0,
                 cross_correlation=band.score(mean, a, b, phase), fit_resolution_a=0.0)
    return _with_profile(normalised, fit, params)


def evaluate_fit(amplitude: np.ndarray, fit: CtfFit, params: SearchParameters) -> Estimate:
    """Judge any engine's fit on our own spectrum (classic ctfdisplay's role).

    The background is taken over whole oscillations of the given fit; the profile
    and scores then say how well that fit matches the micrograph.  The fit's own
    values are kept, except a missing fit resolution, which is measured.
    """
    box = params.box
    radius, _ = half_plane_polar(box)
    bins = np.minimum(np.rint(radius).astype(np.intp), box // 2)
    axes = _axis_mask(box)
    rotational, _ = radial_average(amplitude, bins, box // 2 + 1, weights=~axes)
    frequencies = np.arange(box // 2 + 1) / (box * params.pixel_size_a)
    mean = 0.5 * (fit.defocus_1_a + fit.defocus_2_a)
    chi_1d = _chi(frequencies ** 2, mean, fit.phase_shift_rad, params)
    normalised = amplitude / _background(fill_gaps(rotational), chi_1d)[bins] - 1.0
    return _with_profile(normalised, fit, params, keep_resolution=True)


def _with_profile(normalised: np.ndarray, fit: CtfFit, params: SearchParameters, *,
                  keep_resolution: bool = False) -> Estimate:
    radius, angle = half_plane_polar(params.box)
    mean = 0.5 * (fit.defocus_1_a + fit.defocus_2_a)
    half_difference = 0.5 * (fit.defocus_1_a - fit.defocus_2_a)
    twice = math.radians(2.0 * fit.azimuth_deg)
    a, b = half_difference * math.cos(twice), half_difference * math.sin(twice)
    profile = equiphase_profile(normalised, radius, angle, _axis_mask(params.box), mean, a, b,
                                fit.phase_shift_rad, params)
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
    """The ``kx = 0`` and ``ky = 0`` lines, where tile edges leak power; left out of fits."""
    mask = np.zeros((box, box // 2 + 1), dtype=bool)
    mask[0, :] = True
    mask[:, 0] = True
    return mask


def _chi(s2: np.ndarray, defocus: float | np.ndarray, phase: float,
         params: SearchParameters) -> np.ndarray:
    wavelength = electron_wavelength_a(params.kv)
    return (math.pi * wavelength * defocus * s2
            - 0.5 * math.pi * params.cs_mm * 1e7 * wavelength ** 3 * s2 * s2
            + amplitude_contrast_phase(params.amplitude_contrast) + phase)


def _flatten_1d(profile: np.ndarray, coordinate: np.ndarray, window: float) -> np.ndarray:
    background = smooth_along(profile, coordinate, window)
    residual = profile - background
    rms = np.sqrt(np.maximum(smooth_along(residual ** 2, coordinate, window), 1e-30))
    return residual / rms


def _background(rotational: np.ndarray, chi_1d: np.ndarray) -> np.ndarray:
    """The rotational average smoothed over two periods of sin²(chi) (2π of chi).

    Dividing the spectrum by it weights each pixel by its inverse noise level (the
    amplitude noise of a tile average is proportional to its mean), so noise-only
    high frequencies cannot swamp the rings.
    """
    monotonic = np.maximum.accumulate(chi_1d)
    monotonic = monotonic + np.arange(monotonic.size) * 1e-9  # strictly increasing
    background = smooth_along(rotational, monotonic, 2.0 * math.pi)
    return np.maximum(background, 1e-30)


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
    centred = profile - float(weights @ profile)
    best = (-np.inf, float(defoci[0]), 0.0)
    for phase in _phase_candidates(params):
        chi = _chi(s2[None, :], defoci[:, None], float(phase), params)
        models = np.sin(chi) ** 2
        models -= (models @ weights)[:, None]
        numerator = models @ (weights * centred)
        denominator = np.sqrt((models ** 2) @ weights * float(weights @ centred ** 2))
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
               params: SearchParameters) -> tuple[float, float, float, float]:
    """Grid over astigmatism (amount and angle) and nearby mean defocus, best start.

    Only candidates with both defoci inside the search range are tried.
    """
    ring = _ring_width(band, params)
    limit = max(params.expected_astigmatism_a, 0.1 * mean_defocus, 500.0)
    if params.exhaustive:
        limit *= 2.0
    amount_step = ring / (16.0 if params.exhaustive else 8.0)
    angles = np.radians(np.arange(0.0, 180.0, 10.0 if params.exhaustive else 15.0))
    offsets = ring * np.arange(-2, 3) / 4.0
    best = (band.score(mean_defocus, 0.0, 0.0, phase), mean_defocus, 0.0, 0.0)
    for offset in offsets:
        mean = mean_defocus + offset
        if not params.defocus_min_a <= mean <= params.defocus_max_a:
            continue
        top = min(limit, half_difference_limit(mean, params))
        for amount in amount_step * np.arange(0, int(top / amount_step) + 1):
            for theta in (angles if amount else (0.0,)):
                a, b = amount * math.cos(2 * theta), amount * math.sin(2 * theta)
                value = band.score(mean, a, b, phase)
                if value > best[0]:
                    best = (value, mean, a, b)
    return best[1], best[2], best[3], phase


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
    """L-BFGS on (mean, a, b[, phase]) with the analytic gradient of the correlation.

    Leaving the search range costs a quadratic penalty that reaches a whole unit of
    correlation an eighth of a ring outside it; the result is then clamped inside.
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
    result = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 200, "ftol": 1e-12, "gtol": 1e-9})
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
    local = mean + a * np.cos(2.0 * angle) + b * np.sin(2.0 * angle)
    stretch = np.sqrt(np.clip(local / max(mean, 1e-6), 0.0, None))
    bins = np.rint(radius * stretch).astype(np.intp)
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


def fit_resolution_a(profile: Profile1D, params: SearchParameters,
                     threshold: float = FIT_THRESHOLD) -> float:
    """Spacing (Å) up to which the rings are fitted: where the local correlation first drops.

    Scanning out from the low-resolution limit, the rings count as fitted until the
    local correlation stays below ``threshold``; Nyquist when it never does.
    """
    frequencies = profile.spatial_frequency
    start = int(np.searchsorted(frequencies, 1.0 / params.resmin_a))
    below = np.nonzero(profile.goodness[start:] < threshold)[0]
    if below.size == 0:
        return 1.0 / float(frequencies[-1])
    index = start + int(below[0])
    if index <= start:
        return params.resmin_a
    return 1.0 / float(frequencies[index - 1])
