"""Electron events of one EER raw frame, placed as a thinned Poisson process.

In a raw frame an electron lands at detector position ``q`` with density
``rate · I(q − r) · s(q)``: ``I`` is the noiseless intensity rendered for the
frame's group (at the group's mean shift), ``r`` the frame's residual shift from
that mean, and ``s`` the pixel sensitivity (0 on dead pixels).  Candidates are
drawn as a homogeneous process at the bound ``rate · max I · max s`` directly in
raster order (exponential spacings), so they come out sorted for the encoder
with no sort, and each is kept with probability ``I(q − r) s(q) / bound``.  The
result is exactly the inhomogeneous process; a pixel then records at most one
of the electrons that hit it in the frame (a random one), like the detector.

The frame is made in bands of rows sized so that the working arrays stay in the
CPU cache, which halves the cost of every vector operation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from appion.simulation.eer import EerFrame

#: Candidate electrons per band (the working set of a band stays in the L2 cache).
BAND_CANDIDATES = 1 << 16
GUARD = 4  # zero border around the source intensity: residual shifts stay inside


@dataclass(frozen=True)
class Source:
    """The intensity of a render group, zero-padded by :data:`GUARD` pixels, flattened."""

    padded: np.ndarray   # float32, (ny + 2 GUARD) × (nx + 2 GUARD), raveled
    width: int           # nx + 2 GUARD
    peak: float          # max of the intensity


@dataclass(frozen=True)
class Sensor:
    """Detector acceptance (``s / max s``, 0 on dead pixels) and its hot pixels."""

    acceptance: np.ndarray  # float32, raveled frame
    hot: np.ndarray         # sorted raster indices of hot pixels
    shape: tuple[int, int]


def make_source(intensity: np.ndarray) -> Source:
    """The group intensity (clipped at 0) ready for :func:`raw_frame`."""
    padded = np.pad(np.maximum(intensity, 0.0, dtype=np.float32), GUARD)
    return Source(padded.ravel(), padded.shape[1], float(padded.max()))


def make_sensor(sensitivity: np.ndarray, dead: np.ndarray, hot: np.ndarray
                ) -> tuple[Sensor, float]:
    """The sensor and its peak sensitivity (the rate scale) from per-pixel maps."""
    sensitivity = np.where(dead, 0.0, sensitivity).astype(np.float32)
    top = float(sensitivity.max())
    acceptance = (sensitivity / top if top > 0 else sensitivity).astype(np.float32)
    return Sensor(acceptance.ravel(), np.flatnonzero(hot.ravel()), sensitivity.shape), top


def raw_frame(source: Source, sensor: Sensor, residual: Sequence[float],
              electrons_per_pixel: float, rng: np.random.Generator,
              hot_probability: float = 0.5, pool: Executor | None = None) -> EerFrame:
    """The events of one raw frame.

    ``electrons_per_pixel`` is the mean count where ``I = 1`` and ``s = max s``;
    ``residual`` = ``(x, y)``, |residual| < :data:`GUARD` − 1; each hot pixel fires
    with ``hot_probability`` (at its centre).  Every band draws from its own
    generator spawned from ``rng``, so ``pool`` (threads for the bands) changes
    only the speed.
    """
    ny, nx = sensor.shape
    if max(abs(float(residual[0])), abs(float(residual[1]))) >= GUARD - 1:
        raise ValueError(f"residual shift {tuple(residual)} exceeds the source guard")
    bound = electrons_per_pixel * source.peak
    if bound <= 0.0:
        return _with_hot(_empty(), sensor.hot, rng, hot_probability)
    rows_per_band = max(1, min(ny, int(BAND_CANDIDATES / (bound * nx))))
    firsts = range(0, ny, rows_per_band)
    key_type = np.int32 if ny * nx * 16 < 2 ** 31 else np.int64

    def band(first: int, band_rng: np.random.Generator) -> np.ndarray:
        return _band(source, sensor, first, min(ny, first + rows_per_band), residual, bound,
                     band_rng, key_type)

    rngs = rng.spawn(len(firsts))
    keys = np.concatenate(list((pool.map if pool else map)(band, firsts, rngs)))
    frame = EerFrame(keys >> 4, (keys & 3).astype(np.uint8),
                     ((keys >> 2) & 3).astype(np.uint8))
    return _with_hot(frame, sensor.hot, rng, hot_probability)


def _empty() -> EerFrame:
    return EerFrame(np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.uint8))


def _arrivals(length: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted points of a homogeneous Poisson process of ``rate`` on ``[0, length)``."""
    mean = rate * length
    points = np.zeros(0)
    start = 0.0
    while True:
        count = int(mean + 6.0 * math.sqrt(mean) + 16.0)
        spacing = rng.standard_exponential(count, dtype=np.float32)
        spacing *= np.float32(1.0 / rate)
        more = np.cumsum(spacing, dtype=np.float64)
        more += start
        points = np.concatenate((points, more)) if points.size else more
        if more[-1] >= length:
            return points[:np.searchsorted(points, length)]
        start = float(more[-1])


