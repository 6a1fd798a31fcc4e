"""Power spectra and the 1D profiles the CTF fit works on (pure NumPy/SciPy).

The spectrum is the periodogram of the whole micrograph resampled onto a grid of
``box`` pixels (CTFFIND's "size of amplitude spectrum") by Fourier cropping, kept
in the unshifted half-plane layout of ``rfft2`` so no copy is made to centre it.
Profiles are averaged over rings with ``np.bincount`` on precomputed bin indices.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy.ndimage import uniform_filter1d

#: The smallest spectrum box the fit accepts (as ``SearchParameters.check`` does).
MIN_BOX = 64


def largest_fast_size(limit: int) -> int:
    """The largest even size ≤ ``limit`` whose only prime factors are 2, 3 and 5 (fast FFTs)."""
    for size in range(limit - limit % 2, 1, -2):
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
    raise ValueError(f"no even FFT size fits in {limit} pixels")


def fitting_box(box: int, shape: tuple[int, ...]) -> int:
    """``box`` if the image's shorter side holds it, else the largest fast size that does.

    ``--fieldsize`` (classic default 1024) may exceed a small micrograph (the
    1024×720 of a K3 subregion); the spectrum is then computed on the largest box
    there is.
    """
    side = int(min(shape))
    if box <= side:
        return box
    if side < MIN_BOX:
        raise ValueError(f"image side {side} is smaller than the smallest spectrum box "
                         f"({MIN_BOX})")
    return largest_fast_size(side)


def periodogram(image: np.ndarray) -> np.ndarray:
    """``|rfft2(image − mean)|²`` per pixel (float32, ``rfft2`` half plane of the image)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    transform = scipy.fft.rfft2(image, workers=1)
    transform[0, 0] = 0.0
    power = np.square(transform.real)
    power += np.square(transform.imag)
    power *= np.float32(1.0 / image.size)
    return power


def autocorrelation_lags(power: np.ndarray, shape: tuple[int, int], box: int) -> np.ndarray:
    """The autocorrelation of an image of ``shape`` at lags up to ±box/2, folded onto a
    ``box × box`` grid in FFT order, from its periodogram (``rfft2`` half plane).

    The two lags ±box/2 share one place with half weight each: the lag window is
    then a trapezoid whose spectral kernel vanishes at every other point of the
    ``box`` grid.
    """
    ny, nx = shape
    half = box // 2
    if half > ny // 2 or half > nx // 2:
        raise ValueError(f"spectrum box {box} does not fit in an image of {ny}×{nx}")
    along_y = scipy.fft.rfft(power, axis=0, workers=1)[:half + 1] / ny
    lags_y = np.empty((box, along_y.shape[1]), dtype=np.complex128)
    lags_y[:half] = np.conj(along_y[:half])  # lags 0 … box/2 − 1
    lags_y[half] = along_y[half].real  # ±box/2, half each
    lags_y[half + 1:] = along_y[1:half][::-1]  # lags −box/2 + 1 … −1
    rows = scipy.fft.irfft(lags_y, n=nx, axis=1, workers=1)
    lags = np.empty((box, box))
    lags[:, :half] = rows[:, :half]
    lags[:, half] = 0.5 * (rows[:, half] + rows[:, nx - half])
    lags[:, half + 1:] = rows[:, nx - half + 1:]
    return lags


def power_spectrum(image: np.ndarray, box: int) -> np.ndarray:
    """The micrograph's power spectrum on a ``box`` grid (``rfft2`` half plane), per pixel.

    As CTFFIND does it: the periodogram of the whole micrograph, resampled onto the
    ``box`` grid by cutting its autocorrelation at lags ±box/2 (Fourier cropping).
    Unlike an average of tile spectra, whose window blurs the Thon rings enough to
    bias the defocus by 1–2 Å (its lag window is a triangle), this keeps them
    sharp, and every pair of pixels counts, not only pairs inside one tile.
    """
    image = np.asarray(image)
    lags = autocorrelation_lags(periodogram(image), image.shape, box)
    return np.maximum(scipy.fft.rfft2(lags, workers=1).real, 0.0)


