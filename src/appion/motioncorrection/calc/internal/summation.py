"""Summing aligned frames: whole-frame Fourier shifts, or tiles for local motion.

Both sums are accumulated in Fourier space, so a frame is transformed once and
its shift is exact (sinc interpolation); the dose-weighted sum is accumulated
from the same spectrum (:class:`DoseAccumulator`, frames added last first).
Whole frames are padded with their mean to a fast FFT size and cropped back
after the inverse transform.  With local motion the frame is cut into
overlapping tiles, transformed as one batch; each tile is taken at the integer
part of the shift at its centre and moved by the fraction in Fourier space, and
the tiles are blended with linear ramps.

The whole-frame summer is used in two steps so that a worker thread can prepare
the next frame (:meth:`GlobalSummer.prepare`: the FFT) while the caller shifts
and accumulates the previous one (:meth:`GlobalSummer.add`); the tiled summer
spreads each frame's tiles over threads (:meth:`TileSummer.add`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft

from appion.motioncorrection.calc.internal.alignment import (
    pad_with_mean,
    padded_shape,
    shift_spectra,
)
from appion.motioncorrection.calc.internal.dose_weighting import DoseAccumulator

TILE = 512  # FFT side of a tile
TILE_MARGIN = 16  # pixels on each side a tile's sub-pixel shift may wrap
TILE_RAMP = 32  # width of the blend between neighbouring tiles

#: Makes a DoseAccumulator for an rfft2 grid of a given image shape, or None.
DoseFor = Callable[[tuple[int, int]], DoseAccumulator] | None


@dataclass(frozen=True)
class Sums:
    """Real-space sums at full input size (float32); ``dose_weighted`` may be None."""

    plain: np.ndarray
    dose_weighted: np.ndarray | None


class GlobalSummer:
    """Accumulates frames shifted as wholes; one padded full-size rfft2 per frame."""

    def __init__(self, shape: tuple[int, int], dose_for: DoseFor, threads: int):
        self.shape = shape
        self.padded = padded_shape(shape)
        self.threads = threads
        # None once the sums are taken (frees the memory)
        self.plain: np.ndarray | None = np.zeros((self.padded[0], self.padded[1] // 2 + 1),
                                                 np.complex64)
        self.dose = dose_for(self.padded) if dose_for else None

    def buffer(self) -> tuple[np.ndarray, np.ndarray]:
        """A padded float32 buffer and the view of it a corrected frame goes into."""
        buffer = np.empty(self.padded, np.float32)
        return buffer, buffer[:self.shape[0], :self.shape[1]]

    def prepare(self, buffer: np.ndarray, shift: tuple[float, float]
                ) -> tuple[np.ndarray, tuple[float, float]]:
        """The spectrum of a corrected frame in ``buffer`` (which it overwrites), and its shift."""
        pad_with_mean(buffer[:self.shape[0], :self.shape[1]], self.padded, out=buffer)
        return scipy.fft.rfft2(buffer, workers=self.threads, overwrite_x=True), shift

    def add(self, index: int, prepared: tuple[np.ndarray, tuple[float, float]]) -> None:
        """Move frame ``index``'s spectrum back by its shift and add it to the sums."""
        spectrum, (dx, dy) = prepared
        shift_spectra(spectrum[None], self.padded, -dx, -dy, out=spectrum[None])
        assert self.plain is not None, "frames added after the sums were taken"
        self.plain += spectrum
        if self.dose is not None:
            self.dose.add(index, spectrum)

    def sums(self) -> Sums:
        rows, cols = self.shape

        def image(spectrum: np.ndarray) -> np.ndarray:
            full = scipy.fft.irfft2(spectrum, s=self.padded, workers=self.threads,
                                    overwrite_x=True)
            return np.ascontiguousarray(full[:rows, :cols], dtype=np.float32)

        assert self.plain is not None, "the sums are taken once"
        plain = image(self.plain)
        self.plain = None
        return Sums(plain, image(self.dose.result()) if self.dose is not None else None)


@dataclass(frozen=True)
class Tile:
    """One tile: output core at [y0, y0+core) × [x0, x0+core), centre in input pixels."""

    y0: int
    x0: int
    centre: tuple[float, float]


def tile_grid(shape: tuple[int, int], tile: int = TILE, margin: int = TILE_MARGIN,
              ramp: int = TILE_RAMP) -> tuple[list[Tile], int]:
    """Tiles whose cores overlap by ``ramp`` and cover the frame; returns (tiles, core)."""
    core = tile - 2 * margin
    step = core - ramp

    def origins(length: int) -> list[int]:
        first = -ramp // 2
        count = max(1, int(np.ceil((length - first - core) / step)) + 1)
        return [first + k * step for k in range(count)]

    tiles = [Tile(y0, x0, (x0 + core / 2, y0 + core / 2))
             for y0 in origins(shape[0]) for x0 in origins(shape[1])]
    return tiles, core


def _ramp_window(core: int, ramp: int) -> np.ndarray:
    window = np.ones(core, np.float32)
    rise = (np.arange(ramp, dtype=np.float32) + 0.5) / ramp
    window[:ramp] = rise
    window[core - ramp:] = rise[::-1]
    return window


