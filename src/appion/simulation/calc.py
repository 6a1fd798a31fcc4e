"""Pure maths of the simulator: specimen, CTF, motion, gain and defects.

Nothing here touches files or databases; every random draw takes an explicit
:class:`numpy.random.Generator` or seed, so the same seed gives the same session.

Coordinates
    Arrays are ``[y, x]`` (rows, columns).  ``x`` runs along columns (the fast
    axis), ``y`` along rows, both in pixels of the array in question.

CTF convention (CTFFIND4, Rohou & Grigorieff 2015)
    The formula is :mod:`appion.ctfestimation.calc.internal.ctf_model`'s, the one
    the built-in estimator fits; here it only gains a B-factor envelope.
    ``defocus_1_a`` is the underfocus along the direction at
    ``astigmatism_azimuth_deg`` from the x axis, counter-clockwise when y points up
    (MRC display; in array terms the angle turns from +x towards +y);
    ``defocus_2_a`` is the underfocus along the perpendicular; ``defocus_1_a >=
    defocus_2_a``; positive means underfocus; Å.  With spatial frequency ``g``
    (1/Å) at angle ``α``::

        Δf(α) = ½ [Δf1 + Δf2 + (Δf1 − Δf2) cos 2(α − α_ast)]
        χ(g)  = π λ g² Δf(α) − ½ π Cs λ³ g⁴ + arcsin(w)
        CTF   = −sin χ · exp(−B g² / 4)

    which equals CTFFIND4's ``−√(1−w²) sin χ₀ − w cos χ₀`` for amplitude contrast
    ``w``.  The image is ``1 + c · (CTF ⊛ specimen)``: a weak phase object whose
    zero-mean contrast ``c`` is scaled to ``contrast`` (its standard deviation).

Motion convention
    ``shifts[f] = (x, y)`` is the displacement of frame ``f``'s content relative to
    frame 0, in file pixels: a feature at ``p`` in frame 0 is at ``p + d_f(p)`` in
    frame ``f``, with ``d_f(p) = shifts[f] + local(p, f)``.  Frame 0 has no
    displacement.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from scipy import ndimage

from appion.ctfestimation.calc.internal import ctf_model
from appion.simulation import particles
from appion.simulation.poisson import poisson

#: Threads per FFT (the simulator runs beside other work; two is the sweet spot).
FFT_WORKERS = min(2, os.cpu_count() or 1)

#: The terms of the local deformation polynomial, in normalised coordinates
#: ``u = 2x/(nx−1) − 1``, ``v = 2y/(ny−1) − 1`` (both in [−1, 1]).
LOCAL_TERMS = ("u", "v", "u*v", "u^2", "v^2")


@dataclass(frozen=True)
class CtfParameters:
    """Microscope and defocus parameters of one exposure (CTFFIND4 convention)."""

    defocus_1_a: float
    defocus_2_a: float
    astigmatism_azimuth_deg: float
    kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.07
    bfactor_a2: float = 0.0

    def __post_init__(self) -> None:
        if self.defocus_1_a < self.defocus_2_a:
            raise ValueError("defocus_1_a must be >= defocus_2_a (CTFFIND4 convention)")
        if not 0.0 <= self.amplitude_contrast < 1.0:
            raise ValueError("amplitude_contrast must be in [0, 1)")

    def as_truth(self) -> dict[str, float]:
        return {"kv": self.kv, "cs_mm": self.cs_mm,
                "amplitude_contrast": self.amplitude_contrast,
                "defocus_1_a": self.defocus_1_a, "defocus_2_a": self.defocus_2_a,
                "astigmatism_azimuth_deg": self.astigmatism_azimuth_deg,
                "bfactor_a2": self.bfactor_a2}


def ctf_values(ctf: CtfParameters, ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
    """The CTF (with its B-factor envelope) at frequencies ``ky, kx`` (1/Å).

    :func:`ctf_model.chi` gives the phase; see :func:`ctf_model.frequency_grid`
    for the ``(ky, kx)`` grid.
    """
    g2 = ky * ky + kx * kx
    angle = np.arctan2(ky, kx)
    defocus = ctf_model.defocus_at_angle(ctf.defocus_1_a, ctf.defocus_2_a,
                                         ctf.astigmatism_azimuth_deg, angle)
    chi = ctf_model.chi(g2, defocus, ctf.kv, ctf.cs_mm, ctf.amplitude_contrast)
    return -np.sin(chi) * np.exp(-ctf.bfactor_a2 * g2 / 4.0)


def specimen(shape: tuple[int, int], rng: np.random.Generator, dtype=np.float64
             ) -> np.ndarray:
    """A random weak-phase specimen: white noise plus smooth blobs, zero mean, unit std.

    White noise gives Thon rings out to Nyquist; the blobs give the low-frequency
    texture that makes frame-to-frame registration robust.  ``float32`` halves the
    memory of a full-size canvas (and draws different numbers than ``float64``).
    """
    white = rng.standard_normal(shape, dtype=dtype)
    blobs = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=dtype), sigma=6.0,
                                    mode="wrap", output=dtype)
    blobs *= 1.0 / max(float(blobs.std()), 1e-12)
    blobs *= 1.5
    white += blobs
    del blobs
    white -= white.mean()
    white /= white.std()
    return white


#: Rows of the CTF evaluated at once (bounds the temporaries of a full-size canvas).
_CTF_ROWS = 512


def ctf_filter(image: np.ndarray, pixel_size_a: float, ctf: CtfParameters) -> np.ndarray:
    """``image`` convolved with the CTF (periodic boundary), in the image's precision."""
    ky, kx = ctf_model.frequency_grid(image.shape, pixel_size_a, half=True)
    spectrum = scipy.fft.rfft2(image, workers=FFT_WORKERS)
    for start in range(0, spectrum.shape[0], _CTF_ROWS):
        band = slice(start, start + _CTF_ROWS)
        spectrum[band] *= ctf_values(ctf, ky[band], kx)
    return scipy.fft.irfft2(spectrum, s=image.shape, workers=FFT_WORKERS, overwrite_x=True)