def half_plane_polar(box: int) -> tuple[np.ndarray, np.ndarray]:
    """Radius (Fourier pixels) and angle (rad, from the x axis) of every half-plane pixel."""
    iy = np.fft.fftfreq(box, d=1.0 / box)[:, None]
    ix = np.arange(box // 2 + 1, dtype=np.float64)[None, :]
    radius = np.sqrt(iy * iy + ix * ix)
    angle = np.arctan2(np.broadcast_to(iy, radius.shape), np.broadcast_to(ix, radius.shape))
    return radius, angle


def radial_average(values: np.ndarray, bins: np.ndarray, n_bins: int,
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` per integer bin (and the pixel count per bin)."""
    flat_bins = bins.ravel()
    w = None if weights is None else weights.ravel()
    counts = np.bincount(flat_bins, weights=w, minlength=n_bins)[:n_bins]
    sums = np.bincount(flat_bins, weights=values.ravel() * (1.0 if w is None else w),
                       minlength=n_bins)[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1e-30), np.nan)
    return mean, counts


def fill_gaps(profile: np.ndarray) -> np.ndarray:
    """Replace NaN entries by linear interpolation between their neighbours."""
    good = np.isfinite(profile)
    if good.all() or not good.any():
        return np.nan_to_num(profile)
    index = np.arange(profile.size)
    return np.interp(index, index[good], profile[good])


def smooth_along(profile: np.ndarray, coordinate: np.ndarray, window: float) -> np.ndarray:
    """Moving average of ``profile`` over ``window`` units of a monotonic ``coordinate``.

    Resampling on a uniform grid of the coordinate first makes the window cover the
    same number of CTF oscillations everywhere when the coordinate is the CTF phase.
    """
    if profile.size < 3 or window <= 0:
        return profile.copy()
    span = float(coordinate[-1] - coordinate[0])
    if span <= 0:
        return np.full_like(profile, float(np.mean(profile)))
    samples = int(min(max(4 * profile.size, 64), 20000))
    uniform = np.linspace(coordinate[0], coordinate[-1], samples)
    resampled = np.interp(uniform, coordinate, profile)
    width = max(1, int(round(window / span * (samples - 1))))
    smoothed = uniform_filter1d(resampled, size=min(width, samples), mode="nearest")
    return np.interp(coordinate, uniform, smoothed)


def pearson(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted Pearson correlation (0 when either side is constant)."""
    w = np.ones_like(a) if weights is None else weights
    total = float(w.sum())
    if total <= 0:
        return 0.0
    da = a - float((w * a).sum()) / total
    db = b - float((w * b).sum()) / total
    denominator = math.sqrt(float((w * da * da).sum()) * float((w * db * db).sum()))
    return float((w * da * db).sum()) / denominator if denominator > 0 else 0.0


def strictly_increasing(values: np.ndarray) -> np.ndarray:
    """``values`` made monotonic (running maximum), then nudged to increase strictly."""
    monotonic = np.maximum.accumulate(values)
    return monotonic + np.arange(monotonic.size) * 1e-9


def ring_background(profile: np.ndarray, weights: np.ndarray, chi: np.ndarray,
                    knot_spacing: float = 2.0 * math.pi) -> tuple[np.ndarray, np.ndarray]:
    """Smooth background ``B`` and ring amplitude ``A`` with ``profile ≈ B + A·sin²(chi)``.

    ``B`` and ``A`` are cubic splines in the CTF phase with knots ``knot_spacing``
    apart, too far apart to follow the rings, so the rings cannot leak into the
    background (a moving average does, wherever its window holds a partial ring or
    runs off the end of the profile).  Weighted least squares over the entries
    with positive ``weights``; returns ``(B, A)`` on those entries (NaN elsewhere).
    """
    from scipy.interpolate import BSpline
    keep = weights > 0
    u = strictly_increasing(chi)[keep]
    span = float(u[-1] - u[0])
    intervals = max(1, int(round(span / knot_spacing)))
    inner = np.linspace(u[0], u[-1], intervals + 1)
    knots = np.r_[[inner[0]] * 3, inner, [inner[-1]] * 3]
    basis = BSpline.design_matrix(u, knots, 3).toarray()
    design = np.empty((basis.shape[0], 2 * basis.shape[1]))
    design[:, 0::2] = basis  # B and A coefficients interleaved: a banded normal matrix
    design[:, 1::2] = basis * (np.sin(chi[keep]) ** 2)[:, None]
    coefficients = banded_least_squares(design, profile[keep], weights[keep], 2 * 3 + 1)
    background = np.full(profile.shape, np.nan)
    amplitude = np.full(profile.shape, np.nan)
    background[keep] = np.einsum("ij,j->i", basis, coefficients[0::2])
    amplitude[keep] = np.einsum("ij,j->i", basis, coefficients[1::2])
    return background, amplitude


def banded_least_squares(design: np.ndarray, values: np.ndarray, weights: np.ndarray,
                         bandwidth: int) -> np.ndarray:
    """Weighted least squares whose normal matrix has ``bandwidth`` off-diagonals.

    Solved by banded Cholesky on normal equations built without BLAS: a general
    solver (``lstsq``) wakes OpenBLAS's threads, which then spin against everything
    else on a busy machine unless OMP_NUM_THREADS=1, and slowed the whole fit 3×.
    """
    from scipy.linalg import LinAlgError, solveh_banded
    weighted = design * weights[:, None]
    normal = np.einsum("ij,ik->jk", weighted, design)
    right = np.einsum("ij,i->j", weighted, values)
    size = normal.shape[0]
    normal[np.diag_indices(size)] += 1e-12 * max(float(np.trace(normal)) / size, 1e-300)
    bands = np.zeros((bandwidth + 1, size))
    for offset in range(bandwidth + 1):
        bands[bandwidth - offset, offset:] = np.diagonal(normal, offset)
    try:
        return solveh_banded(bands, right)
    except LinAlgError:
        root = np.sqrt(weights)
        return np.linalg.lstsq(design * root[:, None], values * root, rcond=None)[0]


def edge_taper(coordinate: np.ndarray, low: float, high: float, width: float) -> np.ndarray:
    """Weights rising from 0 at ``low`` to 1 over ``width`` (raised cosine), falling to ``high``.

    A correlation over a band whose edges cut the Thon rings part way is pulled
    towards whichever defocus puts more of a ring inside; tapering the weights over
    a whole ring at each edge removes that pull.
    """
    if width <= 0:
        return ((coordinate >= low) & (coordinate <= high)).astype(np.float64)
    inside = np.clip(np.minimum(coordinate - low, high - coordinate) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(math.pi * inside)
