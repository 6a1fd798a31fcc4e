"""Alignment accuracy on simulated movies: global shifts and a local deformation field."""

from __future__ import annotations

import numpy as np
import pytest

from appion.motioncorrection.calc.internal import alignment
from appion.motioncorrection.contract import MotionCorParameters
from appion.motioncorrection.engines.builtin_engine import run_builtin

from .conftest import make_movie, write_mrc


def rmse(measured, truth) -> float:
    return float(np.sqrt(np.mean(np.sum((np.asarray(measured) - truth) ** 2, axis=1))))


def test_subpixel_peak_finds_a_known_offset():
    yy, xx = np.mgrid[0:64, 0:64]
    for x0, y0 in [(0.3, -0.2), (-2.45, 3.1), (5.0, 0.0)]:
        ry = (yy - y0 + 32) % 64 - 32
        rx = (xx - x0 + 32) % 64 - 32
        cc = np.exp(-(rx ** 2 + ry ** 2) / 4.0)
        x, y = alignment.subpixel_peak(cc)
        assert abs(x - x0) < 0.02 and abs(y - y0) < 0.02


def _sharp_cross(shape, x0, y0, seed):
    """The rfft2 cross-spectrum of a 1/k scene and its copy moved by (x0, y0): a cusp-like
    peak a pixel or two wide, as on binned frames."""
    rng = np.random.default_rng(seed)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = 1
    scene = np.fft.rfft2(rng.normal(size=shape)) / k
    moved = scene * np.exp(-2j * np.pi * (kx * x0 + ky * y0))
    return (np.conj(scene) * moved).astype(np.complex64)


@pytest.mark.parametrize(("seed", "x0", "y0"), [(0, 0.37, -0.21), (1, -1.62, 2.45),
                                                (2, 3.5, 0.1), (3, 0.0, -0.5)])
def test_a_sharp_peak_is_refined_on_the_upsampled_correlation(seed, x0, y0):
    """Three pixels of a cusp-like peak put it up to 0.06 px off; the matrix-DFT grid
    around it finds it within 0.005 px."""
    shape = (96, 128)
    cross = _sharp_cross(shape, x0, y0, seed)
    coarse = alignment.subpixel_peaks(np.fft.irfft2(cross, s=shape)[None])
    refined = alignment.refine_peaks(cross[None], shape, coarse)
    assert np.hypot(*(refined[0] - (x0, y0))) < 0.005


@pytest.mark.parametrize("seed", [1, 2])
def test_global_shifts_within_a_tenth_of_a_pixel(tmp_path, seed):
    movie = make_movie(shape=(256, 288), nframes=14, seed=seed)
    path = write_mrc(tmp_path / "movie.mrc", movie.frames)
    params = MotionCorParameters(str(path), "mrc", str(tmp_path / "sum.mrc"), pixel_size_a=1.0)
    result = run_builtin(params, threads=1)
    assert len(result.shifts_px) == 14
    assert result.shifts_px[0] == (0.0, 0.0)
    assert rmse(result.shifts_px, movie.shifts) < 0.1


def test_aligned_sum_is_sharper_than_the_plain_sum(tmp_path):
    import mrcfile
    movie = make_movie(shape=(256, 256), nframes=10, step=2.0)
    path = write_mrc(tmp_path / "movie.mrc", movie.frames)
    params = MotionCorParameters(str(path), "mrc", str(tmp_path / "sum.mrc"), pixel_size_a=1.0)
    run_builtin(params, threads=1)
    aligned = mrcfile.read(tmp_path / "sum.mrc")
    expected = movie.scene * len(movie.frames)
    naive = movie.frames.sum(axis=0)
    def corr(a):
        return np.corrcoef(a.ravel(), expected.ravel())[0, 1]

    assert corr(aligned) > 0.9 > corr(naive)


def _field(x, y, t, size=256.0):
    """A smooth local field: rotation-like swirl growing with time (pixels)."""
    u, v = x / size - 0.5, y / size - 0.5
    return 2.0 * (t / 11) * v, -2.0 * (t / 11) * u


def test_patch_alignment_recovers_a_local_field(tmp_path):
    movie = make_movie(shape=(256, 256), nframes=12, mean=6.0, seed=3, local=_field)
    path = write_mrc(tmp_path / "movie.mrc", movie.frames)
    params = MotionCorParameters(str(path), "mrc", str(tmp_path / "sum.mrc"), pixel_size_a=1.0,
                                 patch=(3, 3), bfactor=(500.0, 150.0))
    result = run_builtin(params, threads=1)
    assert "Patch based alignment" in result.log_text
    aligned = _alignment(params)
    errors_local, errors_global = [], []
    for corner in [(48.0, 48.0), (208.0, 48.0), (48.0, 208.0), (208.0, 208.0)]:
        lx, ly = _field(np.array(corner[0]), np.array(corner[1]), 11)
        truth = movie.shifts[11] + np.array([lx, ly])
        errors_global.append(np.hypot(*(np.array(result.shifts_px[11]) - truth)))
        errors_local.append(np.hypot(*(np.array(aligned.shift_at(11, *corner)) - truth)))
    # global shifts follow the mean motion only; the local model adds the swirl
    assert min(errors_global) > 0.6
    assert np.mean(errors_local) < 0.25
    assert all(local < global_ / 2 for local, global_ in zip(errors_local, errors_global))


def _alignment(params):
    from appion.motioncorrection.calc.internal.gain import FrameCorrection
    from appion.motioncorrection.engines.builtin_engine import align_frames
    from appion.motioncorrection.engines.movie_io import open_movie
    with open_movie(params.input_path, "mrc") as movie:
        raws = [movie.read(i) for i in range(movie.nframes)]
    return align_frames(raws, FrameCorrection(), params, 1.0)


def test_motion_model_fit_is_exact_for_a_model_field():
    centres = alignment.patch_centres((100, 200), 5, 4)
    truth = alignment.MotionModel(np.random.default_rng(0).normal(0, 1, (2, 6, 3)),
                                  200.0, 100.0, 8)
    frames = np.arange(8)
    shifts = np.stack([truth.evaluate(np.full(8, cx), np.full(8, cy), frames)
                       for cx, cy in centres])
    fitted = alignment.fit_motion_model(centres, shifts, 200.0, 100.0)
    np.testing.assert_allclose(fitted.coefficients, truth.coefficients, atol=1e-8)


def test_fixed_hot_pixels_do_not_pin_the_alignment(tmp_path):
    """Hot pixels sit still while the scene drifts; left in, they pull shifts toward 0."""
    movie = make_movie(shape=(256, 256), nframes=10, seed=6, mean=2.0)
    frames = movie.frames.copy()
    rng = np.random.default_rng(6)
    for y, x in rng.integers(0, 256, (40, 2)):
        frames[:, y, x] = 3000
    path = write_mrc(tmp_path / "movie.mrc", frames)
    params = MotionCorParameters(str(path), "mrc", str(tmp_path / "sum.mrc"), pixel_size_a=1.0)
    result = run_builtin(params, threads=2)
    replaced = [line for line in result.log_text.splitlines() if "pixels replaced" in line]
    assert int(replaced[0].split(":")[1]) >= 40
    assert rmse(result.shifts_px, movie.shifts) < 0.15
