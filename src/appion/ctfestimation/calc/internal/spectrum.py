"""Power spectra and the 1D profiles the CTF fit works on (pure NumPy/SciPy).

The spectrum is the mean of ``|rfft2|²`` over overlapping tiles of ``box`` pixels
(CTFFIND's "size of amplitude spectrum"), kept in the unshifted half-plane layout
of ``rfft2`` so no copy is made to centre it.  Profiles are averaged over rings
with ``np.bincount`` on precomputed bin indices.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy.ndimage import uniform_filter1d

#: Tiles transformed together; bounds the memory of one batch to a few tiles.
_BATCH = 8


def tile_origins(length: int, box: int, overlap: float) -> list[int]:
    """Start positions of tiles of ``box`` along an axis of ``length``, spread to both ends."""
    if length < box:
        raise ValueError(f"image side {length} is smaller than the spectrum box {box}")
    step = max(1, int(round(box * (1.0 - overlap))))
    count = (length - box) // step + 1
    if count == 1:
        return [(length - box) // 2]
    return [int(round(i * (length - box) / (count - 1))) for i in range(count)]


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
    """``box`` if the image holds a tile of it, else the largest fast size that fits.

    ``--fieldsize`` (classic default 1024) may exceed a small micrograph (the
    1024×720 of a K3 subregion); the spectrum then uses the largest tile there is.
    """
    side = int(min(shape))
    if box <= side:
        return box
    if side < MIN_BOX:
        raise ValueError(f"image side {side} is smaller than the smallest spectrum box "
                         f"({MIN_BOX})")
    return largest_fast_size(side)


def power_spectrum(image: np.ndarray, box: int, overlap: float = 0.5) -> np.ndarray:
    """Mean power spectrum ``|rfft2(tile - mean)|²`` over tiles, shape ``(box, box//2+1)``."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    origins = [(y, x) for y in tile_origins(image.shape[0], box, overlap)
               for x in tile_origins(image.shape[1], box, overlap)]
    total = np.zeros((box, box // 2 + 1), dtype=np.float64)
    for start in range(0, len(origins), _BATCH):
        batch = np.stack([image[y:y + box, x:x + box] for y, x in origins[start:start + _BATCH]])
        batch -= batch.mean(axis=(1, 2), keepdims=True)
        spectra = scipy.fft.rfft2(batch, axes=(1, 2), workers=1)
        total += (spectra.real ** 2 + spectra.imag ** 2).sum(axis=0)
    total /= len(origins) * box * box
    return total


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
