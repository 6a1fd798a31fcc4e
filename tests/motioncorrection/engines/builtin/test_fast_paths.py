"""The building blocks that make the engine fast must give the straightforward answer.

Real-space binning, the in-place spectra
stack, batched peak search, padded whole-frame sums, the threaded tile sums and
the Horner-rule dose-weighted sum are each compared with a direct computation.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from appion.motioncorrection.calc.internal import alignment
from appion.motioncorrection.calc.internal import dose_weighting as dw
from appion.motioncorrection.calc.internal import gain as gain_mod
from appion.motioncorrection.calc.internal.summation import GlobalSummer, TileSummer

from .conftest import fourier_shift


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_bin_frame_is_block_sums(dtype, factor):
    rng = np.random.default_rng(factor)
    frame = rng.integers(0, 255, (41, 58)).astype(dtype)
    rows, cols = 41 // factor, 58 // factor
    expected = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            expected[r, c] = frame[r * factor:(r + 1) * factor,
                                   c * factor:(c + 1) * factor].astype(float).sum()
    binned = alignment.bin_frame(frame, factor)
    assert binned.dtype == np.float32
    np.testing.assert_allclose(binned, expected, rtol=1e-6)


def test_mean_std_matches_numpy_with_and_without_a_mask():
    image = np.random.default_rng(0).normal(10, 3, (700, 90)).astype(np.float32)
    where = image < 14
    assert gain_mod.mean_std(image, block_rows=64) == pytest.approx(
        (image.mean(dtype=np.float64), image.std(dtype=np.float64)), rel=1e-9)
    assert gain_mod.mean_std(image, where, block_rows=64) == pytest.approx(
        (image[where].mean(dtype=np.float64), image[where].std(dtype=np.float64)), rel=1e-9)


def test_padded_shape_is_fast_even_and_not_smaller():
    for shape in [(4092, 5760), (1364, 1920), (31, 33), (1023, 1439)]:
        rows, cols = alignment.padded_shape(shape)
        assert rows >= shape[0] and cols >= shape[1] and cols % 2 == 0
        assert scipy.fft.next_fast_len(rows) == rows
        assert scipy.fft.next_fast_len(cols, real=True) == cols
    assert alignment.padded_shape((4092, 5760)) == (4096, 5760)


def test_spectra_stack_in_place_round_trip():
    rng = np.random.default_rng(1)
    small = (45, 62)
    padded = alignment.padded_shape(small)
    frames = rng.normal(3, 1, (3, *small)).astype(np.float32)
    stack = alignment.frame_stack(3, padded)
    stack[:, :small[0], :small[1]] = frames
    spectra = alignment.to_spectra_in_place(stack, small)
    assert np.shares_memory(spectra, stack) and spectra.dtype == np.complex64
    for frame, spectrum in zip(frames, spectra):
        expected = np.full(padded, frame.mean(), np.float32)
        expected[:small[0], :small[1]] = frame
        np.testing.assert_allclose(spectrum, np.fft.rfft2(expected), rtol=1e-4, atol=1e-2)
    shifts = np.array([[0.0, 0.0], [2.0, -1.0], [0.0, 3.0]])
    back = alignment.to_frames_in_place(spectra, padded, shifts, small)
    assert back.shape == (3, *small)
    np.testing.assert_allclose(back[0], frames[0], atol=1e-4)
    # moved back by (-2, +1): pixel (r, c) of the result is pixel (r - 1, c + 2) of the input
    np.testing.assert_allclose(back[1][1:20, 0:40], frames[1][0:19, 2:42], atol=1e-4)


def test_batched_peaks_match_one_at_a_time():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:48, 0:64]
    stack = []
    for x0, y0 in rng.uniform(-6, 6, (5, 2)):
        ry = (yy - y0 + 24) % 48 - 24
        rx = (xx - x0 + 32) % 64 - 32
        stack.append(np.exp(-(rx ** 2 + ry ** 2) / 5.0) + rng.normal(0, 0.01, yy.shape))
    stack = np.array(stack)
    stack[0, 20, 30] = 5.0  # outside the search disc: must be ignored
    batched = alignment.subpixel_peaks(stack, max_shift=12)
    for cc, peak in zip(stack, batched):
        assert alignment.subpixel_peak(cc, max_shift=12) == pytest.approx(tuple(peak))
    assert np.hypot(*batched[0]) < 12


def _stack(rng, count, shape):
    return rng.poisson(4.0, (count, *shape)).astype(np.float32)


def test_global_sum_of_unshifted_frames_is_the_plain_sum():
    rng = np.random.default_rng(4)
    shape = (50, 70)  # padded to a fast size internally
    frames = _stack(rng, 4, shape)
    summer = GlobalSummer(shape, None, threads=1)
    for index in reversed(range(4)):
        buffer, view = summer.buffer()
        view[...] = frames[index]
        summer.add(index, summer.prepare(buffer, (0.0, 0.0)))
    sums = summer.sums()
    assert sums.dose_weighted is None and sums.plain.shape == shape
    np.testing.assert_allclose(sums.plain, frames.sum(axis=0), atol=1e-3)


@pytest.mark.parametrize("doses", [[1.2] * 7, [0.5, 0.5, 0.5, 1.5, 1.5, 0.8, 0.8]])
def test_horner_dose_sum_equals_weighted_sum(doses):
    rng = np.random.default_rng(5)
    shape, apix = (32, 40), 0.8
    mids = dw.frame_mid_exposures(doses, pre_exposure=0.7)
    spectra = (rng.normal(size=(len(doses), 32, 21))
               + 1j * rng.normal(size=(len(doses), 32, 21))).astype(np.complex64)
    weights = dw.dose_weights(shape, apix, mids)
    expected = np.einsum("fij,fij->ij", weights, spectra)
    accumulator = dw.DoseAccumulator(shape, apix, mids)
    for index in reversed(range(len(doses))):
        accumulator.add(index, spectra[index])
    np.testing.assert_allclose(accumulator.result(), expected, rtol=2e-4, atol=2e-4)


def test_horner_dose_sum_refuses_frames_out_of_order():
    accumulator = dw.DoseAccumulator((8, 8), 1.0, dw.frame_mid_exposures([1.0] * 3))
    with pytest.raises(ValueError, match="last first"):
        accumulator.add(0, np.zeros((8, 5), np.complex64))


def test_global_sum_moves_each_frame_back_by_its_shift():
    rng = np.random.default_rng(6)
    shape = (50, 70)
    base = rng.poisson(4.0, shape).astype(np.float32)
    shifts = [(0, 0), (3, -2), (-4, 1)]  # content displacement (x, y), whole pixels
    summer = GlobalSummer(shape, None, threads=1)
    for index in reversed(range(3)):
        buffer, view = summer.buffer()
        dx, dy = shifts[index]
        view[...] = np.roll(base, (dy, dx), axis=(0, 1))
        summer.add(index, summer.prepare(buffer, (float(dx), float(dy))))
    inner = (slice(5, -5), slice(5, -5))  # away from the padded edges
    np.testing.assert_allclose(summer.sums().plain[inner], 3 * base[inner], atol=1e-2)


def _smooth_scene(rng, shape):
    """A band-limited scene (so that sub-pixel moves are exact), float32."""
    spectrum = np.fft.rfft2(rng.normal(size=shape))
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    spectrum[np.hypot(ky, kx) > 0.3] = 0
    return np.fft.irfft2(spectrum, s=shape).astype(np.float32)


def _moved(image, dx, dy):
    return fourier_shift(image, dx, dy).astype(np.float32)


@pytest.mark.parametrize("threads", [1, 3])
def test_tile_sum_moves_each_tile_back_by_its_shift(threads):
    """Frames moved by a different whole-and-fractional shift in each tile's region come
    back to the scene, whatever the number of threads."""
    rng = np.random.default_rng(7)
    shape = (300, 420)
    scene = _smooth_scene(rng, shape)
    summer = TileSummer(shape, None, threads, tile=128)
    moves = [(0.0, 0.0), (2.3, -1.6), (-3.7, 0.4)]
    for index in reversed(range(len(moves))):
        dx, dy = moves[index]
        field = np.tile([dx, dy], (len(summer.tiles), 1))
        summer.add(index, _moved(scene, dx, dy), field)
    sums = summer.sums()
    expected = 3 * scene
    inner = (slice(20, -20), slice(20, -20))
    assert sums.dose_weighted is None

    def rms(image):
        return np.sqrt(np.mean(image ** 2))

    # a sub-pixel move of a cut tile rings a little beyond its margin: 0.43 % rms here
    # (128-px tiles; 0.21 % with the engine's 512-px tiles)
    assert rms(sums.plain[inner] - expected[inner]) < 6e-3 * rms(expected[inner])
    unaligned = sum(_moved(scene, dx, dy) for dx, dy in moves)
    assert rms(unaligned[inner] - expected[inner]) > 0.5 * rms(expected[inner])


def test_tile_dose_weighted_sum_matches_the_whole_frame_sum():
    """Unmoved frames: the tiled dose-weighted sum is the whole-frame one away from the
    edges (the threads each keep their tiles' running sums)."""
    rng = np.random.default_rng(8)
    shape, apix = (256, 256), 1.0
    mids = dw.frame_mid_exposures([1.5] * 5)
    frames = [_smooth_scene(rng, shape) for _ in mids]

    def dose_for(grid):
        return dw.DoseAccumulator(grid, apix, mids)

    tiled = TileSummer(shape, dose_for, 2, tile=256)
    whole = GlobalSummer(shape, dose_for, 1)
    for index in reversed(range(len(frames))):
        tiled.add(index, frames[index], np.zeros((len(tiled.tiles), 2)))
        buffer, view = whole.buffer()
        view[...] = frames[index]
        whole.add(index, whole.prepare(buffer, (0.0, 0.0)))
    tiled_sums, whole_sums = tiled.sums(), whole.sums()
    np.testing.assert_allclose(tiled_sums.plain, sum(frames), atol=1e-3)
    assert tiled_sums.dose_weighted is not None and whole_sums.dose_weighted is not None
    assert not np.allclose(tiled_sums.dose_weighted, tiled_sums.plain, atol=0.1)
    np.testing.assert_allclose(tiled_sums.dose_weighted, whole_sums.dose_weighted, atol=2e-3)
