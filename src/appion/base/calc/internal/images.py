"""Small display images of large arrays: binning, a light low-pass, contrast stretch (pure).

The worker-made thumbnails and previews (``appion serve``'s dashboard shows them, so
the web server never decodes a 4k MRC) are made here from the array the step wrote:
block-averaged to about the wanted size (fast: one ``reshape``/``mean`` pass over the
big array), resampled linearly to exactly the wanted longest side, smoothed with a
3×3 binomial kernel and stretched between two percentiles to 8-bit grey levels.
Arrays in, arrays out; encoding and writing are the caller's (``appion.base.files``).
"""

from __future__ import annotations

import math

import numpy as np

#: Percentiles the grey levels are stretched between (0 and 255).
STRETCH_PERCENTILES = (0.5, 99.5)
#: Pixels a percentile is taken from at most (every n-th pixel beyond that).
PERCENTILE_SAMPLES = 1 << 20


def block_average(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (2D) averaged over ``factor × factor`` blocks (float32); the rows and
    columns that do not fill a whole block are left out."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    if factor < 1:
        raise ValueError(f"binning factor {factor} must be at least 1")
    if factor == 1:
        return np.asarray(image, dtype=np.float32)
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    if rows == 0 or cols == 0:
        raise ValueError(f"an image of {image.shape[0]}×{image.shape[1]} holds no "
                         f"{factor}×{factor} block")
    whole = image[:rows * factor, :cols * factor]
    # strided sums (column phases, then row phases): about 2.5x faster than a mean over
    # the axes of a 4-D view of a 4k image
    columns = whole[:, 0::factor].astype(np.float32)
    for phase in range(1, factor):
        columns += whole[:, phase::factor]
    binned = columns[0::factor].copy()
    for phase in range(1, factor):
        binned += columns[phase::factor]
    binned *= np.float32(1.0 / (factor * factor))
    return binned


def output_shape(shape: tuple[int, ...], longest: int, *, enlarge: bool = False
                 ) -> tuple[int, int]:
    """``(rows, cols)`` with the longer side ``longest`` and the aspect ratio of ``shape``
    (each side at least 1); an image already smaller stays its size unless ``enlarge``."""
    rows, cols = int(shape[0]), int(shape[1])
    if longest < 1 or rows < 1 or cols < 1:
        raise ValueError(f"cannot scale {rows}×{cols} to a longest side of {longest}")
    side = max(rows, cols)
    if side <= longest and not enlarge:
        return rows, cols
    scale = longest / side
    return max(1, round(rows * scale)), max(1, round(cols * scale))


def _linear_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and weights of linear interpolation from ``size_in`` to ``size_out`` samples,
    pixel centres aligned (the first and last pixels' edges meet)."""
    position = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    position = np.clip(position, 0.0, size_in - 1.0)
    low = np.minimum(np.floor(position).astype(np.intp), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    weight = (position - low).astype(np.float32)
    return low, high, weight


def resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` resampled linearly to ``shape`` (float32; meant for small changes of
    scale: it does not average, so bin first with :func:`block_average`)."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape == tuple(shape):
        return image
    low, high, weight = _linear_weights(image.shape[0], shape[0])
    rows = image[low] * (1 - weight)[:, None] + image[high] * weight[:, None]
    low, high, weight = _linear_weights(image.shape[1], shape[1])
    return np.ascontiguousarray(rows[:, low] * (1 - weight)[None, :]
                                + rows[:, high] * weight[None, :])


def scale_to_longest(image: np.ndarray, longest: int, *, enlarge: bool = False
                     ) -> np.ndarray:
    """``image`` scaled to a longest side of ``longest`` pixels (float32): block-averaged by
    the largest whole factor that keeps it at least that large, then resampled linearly
    to the exact size.  Never enlarged unless ``enlarge``."""
    target = output_shape(image.shape, longest, enlarge=enlarge)
    factor = max(1, int(math.floor(max(image.shape[:2]) / max(target))))
    binned = block_average(image, factor)
    return resample(binned, target)


def smooth(image: np.ndarray) -> np.ndarray:
    """A light low-pass: the 3×3 binomial kernel (1 2 1)/4 along each axis, edges repeated."""
    image = np.asarray(image, dtype=np.float32)
    if min(image.shape) < 2:
        return image.copy()
    padded = np.pad(image, 1, mode="edge")
    rows = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return 0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]


def stretch_limits(image: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES,
                   mask: np.ndarray | None = None) -> tuple[float, float]:
    """The grey-level range: ``image``'s values at two percentiles (of the finite values
    where ``mask`` is true), from at most :data:`PERCENTILE_SAMPLES` pixels."""
    values = np.asarray(image)[mask] if mask is not None else np.asarray(image).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    if values.size > PERCENTILE_SAMPLES:
        values = values[::int(math.ceil(values.size / PERCENTILE_SAMPLES))]
    low, high = np.percentile(values, percentiles)
    return float(low), float(high)


def to_grey(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """``image`` as 8-bit grey: ``low`` and below black, ``high`` and above white (a
    constant image, or NaN, is mid-grey)."""
    image = np.asarray(image, dtype=np.float32)
    span = high - low
    if not (math.isfinite(span) and span > 0):
        return np.full(image.shape, 128, dtype=np.uint8)
    scaled = (image - np.float32(low)) * np.float32(255.0 / span)
    scaled = np.nan_to_num(scaled, nan=127.5)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def stretched(image: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES
              ) -> np.ndarray:
    """``image`` low-passed (:func:`smooth`) and stretched between ``percentiles``, as
    8-bit grey."""
    smoothed = smooth(image)
    return to_grey(smoothed, *stretch_limits(smoothed, percentiles))


def display_images(image: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """8-bit grey versions of ``image`` with the longest sides ``sizes``, in that order
    (each is scaled from the next larger one, unquantised: the big array is binned once)."""
    made: dict[int, np.ndarray] = {}
    current = np.asarray(image)
    for size in sorted(set(sizes), reverse=True):
        current = scale_to_longest(current, size)
        made[size] = stretched(current)
    return [made[size] for size in sizes]


__all__ = ["STRETCH_PERCENTILES", "block_average", "display_images", "output_shape",
           "resample", "scale_to_longest", "smooth", "stretch_limits", "stretched",
           "to_grey"]
