"""Frame alignment: iterative global alignment and patch alignment with a smooth model.

All shifts are content displacements ``(x, y)``: frame i shows the scene moved by
``+shift`` relative to the reference, so it must be moved by ``-shift`` to align.
Global alignment follows MotionCor2: every frame (or group of frames) is
cross-correlated with the sum of all the others, B-factor weighted, the peak
found to sub-pixel precision (three pixels, then a quarter-pixel matrix-DFT grid
around them), shifts updated, until the mean update is below the tolerance or the
iteration limit is hit.  ``-Group`` aligns sums of consecutive frames and
interpolates their shifts onto the frames.  It works on frames binned in real space
by an integer factor (block sums, straight from the raw counts) and padded to a
fast FFT size, as a stack of spectra (``rfft2`` layout, complex64), and
transforms the cross-correlations a batch of frames at a time.

Patch alignment aligns the frames of each patch the same way after the global
shifts, then fits MotionCor2's smooth deformation model to the patch shifts:
quadratic in space times cubic in time, zero at the first frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from appion.motioncorrection.calc.internal.dose_weighting import rfft_frequencies_squared

#: Alignment pixel size (Å) per √B: the B-factor weight is ~e^-3 at its Nyquist.
ALIGN_PIXEL_PER_SQRT_B = 0.15
#: Smallest side (pixels) of the binned frames used for alignment.
MIN_ALIGN_SIDE = 256
#: Largest side (pixels) of the binned frames: bounds alignment time and memory.
MAX_ALIGN_SIDE = 3072
#: Frames whose cross-correlations are inverse-transformed together (memory: a few
#: batches of spectra are alive at once).
BATCH = 2


@dataclass(frozen=True)
class StackAlignment:
    """Shifts of a stack (pixels of the aligned grid) and the per-iteration errors."""

    shifts: np.ndarray  # (frames, 2) float64, x y; frame 0 is (0, 0)
    errors: tuple[float, ...]  # mean update per iteration (input pixels)


@dataclass(frozen=True)
class MotionModel:
    """MotionCor2-style local motion: Σ c · {1,x,y,x²,xy,y²} · {t,t²,t³} per axis."""

    coefficients: np.ndarray  # (2, 6, 3): axis (x, y), spatial term, temporal term
    width: float  # frame size (pixels) the normalised coordinates refer to
    height: float
    nframes: int

    def evaluate(self, x: np.ndarray, y: np.ndarray, frame: int | np.ndarray) -> np.ndarray:
        """Local shift (x, y) in pixels at positions ``x``, ``y`` and ``frame``; shape (..., 2)."""
        spatial = _spatial_terms(np.asarray(x, float) / self.width - 0.5,
                                 np.asarray(y, float) / self.height - 0.5)
        temporal = _temporal_terms(np.asarray(frame, float), self.nframes)
        return np.einsum("s...,t...,ast->...a", spatial, temporal, self.coefficients)


@dataclass(frozen=True)
class PatchAlignment:
    """Measured patch shifts and the fitted model (pixels of the aligned grid)."""

    centres: np.ndarray  # (patches, 2) x y
    shifts: np.ndarray  # (patches, frames, 2) residual after global, frame 0 = 0
    used: np.ndarray  # (patches,) bool: kept by the fit
    model: MotionModel


def align_bin(shape: tuple[int, int], pixel_size_a: float, bfactor: float,
              ft_bin: float = 1.0) -> int:
    """Integer real-space binning for alignment.

    About what the B-factor leaves of the signal (never below ``ft_bin``), at least
    enough to bring the longer side to :data:`MAX_ALIGN_SIDE`, and never so much
    that the shorter side falls below :data:`MIN_ALIGN_SIDE`.
    """
    wanted = ALIGN_PIXEL_PER_SQRT_B * np.sqrt(max(bfactor, 1.0)) / pixel_size_a
    wanted = max(int(round(max(wanted, ft_bin))), int(np.ceil(max(shape) / MAX_ALIGN_SIDE)))
    largest = max(1, min(shape) // MIN_ALIGN_SIDE)
    return max(1, min(wanted, largest))


def bin_frame(frame: np.ndarray, factor: int) -> np.ndarray:
    """Block sums of ``factor`` × ``factor`` pixels (float32); a ragged edge is dropped.

    uint8 counts are summed in uint16 first (16 × 255 fits), which is several
    times faster than a float reduction.
    """
    rows, cols = frame.shape[0] // factor * factor, frame.shape[1] // factor * factor
    if factor == 1:
        return frame[:rows, :cols].astype(np.float32)
    work = np.uint16 if frame.dtype == np.uint8 and factor <= 16 else np.float32
    across: np.ndarray = frame[:rows, 0:cols:factor].astype(work)
    for offset in range(1, factor):
        across += frame[:rows, offset:cols:factor]
    binned: np.ndarray = across[0::factor].astype(np.float32)
    for offset in range(1, factor):
        binned += across[offset::factor]
    return binned


def binned_pixel(flat_indices: np.ndarray, shape: tuple[int, int], factor: int,
                 binned_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For flat pixel indices of a ``shape`` frame: binned (rows, columns) and whether kept."""
    rows, cols = np.divmod(flat_indices, shape[1])
    rows, cols = rows // factor, cols // factor
    kept = (rows < binned_shape[0]) & (cols < binned_shape[1])
    return rows, cols, kept