class TileSummer:
    """Accumulates frames under a smooth local shift field, tile by tile.

    :meth:`add` takes a corrected frame and the content displacement (input
    pixels) at every tile centre (:attr:`centres`).  The tiles are split between
    ``threads`` threads; each takes one tile at a time from cut to accumulated
    (transform, fractional shift, plain and dose-weighted sums), so a tile's
    spectrum (about 1 MB) stays in the processor's cache instead of a whole
    frame's tiles going through memory once per operation.
    """

    def __init__(self, shape: tuple[int, int], dose_for: DoseFor, threads: int,
                 tile: int = TILE):
        side = min(tile, _even_fast(min(shape) // 2 + 2 * TILE_MARGIN + TILE_RAMP))
        self.shape = shape
        self.side = side
        self.tiles, self.core = tile_grid(shape, side)
        self.centres = np.array([tile.centre for tile in self.tiles])
        self.threads = max(1, threads)
        spectrum_shape = (len(self.tiles), side, side // 2 + 1)
        # None once the sums are taken (frees the memory)
        self.plain: np.ndarray | None = np.zeros(spectrum_shape, np.complex64)
        self.dose = dose_for((side, side)) if dose_for else None
        self.weighted = np.zeros(spectrum_shape, np.complex64) if self.dose else None
        self._parts = [part for part in np.array_split(np.arange(len(self.tiles)),
                                                        self.threads) if len(part)]
        self._index = np.arange(side)

    def add(self, index: int, frame: np.ndarray, shifts: np.ndarray) -> None:
        """Add frame ``index`` (corrected), each tile moved back by the displacement
        (tiles, 2) at its centre; frames come last first."""
        assert self.plain is not None, "frames added after the sums were taken"
        whole = np.floor(shifts + 0.5).astype(int)
        fraction = shifts - whole
        factor = self.dose.advance(index) if self.dose is not None else None

        def add_part(numbers: np.ndarray) -> None:
            buffer = np.empty((self.side, self.side), np.float32)
            for number in numbers:
                tile, (ix, iy) = self.tiles[number], whole[number]
                self._cut(frame, tile.y0 - TILE_MARGIN + iy, tile.x0 - TILE_MARGIN + ix, buffer)
                spectrum = scipy.fft.rfft2(buffer, workers=1)
                shift_spectra(spectrum[None], (self.side, self.side), -fraction[number, 0],
                              -fraction[number, 1], out=spectrum[None])
                self._accumulate(number, spectrum, factor)

        if len(self._parts) == 1:
            add_part(self._parts[0])
            return
        with ThreadPoolExecutor(len(self._parts)) as pool:
            for done in [pool.submit(add_part, part) for part in self._parts]:
                done.result()

    def _accumulate(self, number: int, spectrum: np.ndarray, factor: np.ndarray | None) -> None:
        """Add one tile's moved spectrum to the plain and (Horner's rule) weighted sums."""
        assert self.plain is not None
        self.plain[number] += spectrum
        if self.weighted is None:
            return
        if factor is None:  # the last frame starts the weighted sum
            self.weighted[number] = spectrum
        else:
            weighted = self.weighted[number]
            weighted *= factor
            weighted += spectrum

    def _cut(self, frame: np.ndarray, y0: int, x0: int, out: np.ndarray) -> None:
        """Copy the tile whose top-left corner is (y0, x0) into ``out`` (wrapping at edges)."""
        rows, cols = frame.shape
        if 0 <= y0 and y0 + self.side <= rows and 0 <= x0 and x0 + self.side <= cols:
            np.copyto(out, frame[y0:y0 + self.side, x0:x0 + self.side])
            return
        out[...] = frame.take(self._index + y0, axis=0, mode="wrap").take(
            self._index + x0, axis=1, mode="wrap")

    def assemble(self, spectra: np.ndarray) -> np.ndarray:
        """Blend the tiles of accumulated ``spectra`` into a full-size image."""
        rows, cols = self.shape
        out = np.zeros(self.shape, np.float32)
        total = np.zeros(self.shape, np.float32)
        window1d = _ramp_window(self.core, TILE_RAMP)
        window = window1d[:, None] * window1d[None, :]
        images = scipy.fft.irfft2(spectra, s=(self.side, self.side), workers=self.threads,
                                  overwrite_x=True)
        for tile, image in zip(self.tiles, images):
            core = image[TILE_MARGIN:TILE_MARGIN + self.core, TILE_MARGIN:TILE_MARGIN + self.core]
            ys = slice(max(0, tile.y0), min(rows, tile.y0 + self.core))
            xs = slice(max(0, tile.x0), min(cols, tile.x0 + self.core))
            cy = slice(ys.start - tile.y0, ys.stop - tile.y0)
            cx = slice(xs.start - tile.x0, xs.stop - tile.x0)
            out[ys, xs] += core[cy, cx] * window[cy, cx]
            total[ys, xs] += window[cy, cx]
        out /= total
        return out

    def sums(self) -> Sums:
        assert self.plain is not None, "the sums are taken once"
        plain = self.assemble(self.plain)
        self.plain = None
        weighted = None
        if self.dose is not None and self.weighted is not None:
            self.weighted *= self.dose.scale()
            weighted = self.assemble(self.weighted)
            self.weighted = None
        return Sums(plain, weighted)


def _even_fast(value: int) -> int:
    size = scipy.fft.next_fast_len(max(64, int(value)), real=True)
    return size + size % 2
