"""The built-in estimator recovers known CTFs from CTF-filtered noise images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appion.ctfestimation.calc.internal.ctf_model import (
    ctf_2d,
    ctf_filtered_noise,
    electron_wavelength_a,
)
from appion.ctfestimation.calc.internal.estimator import (
    estimate_ctf,
    normalize_convention,
    wrap_angle_deg,
)
from appion.ctfestimation.contract import SearchParameters


def _params(**overrides) -> SearchParameters:
    values = dict(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, amplitude_contrast=0.07, box=512,
                  resmin_a=30.0, resmax_a=5.0, defocus_min_a=3000.0, defocus_max_a=40000.0,
                  defocus_step_a=100.0, expected_astigmatism_a=1000.0)
    values.update(overrides)
    return SearchParameters(**values)


def _axis_difference(a: float, b: float) -> float:
    return abs(wrap_angle_deg(a - b))


def test_wavelength_matches_the_textbook_value_at_300_kv():
    assert electron_wavelength_a(300.0) == pytest.approx(0.019687, abs=2e-6)
    assert electron_wavelength_a(200.0) == pytest.approx(0.025079, abs=2e-6)


def test_ctf_2d_defocus_1_lies_along_the_azimuth():
    """Along the azimuth the first zero sits where defocus 1 puts it, not defocus 2."""
    shape, apix = (256, 256), 1.0
    ctf = ctf_2d(shape, apix, 20000.0, 10000.0, 90.0, 300.0, 0.0, 0.0, half=False)
    # Along y (azimuth 90°) the defocus is 20000 Å: first zero at s² = 1/(λ·Δf).
    first_zero = math.sqrt(1.0 / (electron_wavelength_a(300.0) * 20000.0))
    index = int(round(first_zero * shape[0] * apix))
    along_y = np.abs(ctf[:shape[0] // 2, 0])
    along_x = np.abs(ctf[0, :shape[1] // 2])
    assert int(np.argmin(along_y[5:40])) + 5 == pytest.approx(index, abs=1)
    assert along_x[index] > 0.5  # perpendicular: defocus 2, no zero there


@pytest.mark.parametrize("truth", [
    (15000.0, 14000.0, 30.0, 1.0, 80.0),
    (20000.0, 18500.0, -50.0, 0.5, 100.0),
    (8000.0, 7800.0, 70.0, 0.3, 60.0),
])
def test_recovers_defocus_and_astigmatism(truth):
    defocus_1, defocus_2, azimuth, snr, bfactor = truth
    image = ctf_filtered_noise((1024, 1024), 1.0, defocus_1, defocus_2, azimuth,
                               signal_to_noise=snr, bfactor_a2=bfactor, seed=3)
    fit = estimate_ctf(image, _params(resmax_a=6.0)).fit
    assert fit.defocus_1_a == pytest.approx(defocus_1, abs=40.0)
    assert fit.defocus_2_a == pytest.approx(defocus_2, abs=40.0)
    assert _axis_difference(fit.azimuth_deg, azimuth) < 3.0
    assert fit.cross_correlation > 0.3
    assert 2.0 <= fit.fit_resolution_a < 8.0


def test_low_contrast_low_defocus_within_100_angstrom():
    image = ctf_filtered_noise((2048, 2048), 1.0, 6000.0, 5900.0, 10.0,
                               signal_to_noise=0.03, bfactor_a2=80.0, seed=5)
    fit = estimate_ctf(image, _params()).fit
    mean = 0.5 * (fit.defocus_1_a + fit.defocus_2_a)
    assert mean == pytest.approx(5950.0, abs=100.0)


def test_finds_an_additional_phase_shift():
    image = ctf_filtered_noise((1024, 1024), 1.0, 9000.0, 8600.0, 20.0, phase_shift_rad=1.2,
                               signal_to_noise=1.0, seed=7)
    params = _params(find_phase_shift=True, phase_min_rad=0.0, phase_max_rad=math.pi,
                     phase_step_rad=0.2)
    fit = estimate_ctf(image, params).fit
    assert fit.phase_shift_rad == pytest.approx(1.2, abs=0.1)
    assert 0.5 * (fit.defocus_1_a + fit.defocus_2_a) == pytest.approx(8800.0, abs=100.0)


def test_pure_noise_scores_low():
    noise = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    fit = estimate_ctf(noise, _params()).fit
    assert fit.cross_correlation < 0.1


def test_convention_puts_the_larger_defocus_first():
    assert normalize_convention(10000.0, 12000.0, 80.0) == (12000.0, 10000.0, -10.0)
    assert normalize_convention(12000.0, 10000.0, 95.0) == (12000.0, 10000.0, -85.0)
    assert wrap_angle_deg(-90.0) == 90.0


@pytest.mark.parametrize("bad", [dict(resmax_a=40.0), dict(resmax_a=1.0),
                                 dict(defocus_min_a=9000.0, defocus_max_a=8000.0),
                                 dict(box=63)])
def test_impossible_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        _params(**bad).check()


# -- small simulated micrographs, classic search ranges (issue 6 follow-up) ------------------
#
# A K3 "small" exposure: 1024×720 pixels of 0.826 Å at 50 e/Å², searched as classic
# ctffind4.py does it from the scope's defocus (centre ∓ 0.1 µm·25, floor one step) with
# its default --dast (100 "µm": no astigmatism restraint at all).  The unbounded 2D
# refinement used to return one defocus negative and the other at 76–100 µm.

K3_SMALL = dict(shape=(720, 1024), pixel_size_a=0.826)


def _classic_search(centre_a: float, resmax_a: float) -> SearchParameters:
    return _params(pixel_size_a=K3_SMALL["pixel_size_a"], resmin_a=50.0, resmax_a=resmax_a,
                   defocus_min_a=max(centre_a - 25000.0, 1000.0),
                   defocus_max_a=centre_a + 25000.0, defocus_step_a=1000.0,
                   expected_astigmatism_a=1e6)


def test_a_spectrum_without_rings_cannot_leave_the_search_range():
    noise = np.random.default_rng(2).poisson(34.0, K3_SMALL["shape"]).astype(np.float32)
    search = _classic_search(19000.0, 15.0)
    fit = estimate_ctf(noise, search).fit
    assert search.defocus_min_a <= fit.defocus_2_a <= fit.defocus_1_a <= search.defocus_max_a


@pytest.mark.parametrize("truth", [(10985.0, 10321.0, 26.2), (19172.0, 18798.0, 103.9),
                                   (27112.0, 26834.0, 40.9)])
def test_small_simulated_micrograph_at_classic_range(truth):
    """At 1 µm, 50–15 Å holds no Thon ring zero; to 8 Å it holds three, enough for 300 Å."""
    from appion.simulation.calc import CtfParameters, make_micrograph
    defocus_1, defocus_2, azimuth = truth
    image = make_micrograph(K3_SMALL["shape"], K3_SMALL["pixel_size_a"],
                            CtfParameters(defocus_1, defocus_2, azimuth, bfactor_a2=40.0),
                            seed=1, dose=50.0)
    fit = estimate_ctf(image, _classic_search(0.5 * (defocus_1 + defocus_2), 8.0)).fit
    assert fit.defocus_1_a == pytest.approx(defocus_1, abs=300.0)
    assert fit.defocus_2_a == pytest.approx(defocus_2, abs=300.0)


@pytest.mark.parametrize("box, shape, used", [
    (512, (720, 1024), 512),     # fits: kept
    (1024, (720, 1024), 720),    # K3 subregion: 720 = 2⁴·3²·5
    (1024, (719, 1024), 648),    # odd side: the largest even 5-smooth size below
    (4096, (3710, 3838), 3600),  # a K2 full frame
])
def test_a_box_larger_than_the_image_shrinks_to_a_fast_size(box, shape, used):
    from appion.ctfestimation.calc.internal.spectrum import fitting_box
    assert fitting_box(box, shape) == used


def test_an_image_smaller_than_the_smallest_box_is_refused():
    from appion.ctfestimation.calc.internal.spectrum import fitting_box
    with pytest.raises(ValueError, match="smaller than the smallest spectrum box"):
        fitting_box(512, (60, 1024))


@pytest.mark.parametrize("kv, amplitude_contrast", [(300.0, 0.07), (200.0, 0.1)])
def test_the_simulator_takes_its_ctf_from_the_fits_model(kv, amplitude_contrast, monkeypatch):
    """The simulator's CTF is ctf_model's (sign, azimuth, amplitude contrast, wavelength)."""
    from appion.ctfestimation.calc.internal import ctf_model
    from appion.simulation.calc import CtfParameters, ctf_values
    shape, apix = (90, 128), 0.826
    truth = CtfParameters(21000.0, 19500.0, 37.5, kv, 2.7, amplitude_contrast, 0.0)
    ky, kx = ctf_model.frequency_grid(shape, apix, half=True)
    expected = ctf_2d(shape, apix, 21000.0, 19500.0, 37.5, kv, 2.7, amplitude_contrast,
                      half=True)
    np.testing.assert_allclose(ctf_values(truth, ky, kx), expected, atol=1e-9)
    # and it calls that model rather than a copy: a changed chi changes the simulator
    monkeypatch.setattr(ctf_model, "chi", lambda *args, **kwargs: 0.5 * math.pi)
    np.testing.assert_allclose(ctf_values(truth, ky, kx), -1.0, atol=1e-12)


@pytest.mark.parametrize("last_ring_a", [6.0, 3.5])
def test_fit_resolution_ends_where_the_rings_end(last_ring_a):
    """A profile that follows sin²(chi) out to a spacing and is noise beyond it is
    "fitted up to" that spacing (within a ring), by CTFFIND's rule."""
    from appion.ctfestimation.calc.internal.estimator import Profile1D, fit_resolution_a

    params = SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, box=512, resmin_a=30.0,
                              resmax_a=3.0, defocus_min_a=5000.0, defocus_max_a=50000.0)
    frequencies = np.arange(257) / 512.0
    wavelength = 0.0197
    chi = math.pi * wavelength * 15000.0 * frequencies ** 2
    model = np.sin(chi) ** 2
    rng = np.random.default_rng(3)
    observed = np.where(frequencies <= 1.0 / last_ring_a, model, 0.0)
    observed = observed + 0.05 * rng.normal(size=observed.size)
    profile = Profile1D(frequencies, observed, model, np.zeros_like(model),
                        np.ones_like(model), chi)
    found = fit_resolution_a(profile, params)
    ring = 1.0 / math.sqrt(1.0 / (wavelength * 15000.0) + 1.0 / last_ring_a ** 2)
    assert ring * 0.97 <= found <= last_ring_a * 1.05