def frame_stack(count: int, padded: tuple[int, int]) -> np.ndarray:
    """Room for ``count`` real frames of ``padded`` shape that can become their spectra.

    A float32 (count, h, w + 2) array: each frame sits in its first ``w``
    columns; :func:`to_spectra_in_place` turns it into the complex64
    (count, h, w//2 + 1) rfft2 spectra in the same memory, so a movie's binned
    frames and their spectra never both exist.
    """
    return np.empty((count, padded[0], padded[1] + 2), np.float32)


def to_spectra_in_place(stack: np.ndarray, small: tuple[int, int], threads: int = 1
                        ) -> np.ndarray:
    """Pad each frame of a :func:`frame_stack` with its mean and transform it in place."""
    padded = (stack.shape[1], stack.shape[2] - 2)
    spectra = stack.view(np.complex64)
    for index in range(len(stack)):
        frame = stack[index, :, :padded[1]]
        pad_with_mean(frame[:small[0], :small[1]], padded, out=frame)
        spectra[index] = scipy.fft.rfft2(frame, workers=threads)
    return spectra


def to_frames_in_place(spectra: np.ndarray, padded: tuple[int, int], shifts: np.ndarray,
                       small: tuple[int, int], threads: int = 1) -> np.ndarray:
    """The inverse of :func:`to_spectra_in_place`, moving frame i by ``-shifts[i]``.

    Returns the (n, *small) real frames, a view of the same memory.
    """
    frames = spectra.view(np.float32)
    for index in range(len(spectra)):
        moved = shift_spectra(spectra[index:index + 1], padded, -shifts[index:index + 1, 0],
                              -shifts[index:index + 1, 1])
        frames[index, :, :padded[1]] = scipy.fft.irfft2(moved[0], s=padded, workers=threads)
    return frames[:, :small[0], :small[1]]


def padded_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """The smallest fast rfft2 shape at least ``shape``, with an even number of columns.

    Rows are transformed as complex data (factors 2, 3, 5, 7, 11 are fast), the
    columns as real data (2, 3, 5).
    """
    columns = scipy.fft.next_fast_len(shape[1], real=True)
    while columns % 2:
        columns = scipy.fft.next_fast_len(columns + 1, real=True)
    return scipy.fft.next_fast_len(shape[0]), columns


def pad_with_mean(image: np.ndarray, shape: tuple[int, int],
                  out: np.ndarray | None = None) -> np.ndarray:
    """``image`` in the top-left corner of a ``shape`` float32 array filled with its mean."""
    out = np.empty(shape, np.float32) if out is None else out
    rows, cols = image.shape
    if not np.shares_memory(out, image):
        out[:rows, :cols] = image
    if (rows, cols) != tuple(shape):
        mean = np.float32(out[:rows, :cols].mean())
        out[rows:, :] = mean
        out[:rows, cols:] = mean
    return out