def ideal_intensity(shape: tuple[int, int], pixel_size_a: float, ctf: CtfParameters,
                    rng: np.random.Generator, contrast: float = 0.2, dtype=np.float64,
                    extra_phase: np.ndarray | None = None) -> np.ndarray:
    """Noiseless image intensity (mean 1, float32) of a random specimen seen through ``ctf``.

    ``dtype`` is the working precision (``float32`` for full-size canvases).
    ``extra_phase`` (``shape``, in units of the random texture's σ: particles and
    carbon, :func:`appion.simulation.particles.phase_map`) adds to the specimen
    before the CTF; the whole is then scaled to ``contrast``.
    """
    phase = specimen(shape, rng, dtype)
    if extra_phase is not None:
        phase += extra_phase.astype(phase.dtype, copy=False)
    filtered = ctf_filter(phase, pixel_size_a, ctf)
    filtered -= filtered.mean()
    filtered *= contrast / max(float(filtered.std()), 1e-12)
    filtered += 1.0
    return np.clip(filtered, 0.0, None, out=filtered).astype(np.float32, copy=False)


def make_micrograph(shape: tuple[int, int], pixel_size_a: float, ctf: CtfParameters,
                    seed: int = 0, dose: float | None = None, contrast: float = 0.2
                    ) -> np.ndarray:
    """One CTF-modulated micrograph with known parameters, for CTF tests.

    Without ``dose`` the image is noiseless (mean 1, float32); with ``dose`` in
    e/Å² it is Poisson counts at that dose (float32).
    """
    rng = np.random.default_rng(seed)
    image = ideal_intensity(shape, pixel_size_a, ctf, rng, contrast)
    if dose is None:
        return image
    return rng.poisson(image * (dose * pixel_size_a ** 2)).astype(np.float32)


