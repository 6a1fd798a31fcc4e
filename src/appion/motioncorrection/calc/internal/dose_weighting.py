"""Dose weighting with Grant & Grigorieff's (2015) critical exposure.

The critical exposure at spatial frequency k (1/Å) is N_e(k) = 0.245 k^-1.665 + 2.81
e/Å² at 300 kV (scaled by 0.8 at 200 kV and 0.64 at 100 kV, as unblur/RELION do).
A frame whose middle has received cumulative exposure N is weighted by
exp(-N / (2 N_e(k))); the weights of each frequency are normalised by the root of
their sum of squares (unblur, MotionCor2) and scaled by √frames so that the mean
(k = 0, weight 1) equals the plain sum's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CRITICAL_A = 0.245
CRITICAL_B = -1.665
CRITICAL_C = 2.81


def voltage_scale(kv: float) -> float:
    """Critical-exposure scale for the accelerating voltage (1 at 300 kV)."""
    points_kv, points_scale = (100.0, 200.0, 300.0), (0.64, 0.8, 1.0)
    return float(np.interp(kv, points_kv, points_scale))


def critical_exposure(k: np.ndarray, kv: float = 300.0) -> np.ndarray:
    """N_e(k) in e/Å² for spatial frequencies ``k`` in 1/Å (infinite at k = 0)."""
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore"):
        value = CRITICAL_A * np.power(k, CRITICAL_B) + CRITICAL_C
    return value * voltage_scale(kv)


def frame_mid_exposures(doses: Sequence[float], pre_exposure: float = 0.0) -> np.ndarray:
    """Cumulative exposure at the middle of each frame (e/Å²)."""
    values = np.asarray(doses, dtype=np.float64)
    return pre_exposure + np.cumsum(values) - values / 2


def rfft_frequencies_squared(shape: tuple[int, int], pixel_size_a: float) -> np.ndarray:
    """|k|² in 1/Å² on the grid of ``numpy.fft.rfft2`` for an image of ``shape``."""
    ky = np.fft.fftfreq(shape[0], d=pixel_size_a)
    kx = np.fft.rfftfreq(shape[1], d=pixel_size_a)
    return ky[:, None] ** 2 + kx[None, :] ** 2


def rfft_frequencies(shape: tuple[int, int], pixel_size_a: float) -> np.ndarray:
    """|k| in 1/Å on the grid of ``numpy.fft.rfft2`` for an image of ``shape``."""
    return np.sqrt(rfft_frequencies_squared(shape, pixel_size_a))


def dose_weights(shape: tuple[int, int], pixel_size_a: float, mid_exposures: Sequence[float],
                 kv: float = 300.0) -> np.ndarray:
    """Normalised weights, float32 (frames, rows, cols//2 + 1), on the rfft2 grid."""
    critical = critical_exposure(rfft_frequencies(shape, pixel_size_a), kv)
    weights = np.empty((len(mid_exposures), *critical.shape), np.float32)
    for index, exposure in enumerate(mid_exposures):
        weights[index] = np.exp(-exposure / (2 * critical))
    norm = np.sqrt(len(mid_exposures) / np.sum(weights.astype(np.float64) ** 2, axis=0))
    weights *= norm.astype(np.float32)
    return weights


class DoseAccumulator:
    """The dose-weighted sum Σ_i w_i(k)·S_i(k) by Horner's rule, frames added last first.

    With w_i = exp(-E_i h) (h = 1/2N_e), the sum is exp(-E_0 h)·(S_0 + r_0(S_1 +
    r_1(S_2 + …))) with r_i = exp(-(E_{i+1} - E_i) h): one multiply-add per frame on
    the grid, no per-frame exponential (the ratios of equal doses are one array).
    ``shape`` gives the rfft2 grid; accumulated spectra may have leading batch axes.
    """

    def __init__(self, shape: tuple[int, int], pixel_size_a: float,
                 mid_exposures: Sequence[float] | np.ndarray, kv: float = 300.0):
        self._half_inverse = (0.5 / critical_exposure(rfft_frequencies(shape, pixel_size_a),
                                                      kv)).astype(np.float32)
        self._exposures = np.asarray(mid_exposures, np.float64)
        self._ratios: dict[float, np.ndarray] = {}
        self._sum: np.ndarray | None = None
        self._next = len(self._exposures)

    def _ratio(self, step: float) -> np.ndarray:
        key = round(step, 9)
        if key not in self._ratios:
            self._ratios[key] = np.exp(-np.float32(step) * self._half_inverse)
        return self._ratios[key]

    def advance(self, index: int) -> np.ndarray | None:
        """Take frame ``index`` next: the factor a running sum is multiplied by before the
        frame's spectrum is added (None for the last frame, which starts the sum).

        For callers that hold the running sum themselves (one per tile, say):
        ``total = spectrum`` when None is returned, else ``total *= factor; total += spectrum``;
        :meth:`scale` then normalises it.  Frames must come in descending order.
        """
        if index != self._next - 1:
            raise ValueError(f"frames must be added last first: expected {self._next - 1}, "
                             f"got {index}")
        self._next = index
        if index == len(self._exposures) - 1:
            return None
        return self._ratio(self._exposures[index + 1] - self._exposures[index])

    def add(self, index: int, spectrum: np.ndarray) -> None:
        """Add frame ``index``'s spectrum; frames must come in descending order."""
        factor = self.advance(index)
        if self._sum is None or factor is None:
            self._sum = spectrum.astype(np.complex64, copy=True)
        else:
            self._sum *= factor
            self._sum += spectrum

    def result(self) -> np.ndarray:
        """The normalised dose-weighted spectrum (mean kept as in the plain sum)."""
        if self._sum is None:
            raise ValueError("not every frame has been added")
        self._sum *= self.scale()
        return self._sum

    def scale(self) -> np.ndarray:
        """The normalisation of a finished running sum (see :meth:`advance`)."""
        if self._next != 0:
            raise ValueError("not every frame has been added")
        return self._scale()

    def _scale(self) -> np.ndarray:
        """exp(-E_0 h)·norm = √(N / Σ_i exp(-2 (E_i - E_0) h)) (float64 sum, float32 out)."""
        half = self._half_inverse.astype(np.float64)
        offsets = self._exposures - self._exposures[0]
        steps = np.diff(offsets)
        if steps.size and np.allclose(steps, steps[0]):
            q2 = np.exp(-2 * steps[0] * half)  # geometric series Σ q^(2i)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = np.where(q2 < 1, (1 - q2 ** len(offsets)) / (1 - q2), len(offsets))
        else:
            total = np.zeros_like(half)
            for offset in offsets:
                total += np.exp(-2 * offset * half)
        return np.sqrt(len(offsets) / total).astype(np.float32)
