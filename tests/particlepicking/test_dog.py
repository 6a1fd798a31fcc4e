"""The DoG picker's pieces: classic DoG arithmetic, blobs, overlaps, edges, binning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from appion.base.errors import UsageError
from appion.particlepicking.calc.internal import dog
from appion.particlepicking.calc.internal.matching import match_picks, score_picks
from appion.particlepicking.contract import DogOptions


def test_e_of_k_and_k_increment_follow_classic_formulas():
    k = 1.2
    assert dog.e_of_k(k) == pytest.approx(math.sqrt((k * k - 1) / (2 * k * k * math.log(k))))
    assert dog.kfactor_for_range(10.0, 5.0, 3) == pytest.approx(
        (0.25 + math.sqrt(0.25 ** 2 + 1)) ** (2 / 3))
    with pytest.raises(UsageError):
        dog.e_of_k(1.0)


def test_slices_centre_on_the_radius():
    sigmas, radii = dog.blur_sigmas_px(20.0, 1.1, 3)
    assert len(sigmas) == 4 and len(radii) == 3
    assert radii[1] == pytest.approx(20.0)
    assert sigmas[1] / sigmas[0] == pytest.approx(1.1)


def test_fourier_dog_matches_gaussian_filters():
    image = np.random.default_rng(0).standard_normal((96, 120)).astype(np.float32)
    maps = dog.gaussian_differences(image, [3.0, 3.6])
    expected = (ndimage.gaussian_filter(image.astype(np.float64), 3.0, mode="reflect",
                                        truncate=6.0)
                - ndimage.gaussian_filter(image.astype(np.float64), 3.6, mode="reflect",
                                          truncate=6.0))
    inner = np.s_[12:-12, 12:-12]
    assert np.abs(maps[0][inner] - expected[inner]).max() < 2e-3 * np.abs(expected).max() + 1e-4


def test_bin_image_takes_block_means():
    image = np.arange(36, dtype=np.float32).reshape(6, 6)
    binned = dog.bin_image(image, 3)
    assert binned.shape == (2, 2)
    assert binned[0, 0] == pytest.approx(image[:3, :3].mean())
    assert dog.to_unbinned(np.array([0.0]), 4)[0] == pytest.approx(1.5)


def test_find_blobs_drops_big_and_border_blobs_and_too_much_coverage():
    values = np.zeros((100, 100), dtype=np.float32)
    values[40:43, 50:53] = 1.0           # small blob
    values[41, 51] = 2.0
    values[2:5, 2:5] = 1.0               # inside the border
    values[70:90, 10:40] = 1.0           # too big
    blobs = dog.find_blobs(values, 0.5, max_area_px=100)
    assert len(blobs) == 1 and blobs.height[0] == 2.0
    assert 40 < blobs.y[0] < 42.5 and 50 < blobs.x[0] < 52.5
    assert (blobs.max_y[0], blobs.max_x[0]) == (41, 51)
    assert blobs.mean[0] == pytest.approx(10.0 / 9.0)
    assert len(dog.find_blobs(np.ones((50, 50), np.float32), 0.5, 100)) == 0


def test_overlap_removes_every_peak_with_a_stronger_neighbour():
    peaks = dog.Peaks(np.array([0.0, 10.0, 20.0, 100.0]), np.zeros(4),
                      np.array([1.0, 2.0, 3.0, 0.5]), np.full(4, 5.0))
    kept = dog.remove_overlaps(peaks, 12.0)
    # classic: 10 goes (20 is stronger), 0 goes (10 is stronger, though it went too)
    assert sorted(kept.x_px.tolist()) == [20.0, 100.0]


def test_edge_and_max_threshold_and_max_peaks():
    peaks = dog.Peaks(np.array([5.0, 50.0, 60.0]), np.array([50.0, 50.0, 60.0]),
                      np.array([1.0, 3.0, 2.0]), np.full(3, 5.0))
    assert dog.remove_edge_peaks(peaks, (100, 100), 10.0).x_px.tolist() == [50.0, 60.0]
    assert dog.below_max_threshold(peaks, 2.5).score.tolist() == [1.0, 2.0]
    with_means = dog.Peaks(peaks.x_px, peaks.y_px, peaks.score, peaks.radius_px,
                           np.array([0.5, 1.0, 3.0]))
    assert dog.below_max_threshold(with_means, 2.5).score.tolist() == [1.0, 3.0]
    assert dog.strongest(peaks, 2).score.tolist() == [3.0, 2.0]


def _disc_image(centres, radius_px, shape=(512, 640), value=-1.0):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.zeros(shape, dtype=np.float32)
    for cx, cy in centres:
        image[(x - cx) ** 2 + (y - cy) ** 2 <= radius_px ** 2] = value
    return image + np.random.default_rng(1).normal(0, 0.3, shape).astype(np.float32)


def test_pick_dog_finds_dark_discs_with_invert():
    centres = [(120, 100), (300, 260), (500, 400), (200, 380)]
    image = _disc_image(centres, 20)
    options = DogOptions(diameter_a=40.0, bin=2, invert=True, threshold=0.5, median=0)
    picks = dog.pick_dog(image, 1.0, options).picks
    match = score_picks(np.array([[p.x, p.y] for p in picks]), np.array(centres), 10.0)
    assert match.recall == 1.0 and match.precision == 1.0
    assert all(p.diameter_a == pytest.approx(40.0) for p in picks)
    assert picks[0].score >= picks[-1].score


def test_several_slices_give_several_diameters():
    centres = [(120, 100), (300, 260), (500, 400)]
    image = _disc_image(centres, 20)
    options = DogOptions(diameter_a=40.0, bin=2, invert=True, threshold=0.5, median=0,
                         num_slices=3, size_range=20.0)
    picks = dog.pick_dog(image, 1.0, options).picks
    assert score_picks(np.array([[p.x, p.y] for p in picks]), np.array(centres), 10.0
                       ).recall == 1.0
    with pytest.raises(UsageError):
        dog.pick_dog(image, 1.0, DogOptions(diameter_a=40.0, num_slices=3))


def test_matching_is_one_to_one():
    rows, cols = match_picks(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.5, 0.0]]), 2.0)
    assert len(rows) == 1
    match = score_picks(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.5, 0.0]]), 2.0)
    assert match.precision == 0.5 and match.recall == 1.0