def make_particle_micrograph(shape: tuple[int, int], pixel_size_a: float, ctf: CtfParameters,
                             settings: particles.ParticleSettings, seed: int = 0,
                             dose: float | None = None, contrast: float = 0.2
                             ) -> tuple[np.ndarray, particles.ParticleField]:
    """One CTF-modulated micrograph with known particles, for picking tests.

    As :func:`make_micrograph`, with the particles (and carbon film) of ``settings``
    in the specimen; returns the image and the :class:`~.particles.ParticleField`
    (centres in pixels of the image, ``x`` column, ``y`` row).
    """
    rng = np.random.default_rng(seed)
    layout_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    field = particles.random_field(shape, pixel_size_a, layout_rng, settings)
    extra = particles.phase_map(shape, field, settings, layout_rng)
    image = ideal_intensity(shape, pixel_size_a, ctf, rng, contrast, dtype=np.float32,
                            extra_phase=extra)
    if dose is not None:
        image = poisson(image * np.float32(dose * pixel_size_a ** 2), rng).astype(np.float32)
    return image, field


# --------------------------------------------------------------------------- orientation

def azimuth_after_orientation(azimuth_deg: float, rotate: int, flip: int) -> float:
    """The astigmatism azimuth after ``gain_to_frame_orientation(·, rotate, flip)``.

    ``np.rot90`` maps a direction ``(dx, dy)`` to ``(dy, −dx)`` (−90° in the
    array-angle sense), a flip upside down (1) negates ``dy``, left-right (2)
    negates ``dx``.  Returned in [0, 180).
    """
    angle = azimuth_deg - 90.0 * (rotate % 4)
    if flip == 1:
        angle = -angle
    elif flip == 2:
        angle = 180.0 - angle
    return angle % 180.0


def azimuth_before_orientation(azimuth_deg: float, rotate: int, flip: int) -> float:
    """The inverse of :func:`azimuth_after_orientation`."""
    angle = azimuth_deg
    if flip == 1:
        angle = -angle
    elif flip == 2:
        angle = 180.0 - angle
    return (angle + 90.0 * (rotate % 4)) % 180.0


# --------------------------------------------------------------------------- motion

@dataclass(frozen=True)
class LocalField:
    """A smooth local deformation: a polynomial in normalised coordinates times a time profile.

    ``local(x, y, f) = time[f] · Σ_k c_k · term_k(u, v)`` for each of x and y,
    with the terms of :data:`LOCAL_TERMS` and ``u, v`` spanning [−1, 1] over
    the frame (``shape`` = file frame shape).
    """

    shape: tuple[int, int]
    coefficients_x: tuple[float, ...]
    coefficients_y: tuple[float, ...]
    time: tuple[float, ...]
    terms: tuple[str, ...] = field(default=LOCAL_TERMS)

    def as_truth(self) -> dict:
        return {"model": "polynomial", "terms": list(self.terms),
                "coordinates": "u = 2*x/(nx-1) - 1, v = 2*y/(ny-1) - 1; x, y in file pixels",
                "formula": "local_x = time[f] * sum(coefficients_x[k] * term_k(u, v)), "
                           "same for y",
                "shape": list(self.shape), "coefficients_x": list(self.coefficients_x),
                "coefficients_y": list(self.coefficients_y), "time": list(self.time),
                "evaluate": "appion.simulation.calc.evaluate_local_field(local_field, x, y, "
                            "frame)"}

    @classmethod
    def from_truth(cls, data: dict) -> LocalField:
        return cls(tuple(data["shape"]), tuple(data["coefficients_x"]),
                   tuple(data["coefficients_y"]), tuple(data["time"]), tuple(data["terms"]))