def fourier_crop(spectrum: np.ndarray, shape: tuple[int, int], out_shape: tuple[int, int]
                 ) -> np.ndarray:
    """Crop an rfft2 spectrum of a ``shape`` image to that of an ``out_shape`` image.

    The result is scaled so that the cropped image keeps the same mean.
    """
    rows, cols = out_shape
    out = np.empty((rows, cols // 2 + 1), np.complex64)
    top = rows // 2
    out[:top] = spectrum[:top, :cols // 2 + 1]
    out[top:] = spectrum[shape[0] - (rows - top):, :cols // 2 + 1]
    out *= np.float32(rows * cols / (shape[0] * shape[1]))
    return out


def ramp_factors(shape: tuple[int, int], dx: np.ndarray | float, dy: np.ndarray | float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Separable phase-ramp factors (rows (n, h), columns (n, w//2+1)) for n shifts."""
    ky = np.fft.fftfreq(shape[0]).astype(np.float32)
    kx = np.fft.rfftfreq(shape[1]).astype(np.float32)
    dx = np.atleast_1d(np.asarray(dx, np.float32))
    dy = np.atleast_1d(np.asarray(dy, np.float32))
    rows = np.exp(np.complex64(-2j * np.pi) * dy[:, None] * ky[None, :])
    cols = np.exp(np.complex64(-2j * np.pi) * dx[:, None] * kx[None, :])
    return rows, cols


def shift_spectra(spectra: np.ndarray, shape: tuple[int, int], dx: np.ndarray | float,
                  dy: np.ndarray | float, out: np.ndarray | None = None) -> np.ndarray:
    """Move the content of a stack of rfft2 spectra (n, h, w//2+1) by (dx, dy) each."""
    rows, cols = ramp_factors(shape, dx, dy)
    out = np.multiply(spectra, rows[:, :, None], out=out)
    out *= cols[:, None, :]
    return out


def bfactor_filter(shape: tuple[int, int], pixel_size_a: float, bfactor: float) -> np.ndarray:
    """exp(-B k²/4) on the rfft2 grid (k in 1/Å), float32."""
    k2 = rfft_frequencies_squared(shape, pixel_size_a)
    return np.exp(-bfactor * k2 / 4).astype(np.float32)


def subpixel_peak(cc: np.ndarray, max_shift: float | None = None) -> tuple[float, float]:
    """(x, y) of the maximum of a cross-correlation with its origin at [0, 0].

    The integer peak is refined per axis by a three-point Gaussian fit (the
    B-factor-weighted peak is nearly Gaussian), or a parabola when a value is not
    positive.  ``max_shift`` limits the search to a disc around the origin.
    """
    x, y = subpixel_peaks(cc[np.newaxis], max_shift)[0]
    return float(x), float(y)


@lru_cache(maxsize=8)
def _search_disc(shape: tuple[int, int], max_shift: float) -> np.ndarray:
    """Flat indices of the pixels within ``max_shift`` of the origin (wrapping)."""
    rows, cols = shape
    ry = np.minimum(np.arange(rows), rows - np.arange(rows))
    rx = np.minimum(np.arange(cols), cols - np.arange(cols))
    return np.flatnonzero((ry[:, None] ** 2 + rx[None, :] ** 2) <= max_shift ** 2)


def subpixel_peaks(cc: np.ndarray, max_shift: float | None = None) -> np.ndarray:
    """:func:`subpixel_peak` of each of a stack (n, h, w) of cross-correlations: (n, 2)."""
    count, rows, cols = cc.shape
    flat_cc = cc.reshape(count, -1)
    if max_shift is None:
        flat = np.argmax(flat_cc, axis=1)
    else:
        disc = _search_disc((rows, cols), max_shift)
        flat = disc[np.argmax(flat_cc[:, disc], axis=1)]
    peaks = np.empty((count, 2))
    for number, (iy, ix) in enumerate(zip(*np.unravel_index(flat, (rows, cols)))):
        image = cc[number]
        dy = _refine(image[(iy - 1) % rows, ix], image[iy, ix], image[(iy + 1) % rows, ix])
        dx = _refine(image[iy, (ix - 1) % cols], image[iy, ix], image[iy, (ix + 1) % cols])
        y, x = iy + dy, ix + dx
        peaks[number] = (x - cols if x > cols / 2 else x, y - rows if y > rows / 2 else y)
    return peaks


#: Half-width (pixels) and step of the fine grid a coarse peak is refined on.
REFINE_RADIUS = 1.5
REFINE_STEP = 0.25
#: The coarse search transforms the cross-correlations this many times smaller per side
#: (the refinement reads the whole spectrum)...
COARSE_CROP = 2
#: ...when both sides stay at least this long.
MIN_COARSE_SIDE = 64


def coarse_peaks(cross: np.ndarray, shape: tuple[int, int], max_shift: float | None = None
                 ) -> np.ndarray:
    """Peaks (n, 2) x y, to a fraction of a pixel, of the cross-correlations whose rfft2
    spectra (n, h, w//2+1) are ``cross``, each transformed at :data:`COARSE_CROP` times
    fewer pixels per side (for :func:`refine_peaks` to finish)."""
    rows, cols = shape
    factor = COARSE_CROP
    small = (rows // factor // 2 * 2, cols // factor // 2 * 2)
    if min(small) < MIN_COARSE_SIDE:
        factor, small = 1, shape
    if factor > 1:
        half = small[0] // 2
        cross = np.concatenate([cross[:, :half, :small[1] // 2 + 1],
                                cross[:, rows - half:, :small[1] // 2 + 1]], axis=1)
    cc = scipy.fft.irfft2(cross, s=small, workers=1)
    limit = None if max_shift is None else max_shift / factor
    return subpixel_peaks(cc, limit) * factor


def refine_peaks(cross: np.ndarray, shape: tuple[int, int], peaks: np.ndarray,
                 radius: float = REFINE_RADIUS, step: float = REFINE_STEP) -> np.ndarray:
    """Peaks (n, 2) x y refined on a fine grid around coarse ``peaks``.

    ``cross`` holds the rfft2 spectra (n, h, w//2+1) of the cross-correlations.  Their
    values on a grid ``step`` pixels fine within ``radius`` of each coarse peak are a
    matrix DFT (the upsampled cross-correlation of Guizar-Sicairos, Thurman and
    Fienup, Opt. Lett. 33, 156, 2008), and a three-point fit on that grid gives the
    peak.  On binned frames the correlation peak is only one or two pixels wide, and
    a fit to its three pixels alone is biased by its shape.
    """
    rows, cols = shape
    offsets = np.arange(-radius, radius + step / 2, step)
    ky = np.fft.fftfreq(rows)
    kx = np.fft.rfftfreq(cols)
    fold = np.full(len(kx), 2.0)  # the rfft half stands for both halves but its edges
    fold[0] = 1.0
    if cols % 2 == 0:
        fold[-1] = 1.0
    refined = np.empty((len(peaks), 2))
    for number, (x0, y0) in enumerate(peaks):
        ys, xs = y0 + offsets, x0 + offsets
        along_y = np.exp(2j * np.pi * np.outer(ys, ky)).astype(np.complex64)
        along_x = (fold[:, None] * np.exp(2j * np.pi * np.outer(kx, xs))).astype(np.complex64)
        grid = (along_y @ cross[number] @ along_x).real
        iy, ix = np.unravel_index(int(np.argmax(grid)), grid.shape)
        dy = _refine(*grid[iy - 1:iy + 2, ix]) if 0 < iy < len(ys) - 1 else 0.0
        dx = _refine(*grid[iy, ix - 1:ix + 2]) if 0 < ix < len(xs) - 1 else 0.0
        refined[number] = (xs[ix] + dx * step, ys[iy] + dy * step)
    return refined


def _refine(before: float, peak: float, after: float) -> float:
    if before > 0 and peak > 0 and after > 0:
        before, peak, after = np.log(before), np.log(peak), np.log(after)
    curvature = before - 2 * peak + after
    if curvature >= 0:
        return 0.0
    return float(np.clip((before - after) / (2 * curvature), -0.5, 0.5))


def frame_groups(count: int, group: int) -> list[range]:
    """MotionCor2's ``-Group``: consecutive frames aligned ``group`` at a time as one sum.

    The last group may be shorter.  There are always at least two groups, so that each
    has the others to be aligned to.
    """
    size = max(1, min(group, count // 2))
    return [range(start, min(count, start + size)) for start in range(0, count, size)]


def group_centres(groups: list[range]) -> np.ndarray:
    """The (fractional) frame index whose motion each group's sum measures: its middle."""
    return np.array([(members.start + members.stop - 1) / 2 for members in groups])


def frame_shifts(group_shifts: np.ndarray, centres: np.ndarray, count: int) -> np.ndarray:
    """Shifts (count, 2) of every frame from shifts measured at group ``centres``.

    Linear between the centres and continued along the end segments beyond them, as
    MotionCor2 interpolates its group shifts onto the raw frames.
    """
    if len(centres) == count:
        return np.array(group_shifts, float)
    frames = np.arange(count, dtype=float)
    return np.stack([_linear(frames, centres, column) for column in group_shifts.T], axis=1)


def _own_spectra(spectra: np.ndarray, shape: tuple[int, int], shifts: np.ndarray,
                 groups: list[range]) -> Iterator[np.ndarray]:
    """Each group's sum of moved frames (a single frame: the frame moved), in batches."""
    for start in range(0, len(groups), BATCH):
        batch = groups[start:start + BATCH]
        first, last = batch[0].start, batch[-1].stop
        if last - first == len(batch):  # single frames
            yield shift_spectra(spectra[first:last], shape, -shifts[first:last, 0],
                                -shifts[first:last, 1])
            continue
        own = np.empty((len(batch), *spectra.shape[1:]), spectra.dtype)
        for row, members in enumerate(batch):
            part = slice(members.start, members.stop)
            own[row] = shift_spectra(spectra[part], shape, -shifts[part, 0],
                                     -shifts[part, 1]).sum(axis=0)
        yield own


def _linear(x: np.ndarray, where: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.interp`` that continues the end segments' lines beyond ``where``."""
    out = np.interp(x, where, values)
    low, high = x < where[0], x > where[-1]
    out[low] = values[0] + (x[low] - where[0]) * (values[1] - values[0]) / (where[1] - where[0])
    out[high] = values[-1] + (x[high] - where[-1]) * (
        (values[-1] - values[-2]) / (where[-1] - where[-2]))
    return out


def align_stack(spectra: np.ndarray, shape: tuple[int, int], weight: np.ndarray, *,
                iterations: int = 7, tolerance: float = 0.5, group: int = 1,
                scale: tuple[float, float] = (1.0, 1.0), max_shift: float | None = None,
                threads: int = 1) -> StackAlignment:
    """Iteratively align a stack (n, h, w//2+1) of rfft2 spectra of ``shape`` frames.

    ``weight`` multiplies each cross-correlation spectrum (the B-factor filter).
    ``scale`` turns grid pixels into input pixels (x, y) for the tolerance test.
    With ``group`` > 1 the unknowns are the shifts of :func:`frame_groups`' sums, each
    measured against the rest of the movie, and every frame takes the shift
    interpolated at its index (:func:`frame_shifts`), with which it enters the sums.
    (Aligning every frame by a window of frames around it instead is ill-posed: an
    error that alternates from frame to frame grows at each iteration.)
    At least two iterations run so that the first, coarse peak is refined.
    """
    spectra = np.asarray(spectra)
    count = len(spectra)
    if count < 2:
        return StackAlignment(np.zeros((count, 2)), ())
    groups = frame_groups(count, group)
    centres = group_centres(groups)
    group_shifts = np.zeros((len(groups), 2))
    errors: list[float] = []
    batches = [slice(start, min(count, start + BATCH)) for start in range(0, count, BATCH)]
    for iteration in range(max(1, iterations)):
        shifts = frame_shifts(group_shifts, centres, count)

        def moved_sum(part: slice) -> np.ndarray:
            return shift_spectra(spectra[part], shape, -shifts[part, 0],
                                 -shifts[part, 1]).sum(axis=0)

        total = np.zeros(spectra.shape[1:], np.complex64)
        for partial in _imap(threads, moved_sum, batches):
            total += partial

        def peaks(own: np.ndarray) -> np.ndarray:
            cross = np.subtract(total, own)
            np.conjugate(cross, out=cross)
            cross *= own
            cross *= weight
            del own
            return refine_peaks(cross, shape, coarse_peaks(cross, shape, max_shift))

        measured = np.concatenate(list(_imap(threads, peaks,
                                             _own_spectra(spectra, shape, shifts, groups))))
        # each group is measured against the others' mean, which moves with it:
        # (N-1)/N of its offset is its own (with two groups, the full offset overshoots
        # by exactly the offset, and the iteration would swing for ever)
        updates = measured * ((len(groups) - 1) / len(groups))
        group_shifts += updates
        error = float(np.mean(np.hypot(updates[:, 0] * scale[0], updates[:, 1] * scale[1])))
        errors.append(error)
        if iteration >= 1 and error < tolerance:
            break
    shifts = frame_shifts(group_shifts, centres, count)
    shifts -= shifts[0]
    return StackAlignment(shifts, tuple(errors))


def _imap(threads: int, function, items) -> Iterator:
    """``map(function, items)`` on ``threads`` threads, at most ``threads`` items ahead.

    Items are pulled and results handed out lazily (either may be big); the work
    is numpy and pocketfft, which release the GIL on big arrays.
    """
    if threads <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _spatial_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    one = np.ones_like(x * y)
    return np.stack([one, x * one, y * one, x * x * one, x * y, y * y * one])


def _temporal_terms(frame: np.ndarray, nframes: int) -> np.ndarray:
    t = frame / max(nframes - 1, 1)
    return np.stack([t, t * t, t * t * t])


def fit_motion_model(centres: np.ndarray, shifts: np.ndarray, width: float, height: float,
                     used: np.ndarray | None = None) -> MotionModel:
    """Least-squares fit of the deformation model to patch shifts (frame 0 = 0)."""
    patches, frames, _ = shifts.shape
    used = np.ones(patches, bool) if used is None else used
    spatial = _spatial_terms(centres[used, 0] / width - 0.5, centres[used, 1] / height - 0.5)
    temporal = _temporal_terms(np.arange(frames, dtype=float), frames)
    design = np.einsum("sp,tf->pfst", spatial, temporal).reshape(-1, spatial.shape[0] * 3)
    coefficients = np.zeros((2, spatial.shape[0], 3))
    for axis in range(2):
        target = shifts[used, :, axis].reshape(-1)
        solution, *_ = np.linalg.lstsq(design, target, rcond=None)
        coefficients[axis] = solution.reshape(spatial.shape[0], 3)
    return MotionModel(coefficients, float(width), float(height), frames)


def patch_centres(shape: tuple[int, int], cols: int, rows: int) -> np.ndarray:
    """Centres (x, y) of a cols × rows grid of patches tiling the frame."""
    height, width = shape
    xs = (np.arange(cols) + 0.5) * width / cols
    ys = (np.arange(rows) + 0.5) * height / rows
    return np.array([(x, y) for y in ys for x in xs])


def _taper(side: int, edge: int) -> np.ndarray:
    window = np.ones(side, np.float32)
    if edge > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
        window[:edge] = ramp
        window[side - edge:] = ramp[::-1]
    return window


def align_patches(frames: np.ndarray, cols: int, rows: int, pixel_size_a: float,
                  bfactor: float, *, iterations: int = 7, tolerance: float = 0.5,
                  group: int = 1, scale: tuple[float, float] = (1.0, 1.0),
                  threads: int = 1) -> PatchAlignment:
    """Align patches of globally aligned real-space ``frames`` (N, h, w) and fit the model.

    Patches are about 1.5× the grid spacing (overlapping, fast FFT sides), tapered
    at their edges.  Patches whose shifts the model misses by more than three times
    the median miss are dropped and the model refitted once.
    """
    count, height, width = frames.shape
    centres = patch_centres((height, width), cols, rows)
    side_y = min(height, _even(1.5 * height / rows))
    side_x = min(width, _even(1.5 * width / cols))
    patch_shape = (side_y, side_x)
    window = _taper(side_y, side_y // 8)[:, None] * _taper(side_x, side_x // 8)[None, :]
    weight = bfactor_filter(patch_shape, pixel_size_a, bfactor)

    def align_patch(centre: np.ndarray) -> np.ndarray:
        cx, cy = centre
        y0 = int(np.clip(round(cy - side_y / 2), 0, height - side_y))
        x0 = int(np.clip(round(cx - side_x / 2), 0, width - side_x))
        patches = frames[:, y0:y0 + side_y, x0:x0 + side_x]
        patches = patches - patches.mean(axis=(1, 2), keepdims=True)
        patches *= window
        spectra = scipy.fft.rfft2(patches, workers=1).astype(np.complex64, copy=False)
        return align_stack(spectra, patch_shape, weight, iterations=iterations,
                           tolerance=tolerance, group=group, scale=scale,
                           max_shift=min(patch_shape) / 4, threads=1).shifts

    measured = np.stack(list(_imap(threads, align_patch, centres)))
    used = np.ones(len(centres), bool)
    model = fit_motion_model(centres, measured, width, height, used)
    misses = _fit_misses(model, centres, measured)
    limit = 3 * max(float(np.median(misses)), 1e-3)
    if (misses > limit).any() and (misses <= limit).sum() >= 6:
        used = misses <= limit
        model = fit_motion_model(centres, measured, width, height, used)
    return PatchAlignment(centres, measured, used, model)


def _fit_misses(model: MotionModel, centres: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    frames = np.arange(shifts.shape[1])
    misses = []
    for (cx, cy), measured in zip(centres, shifts):
        predicted = model.evaluate(np.full(frames.shape, cx), np.full(frames.shape, cy), frames)
        misses.append(float(np.sqrt(np.mean(np.sum((predicted - measured) ** 2, axis=-1)))))
    return np.array(misses)


def _even(value: float) -> int:
    """The largest even fast FFT length not above ``value`` (at least 16)."""
    side = max(16, int(value) // 2 * 2)
    while side > 16 and scipy.fft.next_fast_len(side, real=True) != side:
        side -= 2
    return side