def _band(source: Source, sensor: Sensor, first: int, last: int, residual: Sequence[float],
          bound: float, rng: np.random.Generator, key_type: type = np.int64) -> np.ndarray:
    """Events in rows ``first:last`` as sorted keys ``pixel << 4 | quarter_y << 2 | quarter_x``.

    One thinning step with one compression: boolean indexing with a random mask
    costs far more per element than arithmetic, so the pixel and both quarters
    travel packed in one integer.
    """
    nx = sensor.shape[1]
    local = _arrivals((last - first) * nx, bound, rng)
    pixel: np.ndarray = local.astype(key_type)
    sub_y = (local - pixel).astype(np.float32)
    pixel += first * nx
    sub_x = rng.random(pixel.size, dtype=np.float32)
    row, column = np.divmod(pixel, nx)
    row += np.floor(sub_y - np.float32(residual[1])).astype(key_type)
    row += GUARD
    row *= source.width
    column += np.floor(sub_x - np.float32(residual[0])).astype(key_type)
    column += GUARD
    row += column
    weight = source.padded[row]
    weight *= sensor.acceptance[pixel]
    kept = rng.random(pixel.size, dtype=np.float32) * np.float32(source.peak) < weight
    pixel <<= 4
    pixel |= np.minimum(sub_y * 4.0, 3.0).astype(key_type) << 2
    pixel |= np.minimum(sub_x * 4.0, 3.0).astype(key_type)
    return _one_per_pixel(pixel[kept], rng)


def _one_per_pixel(keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep one electron, chosen at random, of each pixel hit more than once (sorted keys)."""
    pixel = keys >> 4
    if not (pixel[1:] == pixel[:-1]).any():
        return keys
    starts = np.flatnonzero(np.diff(pixel, prepend=-1))
    sizes = np.diff(starts, append=pixel.size)
    chosen = starts + np.minimum((rng.random(starts.size) * sizes).astype(np.int64),
                                 sizes - 1)
    return keys[chosen]


def _with_hot(frame: EerFrame, hot: np.ndarray, rng: np.random.Generator, probability: float
              ) -> EerFrame:
    """Add the hot pixels that fire in this frame (not where an electron already is)."""
    firing = hot[rng.random(hot.size) < probability]
    where = np.searchsorted(frame.positions, firing)
    present = (where < frame.positions.size) & (
        frame.positions[np.minimum(where, frame.positions.size - 1)] == firing
        if frame.positions.size else np.zeros(firing.size, dtype=bool))
    firing, where = firing[~present], where[~present]
    if not firing.size:
        return frame
    centre = np.full(firing.size, 2, dtype=np.uint8)
    return EerFrame(np.insert(frame.positions, where, firing),
                    np.insert(frame.sub_x, where, centre), np.insert(frame.sub_y, where, centre))