def _local_terms(u: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    return [u, v, u * v, u * u, v * v]


def evaluate_local_field(local_field: LocalField | dict, x, y, frame: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Local displacement ``(dx, dy)`` in file pixels at positions ``x, y`` in ``frame``."""
    if isinstance(local_field, dict):
        local_field = LocalField.from_truth(local_field)
    ny, nx = local_field.shape
    u = 2.0 * np.asarray(x, dtype=np.float64) / max(nx - 1, 1) - 1.0
    v = 2.0 * np.asarray(y, dtype=np.float64) / max(ny - 1, 1) - 1.0
    terms = _local_terms(u, v)
    weight = local_field.time[frame]
    dx = weight * sum(c * t for c, t in zip(local_field.coefficients_x, terms))
    dy = weight * sum(c * t for c, t in zip(local_field.coefficients_y, terms))
    return np.asarray(dx), np.asarray(dy)


def time_profile(nframes: int, tau: float) -> np.ndarray:
    """Smooth saturating drift profile, 0 at frame 0 and 1 at the last frame."""
    t = np.arange(nframes, dtype=np.float64) / max(nframes - 1, 1)
    return (1.0 - np.exp(-t / tau)) / (1.0 - math.exp(-1.0 / tau))


def global_trajectory(nframes: int, rng: np.random.Generator, amplitude_px: float
                      ) -> np.ndarray:
    """Per-frame ``(x, y)`` shifts: a decaying drift along a random direction plus a bend.

    Frame 0 is 0; the total path length is about ``amplitude_px``.
    """
    direction = rng.uniform(0.0, 2.0 * math.pi)
    tau = rng.uniform(0.25, 0.6)
    bend = rng.uniform(-0.25, 0.25) * amplitude_px
    t = np.arange(nframes, dtype=np.float64) / max(nframes - 1, 1)
    along = amplitude_px * time_profile(nframes, tau)
    across = bend * t * t
    cos, sin = math.cos(direction), math.sin(direction)
    shifts = np.stack([along * cos - across * sin, along * sin + across * cos], axis=1)
    return shifts - shifts[0]


def random_local_field(shape: tuple[int, int], nframes: int, rng: np.random.Generator,
                       amplitude_px: float) -> LocalField:
    """A random smooth deformation reaching about ``amplitude_px`` at the corners."""
    scale = amplitude_px / len(LOCAL_TERMS)
    cx = tuple(float(c) for c in rng.uniform(-scale, scale, len(LOCAL_TERMS)))
    cy = tuple(float(c) for c in rng.uniform(-scale, scale, len(LOCAL_TERMS)))
    profile = time_profile(nframes, rng.uniform(0.3, 0.8))
    return LocalField((shape[0], shape[1]), cx, cy, tuple(float(t) for t in profile))


def displacement_bound(shifts: np.ndarray, local_field: LocalField) -> float:
    """An upper bound on ``|d_f(p)|`` over all frames and pixels (for the render margin)."""
    local = sum(abs(c) for c in (*local_field.coefficients_x, *local_field.coefficients_y))
    return float(np.abs(shifts).max(initial=0.0)) + local * max(local_field.time, default=0.0)


@dataclass(frozen=True)
class Canvas:
    """The ideal (frame-0) intensity on a padded periodic canvas, kept as its real FFT.

    Frame pixel ``(x, y)`` sits at canvas pixel ``(x + margin, y + margin)``; the
    canvas may extend further to the right and bottom (fast FFT lengths).
    """

    spectrum: np.ndarray             # rfft2 of the padded intensity, complex64
    padded_shape: tuple[int, int]
    margin: int
    shape: tuple[int, int]           # the frame shape


def make_canvas(ideal_padded: np.ndarray, margin: int,
                shape: tuple[int, int] | None = None) -> Canvas:
    """Keep the spectrum of a padded ideal image, so frames can be shifted in Fourier space.

    ``shape`` is the frame shape (default: the padded shape less ``margin`` on each side).
    """
    padded_shape = (int(ideal_padded.shape[0]), int(ideal_padded.shape[1]))
    if shape is None:
        shape = (padded_shape[0] - 2 * margin, padded_shape[1] - 2 * margin)
    spectrum = scipy.fft.rfft2(np.asarray(ideal_padded, dtype=np.float32),
                               workers=FFT_WORKERS)
    return Canvas(spectrum, padded_shape, margin, (shape[0], shape[1]))


def padded_canvas_shape(shape: tuple[int, int], margin: int) -> tuple[int, int]:
    """The smallest fast-FFT canvas holding ``shape`` plus ``margin`` on every side."""
    return (scipy.fft.next_fast_len(shape[0] + 2 * margin, real=True),
            scipy.fft.next_fast_len(shape[1] + 2 * margin, real=True))


def shifted_canvas(canvas: Canvas, shift: Sequence[float]) -> np.ndarray:
    """The whole canvas moved by ``shift = (x, y)`` pixels: a Fourier phase ramp, float32.

    Exact for the band-limited periodic canvas (one inverse FFT, no interpolation).
    """
    ny, nx = canvas.padded_shape
    ramp_y = np.exp(-2j * np.pi * float(shift[1]) * scipy.fft.fftfreq(ny))
    ramp_x = np.exp(-2j * np.pi * float(shift[0]) * scipy.fft.rfftfreq(nx))
    spectrum = np.multiply(canvas.spectrum, ramp_y.astype(np.complex64)[:, None])
    spectrum *= ramp_x.astype(np.complex64)[None, :]
    return scipy.fft.irfft2(spectrum, s=(ny, nx), workers=FFT_WORKERS, overwrite_x=True)


def _polynomial(coefficients: Sequence[float], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``Σ c_k term_k(u, v)`` for :data:`LOCAL_TERMS`, broadcast, in ``u``'s precision."""
    c0, c1, c2, c3, c4 = (np.float32(c) for c in coefficients)
    return (c0 + c2 * v + c3 * u) * u + (c1 + c4 * v) * v


def warp_local(shifted: np.ndarray, margin: int, local_field: LocalField, frame: int,
               rows: slice | None = None) -> np.ndarray:
    """Frame ``rows`` of a shifted canvas under the local field, float32.

    Output pixel ``p`` samples ``shifted`` at ``p + margin − local(p)``: first along
    y (with the field's x taken where the x pass will sample, so the two passes
    compose to the 2-D map to within 1e-6 px), then along x, each by linear
    interpolation between the two neighbours.  The integer part of the offset is
    constant along runs of a row, so each run is a few slice operations.
    """
    ny, nx = local_field.shape
    rows = rows or slice(0, ny)
    weight = float(local_field.time[frame])
    if weight == 0.0 or not any((*local_field.coefficients_x, *local_field.coefficients_y)):
        return shifted[margin + rows.start:margin + rows.stop, margin:margin + nx].copy()
    cx = [weight * c for c in local_field.coefficients_x]
    cy = [weight * c for c in local_field.coefficients_y]
    reach = int(math.ceil(sum(abs(c) for c in (*cx, *cy)))) + 2
    first = max(0, margin - reach)
    last = min(shifted.shape[1], margin + nx + reach)
    scale_x, scale_y = 2.0 / max(nx - 1, 1), 2.0 / max(ny - 1, 1)
    y = np.arange(rows.start, rows.stop)
    v = (y * scale_y - 1.0).astype(np.float32)[:, None]
    u = ((np.arange(first, last) - margin) * scale_x - 1.0).astype(np.float32)[None, :]
    dx = _polynomial(cx, u, v)                      # at the intermediate columns
    dy = _polynomial(cy, u + dx * np.float32(scale_x), v)
    columns = _resample_rows(shifted, y, np.float32(margin) - dy, first, last)
    x_from = margin - first
    offset = np.float32(x_from) - dx[:, x_from:x_from + nx]
    return _resample_columns(columns, offset)


def _runs(offsets: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """``(start, stop, value)`` of the runs of equal values in a 1-D integer array."""
    bounds = np.flatnonzero(offsets[1:] != offsets[:-1]) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), offsets.size]
    return ((a, b, int(offsets[a])) for a, b in zip(starts, stops))


def _lerp_into(out: np.ndarray, low: np.ndarray, high: np.ndarray, t: np.ndarray) -> None:
    """``out = low + t (high − low)`` without temporaries."""
    np.subtract(high, low, out=out)
    out *= t
    out += low


def _resample_rows(image: np.ndarray, rows: np.ndarray, offset: np.ndarray, first: int,
                   last: int) -> np.ndarray:
    """``out[i, j] = image(rows[i] + offset[i, j], first + j)``, linear along y."""
    whole = np.floor(offset)
    fraction = offset - whole
    whole = whole.astype(np.int32)
    out = np.empty(offset.shape, dtype=np.float32)
    for i, row in enumerate(rows.tolist()):
        for a, b, k in _runs(whole[i]):
            _lerp_into(out[i, a:b], image[row + k, first + a:first + b],
                       image[row + k + 1, first + a:first + b], fraction[i, a:b])
    return out


def _resample_columns(image: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``out[i, x] = image[i](x + offset[i, x])``, linear along x."""
    whole = np.floor(offset)
    fraction = offset - whole
    whole = whole.astype(np.int32)
    out = np.empty(offset.shape, dtype=np.float32)
    for i in range(offset.shape[0]):
        source = image[i]
        for a, b, k in _runs(whole[i]):
            _lerp_into(out[i, a:b], source[a + k:b + k], source[a + k + 1:b + k + 1],
                       fraction[i, a:b])
    return out


def render_frame(canvas: Canvas, shift: Sequence[float], local_field: LocalField, frame: int,
                 rows: slice | None = None, shifted: np.ndarray | None = None) -> np.ndarray:
    """Noiseless intensity of ``frame`` (or of a band of its ``rows``), float32.

    Frame ``f`` at ``p`` shows frame 0 at ``p − d_f(p)``: the canvas is moved by the
    global shift exactly (Fourier), then by the small smooth local field (linear
    interpolation, :func:`warp_local`, evaluated at ``p``).  Pass ``shifted``
    (:func:`shifted_canvas` for this shift) to render several bands from one FFT.
    """
    if shifted is None:
        shifted = shifted_canvas(canvas, shift)
    return warp_local(shifted, canvas.margin, local_field, frame, rows)


# --------------------------------------------------------------------------- camera

@dataclass(frozen=True)
class Defects:
    """Camera defects in Leginon orientation, as CorrectorPlanData lists them."""

    bad_rows: tuple[int, ...]
    bad_cols: tuple[int, ...]
    hot_pixels: tuple[tuple[int, int], ...]  # (x, y)

    def mask(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Boolean ``(dead, hot)`` masks of ``shape`` (Leginon orientation)."""
        dead = np.zeros(shape, dtype=bool)
        dead[list(self.bad_rows), :] = True
        dead[:, list(self.bad_cols)] = True
        hot = np.zeros(shape, dtype=bool)
        for x, y in self.hot_pixels:
            hot[y, x] = True
        return dead, hot


def random_defects(shape: tuple[int, int], rng: np.random.Generator, *, rows: int = 1,
                   cols: int = 2, hot: int = 4) -> Defects:
    """A few dead rows and (adjacent) columns and hot pixels, away from the edges."""
    ny, nx = shape
    first_col = int(rng.integers(nx // 8, nx - nx // 8 - cols))
    bad_cols = tuple(range(first_col, first_col + cols))
    bad_rows = tuple(sorted(int(r) for r in rng.choice(np.arange(ny // 8, ny - ny // 8),
                                                       rows, replace=False)))
    hot_pixels: list[tuple[int, int]] = []
    while len(hot_pixels) < hot:
        x, y = int(rng.integers(0, nx)), int(rng.integers(0, ny))
        if x not in bad_cols and y not in bad_rows and (x, y) not in hot_pixels:
            hot_pixels.append((x, y))
    return Defects(bad_rows, bad_cols, tuple(hot_pixels))


def random_gain(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A norm (gain) reference: per-pixel gain near 1 with a smooth vignette, float32.

    The camera's per-pixel sensitivity is ``1 / gain``, so multiplying raw counts by
    the gain flattens them (Leginon's norm convention).
    """
    ny, nx = shape
    y = np.linspace(-1.0, 1.0, ny)[:, None]
    x = np.linspace(-1.0, 1.0, nx)[None, :]
    vignette = 1.0 + 0.04 * (x * x + y * y)
    pixel = rng.normal(1.0, 0.04, shape)
    return np.clip(vignette * pixel, 0.7, 1.4).astype(np.float32)


def random_dark(shape: tuple[int, int], rng: np.random.Generator, per_frame_max: int
                ) -> np.ndarray:
    """Per-frame dark offsets (integers in ``[0, per_frame_max]``), uint16."""
    if per_frame_max <= 0:
        return np.zeros(shape, dtype=np.uint16)
    return rng.integers(0, per_frame_max + 1, shape, dtype=np.uint16)


def counts(expected: np.ndarray, rng: np.random.Generator, *, sensitivity: np.ndarray,
           dark: np.ndarray | None, dead: np.ndarray | None, hot: np.ndarray | None,
           hot_level: float, maximum: int, dtype: str) -> np.ndarray:
    """Raw counts of one frame: Poisson(expected × sensitivity) + dark, with defects.

    Hot pixels add Poisson(``hot_level``) counts, dead pixels read only the dark,
    and everything saturates at ``maximum``.
    """
    frame = poisson(np.multiply(expected, sensitivity, dtype=np.float32), rng)
    if np.iinfo(frame.dtype).max < maximum:
        frame = frame.astype(np.min_scalar_type(maximum))
    if hot is not None and hot.any():
        boosted = frame[hot].astype(np.int64) + rng.poisson(hot_level, int(hot.sum()))
        frame[hot] = np.minimum(boosted, maximum)
    if dead is not None:
        frame[dead] = 0
    if dark is not None:
        frame = frame + dark
    return np.minimum(frame, maximum).astype(dtype, copy=False)


# --------------------------------------------------------------------------- exposure

def sample_ctf(rng: np.random.Generator, defocus_um: tuple[float, float], *, kv: float,
               cs_mm: float, amplitude_contrast: float = 0.07, bfactor_a2: float = 40.0
               ) -> CtfParameters:
    """Random defocus in ``defocus_um`` (µm), astigmatism 100–800 Å, any azimuth."""
    low, high = sorted(defocus_um)
    mean = rng.uniform(low, high) * 1e4
    astigmatism = rng.uniform(100.0, 800.0)
    azimuth = rng.uniform(0.0, 180.0)
    return CtfParameters(mean + astigmatism / 2, mean - astigmatism / 2, round(azimuth, 3),
                         kv, cs_mm, amplitude_contrast, bfactor_a2)


def exposure_name(session: str, index: int, preset: str) -> str:
    """Leginon's target-tree name: ``<session>_00001gr_00012sq_v01_00002hl_00004enn``."""
    square = 12 + index // 12
    hole = 1 + (index // 4) % 3
    exposure = 1 + index % 4
    return f"{session}_00001gr_{square:05d}sq_v01_{hole:05d}hl_{exposure:05d}{preset}"


def leginon_sequence(values) -> str:
    """Leginon's text form of a sequence column: ``repr`` of a tuple or list."""
    return repr(tuple(values)) if not isinstance(values, list) else repr(values)
