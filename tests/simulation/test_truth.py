"""The ground truth agrees with the pixels: shifts, local field, defocus and orientation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
from scipy import ndimage, optimize

from appion.ctfestimation.calc.internal.ctf_model import frequency_grid
from appion.motioncorrection.calc.internal.orientation import gain_to_frame_orientation
from appion.simulation import calc

PIXEL_A = 1.0


def _integer_shift(reference: np.ndarray, moved: np.ndarray) -> tuple[int, int]:
    """Whole-pixel (x, y) displacement of ``moved``: the phase-correlation peak."""
    cross = scipy.fft.fft2(moved) * np.conj(scipy.fft.fft2(reference))
    correlation = np.real(scipy.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)))
    ny, nx = correlation.shape
    py, px = np.unravel_index(np.argmax(correlation), correlation.shape)
    return (px - nx if px > nx // 2 else px, py - ny if py > ny // 2 else py)


def _shift_between(reference: np.ndarray, moved: np.ndarray, border: int = 12
                   ) -> tuple[float, float]:
    """(x, y) displacement of ``moved`` relative to ``reference``, to a small fraction of a
    pixel: the shift that makes ``moved`` (cubic-spline resampled) match ``reference``."""
    coefficients = ndimage.spline_filter(moved.astype(np.float64), order=3)
    ny, nx = reference.shape
    y, x = np.mgrid[border:ny - border, border:nx - border].astype(np.float64)
    target = reference[border:ny - border, border:nx - border]

    def mismatch(shift):
        sampled = ndimage.map_coordinates(coefficients, [y + shift[1], x + shift[0]],
                                          order=3, prefilter=False)
        return float(np.mean((sampled - target) ** 2))

    start = np.array(_integer_shift(reference, moved), dtype=np.float64)
    best = optimize.minimize(mismatch, start, method="Nelder-Mead",
                             options={"xatol": 1e-4, "fatol": 1e-12})
    return float(best.x[0]), float(best.x[1])


def _canvas(shape, margin, seed=0, ctf=None):
    ctf = ctf or calc.CtfParameters(12000.0, 12000.0, 0.0, bfactor_a2=20.0)
    rng = np.random.default_rng(seed)
    padded = (shape[0] + 2 * margin, shape[1] + 2 * margin)
    return calc.make_canvas(calc.ideal_intensity(padded, PIXEL_A, ctf, rng), margin)


def _no_local(shape, nframes):
    return calc.LocalField(shape, (0.0,) * 5, (0.0,) * 5, (0.0,) * nframes)


def test_recovers_the_known_shift_between_two_noiseless_frames():
    shape = (256, 256)
    shifts = calc.global_trajectory(10, np.random.default_rng(4), 7.0)
    canvas = _canvas(shape, margin=16)
    local = _no_local(shape, 10)
    first = calc.render_frame(canvas, shifts[0], local, 0)
    last = calc.render_frame(canvas, shifts[9], local, 9)
    measured = _shift_between(first, last)
    assert np.allclose(shifts[0], 0.0)
    assert np.hypot(*shifts[9]) > 3.0
    assert measured == pytest.approx(tuple(shifts[9]), abs=0.02)


def test_local_field_moves_patches_by_the_evaluated_amount():
    shape = (512, 512)
    local = calc.LocalField(shape, (1.5, -0.8, 1.0, 0.7, -0.6), (-1.2, 0.9, 0.5, -0.4, 1.1),
                            (0.0, 1.0))
    canvas = _canvas(shape, margin=16, seed=1)
    zero = (0.0, 0.0)
    before = calc.render_frame(canvas, zero, local, 0)
    after = calc.render_frame(canvas, zero, local, 1)
    for y0, x0 in [(0, 0), (0, 384), (384, 0), (384, 384), (192, 192)]:
        patch = np.s_[y0:y0 + 128, x0:x0 + 128]
        measured = _shift_between(before[patch], after[patch])
        expected = calc.evaluate_local_field(local, x0 + 63.5, y0 + 63.5, 1)
        # the field varies across a patch, so allow for its curvature
        assert measured == pytest.approx((float(expected[0]), float(expected[1])), abs=0.1)


def _power_spectrum(image: np.ndarray) -> np.ndarray:
    return np.abs(scipy.fft.fft2(image - image.mean())) ** 2


def _ring_band(shape, low=1 / 12, high=1 / 3):
    ky, kx = frequency_grid(shape, PIXEL_A)
    g = np.hypot(ky, kx)
    return ky, kx, (g > low) & (g < high)


def _fit_score(spectrum, ctf, ky, kx, band):
    model = calc.ctf_values(ctf, ky, kx)[band] ** 2
    return np.corrcoef(model, spectrum[band])[0, 1]


def test_recovers_a_known_defocus_from_a_noiseless_power_spectrum():
    truth = calc.CtfParameters(17350.0, 17350.0, 0.0, kv=300.0, cs_mm=2.7)
    image = calc.make_micrograph((512, 512), PIXEL_A, truth, seed=5)
    assert image.dtype == np.float32 and image.mean() == pytest.approx(1.0, abs=0.01)
    spectrum = _power_spectrum(image)
    ky, kx, band = _ring_band(image.shape)
    radius = np.hypot(ky, kx)[band]
    bins = np.linspace(radius.min(), radius.max(), 200)
    which = np.digitize(radius, bins)
    profile = np.bincount(which, spectrum[band]) / np.maximum(np.bincount(which), 1)
    g = np.bincount(which, radius) / np.maximum(np.bincount(which), 1)
    used = np.bincount(which) > 0
    candidates = np.arange(5000.0, 40000.0, 25.0)
    scores = [np.corrcoef(calc.ctf_values(calc.CtfParameters(d, d, 0.0), 0.0, g[used]) ** 2,
                          profile[used])[0, 1] for d in candidates]
    assert candidates[int(np.argmax(scores))] == pytest.approx(17350.0, abs=50.0)


@pytest.mark.parametrize("azimuth", [20.0, 75.0, 140.0])
def test_astigmatism_azimuth_follows_the_ctffind_convention(azimuth):
    truth = calc.CtfParameters(21000.0, 15000.0, azimuth)
    spectrum = _power_spectrum(calc.make_micrograph((512, 512), PIXEL_A, truth, seed=2))
    ky, kx, band = _ring_band(spectrum.shape)
    angles = np.arange(0.0, 180.0, 5.0)
    scores = [_fit_score(spectrum, calc.CtfParameters(21000.0, 15000.0, a), ky, kx, band)
              for a in angles]
    assert angles[int(np.argmax(scores))] == pytest.approx(azimuth, abs=5.0)


@pytest.mark.parametrize("rotate,flip", [(1, 0), (1, 1), (3, 0), (0, 1), (2, 2)])
def test_azimuth_transforms_with_the_frame_orientation(rotate, flip):
    leginon = calc.CtfParameters(21000.0, 15000.0, 30.0)
    image = calc.make_micrograph((384, 384), PIXEL_A, leginon, seed=3)
    frame = gain_to_frame_orientation(image, rotate, flip)
    spectrum = _power_spectrum(frame)
    ky, kx, band = _ring_band(spectrum.shape)
    expected = calc.azimuth_after_orientation(30.0, rotate, flip)
    assert calc.azimuth_before_orientation(expected, rotate, flip) == pytest.approx(30.0)
    angles = np.arange(0.0, 180.0, 5.0)
    scores = [_fit_score(spectrum, calc.CtfParameters(21000.0, 15000.0, a), ky, kx, band)
              for a in angles]
    assert angles[int(np.argmax(scores))] == pytest.approx(expected, abs=5.0)


def test_ctf_parameters_follow_ctffind_ordering():
    with pytest.raises(ValueError, match="defocus_1_a must be >= defocus_2_a"):
        calc.CtfParameters(10000.0, 12000.0, 0.0)
    ctf = calc.sample_ctf(np.random.default_rng(0), (1.0, 3.0), kv=300.0, cs_mm=2.7)
    assert ctf.defocus_1_a >= ctf.defocus_2_a
    assert 10000.0 <= 0.5 * (ctf.defocus_1_a + ctf.defocus_2_a) <= 30000.0


def test_noisy_micrograph_has_the_dose():
    ctf = calc.CtfParameters(15000.0, 15000.0, 0.0)
    counts = calc.make_micrograph((256, 256), 0.8, ctf, seed=1, dose=40.0)
    assert counts.mean() == pytest.approx(40.0 * 0.8 ** 2, rel=0.02)


def test_exposure_names_are_leginon_shaped_and_unique():
    names = [calc.exposure_name("sim25jan01a", i, "enn") for i in range(60)]
    assert len(set(names)) == 60
    assert names[0] == "sim25jan01a_00001gr_00012sq_v01_00001hl_00001enn"
    assert calc.leginon_sequence((1151, 1152)) == "(1151, 1152)"
    assert calc.leginon_sequence([(12, 34), (56, 78)]) == "[(12, 34), (56, 78)]"
    assert calc.leginon_sequence([]) == "[]"
