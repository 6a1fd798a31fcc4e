"""Fast exact Poisson counts for the low doses per pixel of a movie frame.

``numpy.random.Generator.poisson`` draws pixel by pixel (about 50–80 ns each for
the means below 2 that counting cameras see per frame), which dominated the
simulator.  Here the counts come from inverting the cumulative distribution
over the whole array at once: ``k`` is the number of cumulative probabilities
``F(0) … F(k−1)`` below one uniform draw.  The first few steps run over every
pixel, then only the pixels still above the running sum are carried on, so the
work is a few vector operations per pixel (about 7 ns against numpy's 40).  Means above
:data:`INVERSION_MAX_MEAN` go to numpy's sampler (its transformed-rejection method is fast there).
"""

from __future__ import annotations

import math

import numpy as np

#: Largest mean (per pixel) sampled by inversion; beyond it numpy's sampler is faster.
INVERSION_MAX_MEAN = 12.0


def poisson(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts with the given per-pixel ``mean`` (any shape).

    uint8 when every mean is at most :data:`INVERSION_MAX_MEAN` (sampled by
    inversion in float32: each count's probabilities are Poisson to about 1e-6),
    int64 from numpy's sampler otherwise.
    """
    mean = np.asarray(mean, dtype=np.float32)
    if mean.size == 0:
        return np.zeros(mean.shape, dtype=np.uint8)
    if float(mean.min()) < 0.0:
        raise ValueError("Poisson means must not be negative")
    top = float(mean.max())
    if top > INVERSION_MAX_MEAN:
        return rng.poisson(mean)
    dense_steps = int(float(mean.mean())) + 3
    return _inversion(mean.ravel(), rng, dense_steps, _last_count(top)).reshape(mean.shape)


def _last_count(top: float) -> int:
    """A count whose upper tail at mean ``top`` is below 1e-15 (the loop's safety stop)."""
    return int(math.ceil(top + 12.0 * math.sqrt(top) + 30.0))


def _inversion(mean: np.ndarray, rng: np.random.Generator, dense_steps: int, last: int
               ) -> np.ndarray:
    """Counts by sequential search of the cumulative distribution (1-D float32 ``mean``).

    ``left`` is the uniform draw less ``F(k)``; a pixel's count is the number of
    steps for which it stays positive.  The first ``dense_steps`` steps run over
    every pixel (cheap, branch-free), the rest only over the few still going.
    """
    left = rng.random(mean.size, dtype=np.float32)
    term = np.exp(-mean)                       # P(0)
    left -= term
    counts = np.zeros(mean.size, dtype=np.uint8)
    for k in range(1, min(dense_steps, last) + 1):
        counts += left > 0.0
        term *= mean
        term *= np.float32(1.0 / k)            # P(k)
        left -= term
    active = np.flatnonzero(left > 0.0)
    lam, left, term = mean[active], left[active], term[active]
    for k in range(min(dense_steps, last) + 1, last + 1):
        if not active.size:
            break
        counts[active] = k
        term *= lam
        term *= np.float32(1.0 / k)
        left -= term
        still = left > 0.0
        active, lam, left, term = active[still], lam[still], left[still], term[still]
    return counts
