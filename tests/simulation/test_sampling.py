"""The fast samplers keep the statistics: Poisson counts, EER electron events, frame warps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, stats

from appion.simulation import calc, electrons
from appion.simulation.pipeline import band_pool
from appion.simulation.poisson import INVERSION_MAX_MEAN, poisson


@pytest.mark.parametrize("mean", [0.03, 0.85, 4.3, 11.0, 25.0])
def test_poisson_counts_fit_the_poisson_distribution(mean):
    counts = poisson(np.full((500, 400), mean, dtype=np.float32), np.random.default_rng(1))
    assert counts.shape == (500, 400)
    histogram = np.bincount(counts.ravel().astype(np.int64))
    k = np.arange(histogram.size)
    expected = stats.poisson.pmf(k, mean) * counts.size
    used = expected > 5
    chi2 = float(((histogram[used] - expected[used]) ** 2 / expected[used]).sum())
    assert stats.chi2.sf(chi2, int(used.sum()) - 1) > 1e-3
    assert counts.mean() == pytest.approx(mean, rel=0.01, abs=0.001)


def test_poisson_follows_a_varying_mean_and_the_seed():
    mean = np.linspace(0.0, 2 * INVERSION_MAX_MEAN, 200_000, dtype=np.float32).reshape(400, 500)
    counts = poisson(mean[:, :250], np.random.default_rng(3)).astype(np.int64)
    assert counts[mean[:, :250] == 0.0].max(initial=0) == 0
    # mean = sum of means in each band of columns (inversion side only)
    bands = np.array_split(np.arange(250), 5)
    for band in bands:
        total = counts[:, band].sum()
        expected = float(mean[:, band].sum())
        assert abs(total - expected) < 5 * np.sqrt(expected)
    again = poisson(mean[:, :250], np.random.default_rng(3))
    assert np.array_equal(counts, again)
    with pytest.raises(ValueError, match="negative"):
        poisson(np.array([-0.1]), np.random.default_rng(0))


def _sensor(shape, dead_column=None, hot=()):
    dead = np.zeros(shape, dtype=bool)
    if dead_column is not None:
        dead[:, dead_column] = True
    hot_mask = np.zeros(shape, dtype=bool)
    for x, y in hot:
        hot_mask[y, x] = True
    return electrons.make_sensor(np.ones(shape, dtype=np.float32), dead, hot_mask)


def _counts(frames, shape):
    total = np.zeros(shape[0] * shape[1], dtype=np.int64)
    for frame in frames:
        total[frame.positions] += 1
    return total.reshape(shape)


def test_electrons_follow_the_moved_intensity_to_the_quarter_pixel():
    """A step from 0.5 to 1.5 at column 32, moved by half a pixel: column 32 collects
    the dim side in its left quarters and the bright side in its right quarters."""
    shape = (64, 64)
    intensity = np.full(shape, 0.5, dtype=np.float32)
    intensity[:, 32:] = 1.5
    source = electrons.make_source(intensity)
    sensor, top = _sensor(shape)
    rng = np.random.default_rng(5)
    per_pixel = 0.05
    frames = [electrons.raw_frame(source, sensor, (0.5, 0.0), per_pixel * top, rng)
              for _ in range(400)]
    quarters = np.zeros(4)
    for frame in frames:
        positions = np.asarray(frame.positions)
        assert np.all(np.diff(positions) > 0)  # sorted, one event per pixel
        column = positions % shape[1]
        np.add.at(quarters, frame.sub_x[column == 32], 1)
    assert quarters[2:].sum() / quarters[:2].sum() == pytest.approx(3.0, rel=0.1)
    counts = _counts(frames, shape) / len(frames)
    # one event per pixel per frame: P(at least one) = 1 − exp(−λ)
    dim, bright = 1 - np.exp(-0.5 * per_pixel), 1 - np.exp(-1.5 * per_pixel)
    assert counts[:, 2:30].mean() == pytest.approx(dim, rel=0.04)
    assert counts[:, 34:62].mean() == pytest.approx(bright, rel=0.03)
    # the edge moved by +0.5 px: column 32 is half dim, half bright
    assert counts[:, 32].mean() == pytest.approx((dim + bright) / 2, rel=0.06)


def test_electrons_coincide_at_most_once_per_pixel_and_respect_defects():
    shape = (48, 40)
    source = electrons.make_source(np.ones(shape, dtype=np.float32))
    sensor, top = _sensor(shape, dead_column=7, hot=[(3, 5), (20, 30)])
    rng = np.random.default_rng(2)
    frames = [electrons.raw_frame(source, sensor, (0.0, 0.0), 0.8 * top, rng)
              for _ in range(300)]
    counts = _counts(frames, shape) / len(frames)
    assert counts[:, 7].max() == 0.0
    good = np.ones(shape, dtype=bool)
    good[:, 7] = False
    good[5, 3] = good[30, 20] = False
    assert counts[good].mean() == pytest.approx(1 - np.exp(-0.8), rel=0.02)
    assert all(frame.sub_x.max(initial=0) <= 3 and frame.sub_y.max(initial=0) <= 3
               for frame in frames)
    # hot pixels fire in about half the frames even in an otherwise empty frame
    empty = electrons.make_source(np.zeros(shape, dtype=np.float32))
    fired = [electrons.raw_frame(empty, sensor, (0.0, 0.0), 0.8 * top, rng).positions
             for _ in range(400)]
    rate = np.mean([5 * 40 + 3 in positions for positions in fired])
    assert rate == pytest.approx(0.5, abs=0.08)


def test_electron_bands_are_the_same_with_and_without_threads():
    shape = (256, 200)
    intensity = 1.0 + 0.3 * np.random.default_rng(0).standard_normal(shape)
    source = electrons.make_source(intensity.astype(np.float32))
    sensor, top = _sensor(shape, dead_column=50)
    serial = electrons.raw_frame(source, sensor, (0.2, -1.3), 2.0, np.random.default_rng(9))
    pooled = electrons.raw_frame(source, sensor, (0.2, -1.3), 2.0, np.random.default_rng(9),
                                 pool=band_pool())
    for a, b in zip((serial.positions, serial.sub_x, serial.sub_y),
                    (pooled.positions, pooled.sub_x, pooled.sub_y)):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="exceeds the source guard"):
        electrons.raw_frame(source, sensor, (electrons.GUARD, 0.0), 2.0,
                            np.random.default_rng(0))


def _canvas(shape, margin):
    ctf = calc.CtfParameters(12000.0, 12000.0, 0.0, bfactor_a2=20.0)
    padded = calc.padded_canvas_shape(shape, margin)
    ideal = calc.ideal_intensity(padded, 1.0, ctf, np.random.default_rng(4))
    return calc.make_canvas(ideal, margin, shape), ideal


def test_global_shift_by_whole_pixels_is_an_exact_copy():
    shape, margin = (120, 150), 12
    canvas, ideal = _canvas(shape, margin)
    assert canvas.padded_shape == ideal.shape and canvas.shape == shape
    local = calc.LocalField(shape, (0.0,) * 5, (0.0,) * 5, (0.0, 0.0))
    frame = calc.render_frame(canvas, (3.0, -2.0), local, 1)
    # frame f at p shows frame 0 at p − shift
    np.testing.assert_allclose(frame, ideal[margin + 2:margin + 2 + shape[0],
                                            margin - 3:margin - 3 + shape[1]], atol=2e-5)


def test_local_warp_matches_two_dimensional_interpolation_of_the_field():
    shape, margin = (200, 260), 16
    canvas, _ = _canvas(shape, margin)
    local = calc.LocalField(shape, (1.5, -0.8, 1.0, 0.7, -0.6), (-1.2, 0.9, 0.5, -0.4, 1.1),
                            (0.0, 0.6))
    shift = (2.3, -1.7)
    shifted = calc.shifted_canvas(canvas, shift)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    dx, dy = calc.evaluate_local_field(local, x, y, 1)
    reference = ndimage.map_coordinates(shifted.astype(np.float64),
                                        [y + margin - dy, x + margin - dx], order=1)
    frame = calc.render_frame(canvas, shift, local, 1)
    # separable passes differ from 2-D bilinear only at second order
    assert np.abs(frame - reference).max() < 0.02 * reference.std()
    band = calc.render_frame(canvas, shift, local, 1, rows=slice(50, 130), shifted=shifted)
    assert np.array_equal(band, frame[50:130])
