"""Small synthetic movies with known motion, written in every format the engine reads.

A movie is a smooth random scene (power falling as 1/k, like a micrograph)
moved frame by frame by known sub-pixel amounts (Fourier shifts, or a smooth
local field by cubic interpolation), then sampled with Poisson noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import tifffile
from scipy import ndimage


@dataclass(frozen=True)
class SyntheticMovie:
    frames: np.ndarray  # (n, rows, cols) counts
    shifts: np.ndarray  # (n, 2) x y content displacement, frame 0 = 0
    scene: np.ndarray  # expected counts per frame, unshifted


def scene(shape: tuple[int, int], rng: np.random.Generator, mean: float) -> np.ndarray:
    """A positive random image with a 1/k amplitude spectrum."""
    noise = np.fft.rfft2(rng.standard_normal(shape))
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = 1.0
    image = np.fft.irfft2(noise / k, s=shape)
    image = (image - image.mean()) / image.std()
    return (mean * np.exp(0.5 * image) / np.exp(0.125)).astype(np.float64)


def fourier_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Move the content of a periodic image by (dx, dy) pixels."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.rfftfreq(image.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (kx * dx + ky * dy))
    return np.fft.irfft2(np.fft.rfft2(image) * ramp, s=image.shape)


def drift(nframes: int, rng: np.random.Generator, step: float = 1.2) -> np.ndarray:
    """A random-walk drift with decaying speed, frame 0 at (0, 0)."""
    steps = rng.normal(0, 0.4, (nframes, 2)) + np.array([0.8, -0.6]) * step
    steps *= np.linspace(1.5, 0.5, nframes)[:, None]
    steps[0] = 0
    return np.cumsum(steps, axis=0)


def make_movie(shape=(256, 256), nframes=12, mean=3.0, seed=1, step=1.2,
               local=None) -> SyntheticMovie:
    """Frames of counts; ``local(x, y, t)`` adds a displacement field (x, y) when given."""
    rng = np.random.default_rng(seed)
    truth = scene(shape, rng, mean)
    shifts = drift(nframes, rng, step)
    frames = np.empty((nframes, *shape), np.float64)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    for index, (dx, dy) in enumerate(shifts):
        moved = fourier_shift(truth, dx, dy)
        if local is not None:
            lx, ly = local(xx, yy, index)
            moved = ndimage.map_coordinates(moved, [yy - ly, xx - lx], order=3, mode="wrap")
        frames[index] = np.clip(moved, 0, None)
    return SyntheticMovie(rng.poisson(frames).astype(np.uint16), shifts, truth)


def write_mrc(path: Path, frames: np.ndarray, dtype=np.uint16) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(frames.astype(dtype))
    return path


def write_tiff(path: Path, frames: np.ndarray, dtype=np.uint8, compression="lzw") -> Path:
    tifffile.imwrite(path, frames.astype(dtype), compression=compression,
                     photometric="minisblack")
    return path


@pytest.fixture(scope="session")
def small_movie() -> SyntheticMovie:
    return make_movie()
