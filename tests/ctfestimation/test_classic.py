"""Classic ctffind4.py parameter rules and ApCtfData conversions (pure functions)."""

from __future__ import annotations

import math

import pytest

from appion.ctfestimation.calc.internal import classic
from appion.ctfestimation.calc.internal.classic import PriorCtf


def test_ctffind_columns_map_as_classic():
    values = classic.ctffind_columns_to_ctfdata((1, 21000.0, 20000.0, 30.0, 0.5, 0.25, math.inf))
    assert values["defocus2"] == pytest.approx(21000e-10)
    assert values["defocus1"] == pytest.approx(20000e-10)
    assert values["angle_astigmatism"] == 120.0
    assert values["extra_phase_shift"] == 0.5
    assert values["confidence_d"] == pytest.approx(0.5)
    assert values["ctffind4_resolution"] == classic.INFINITE_RESOLUTION


@pytest.mark.parametrize("fit,expected", [
    ((21000.0, 20000.0, 30.0), (20000e-10, 21000e-10, -60.0)),
    ((21000.0, 20000.0, -80.0), (20000e-10, 21000e-10, 10.0)),
    ((20000.0, 20000.0, 0.0), (20000e-10, 20000e-10, 90.0)),
])
def test_fit_to_ctfdata_keeps_defocus1_smaller_and_angle_in_range(fit, expected):
    values = classic.ctffind_fit_to_ctfdata(*fit, 0.0, 0.2, 4.0)
    assert (values["defocus1"], values["defocus2"]) == pytest.approx(expected[:2])
    assert values["angle_astigmatism"] == pytest.approx(expected[2])
    assert -90.0 < values["angle_astigmatism"] <= 90.0


def test_swap_adds_ninety_degrees():
    values = classic.apply_ctfdata_convention(
        {"defocus1": -3e-6, "defocus2": 2e-6, "angle_astigmatism": 80.0})
    assert (values["defocus1"], values["defocus2"]) == (2e-6, 3e-6)
    assert values["angle_astigmatism"] == pytest.approx(-10.0)


def test_round_trip_back_to_ctffind_convention():
    values = classic.ctffind_fit_to_ctfdata(21000.0, 20000.0, 33.0, 0.0, 0.2, 4.0)
    assert classic.ctfdata_to_ctffind_fit(values) == pytest.approx((21000.0, 20000.0, 33.0))


def test_search_centre_prefers_nominal_then_prior_then_scope():
    prior = PriorCtf(1.5e-6, 1.4e-6, 0.1, 4.0, 6.0, 0.5)
    assert classic.search_center_a(2.0, prior, -3e-6) == 20000.0
    assert classic.search_center_a(None, prior, -3e-6) == pytest.approx(14000.0)
    assert classic.search_center_a(None, None, -3e-6) == pytest.approx(30000.0)


def test_range_is_numstep_steps_each_side_and_never_negative():
    low, high = classic.defocus_range_a(20000.0, 0.05, 25)
    assert (low, high) == pytest.approx((7500.0, 32500.0))
    low, high = classic.defocus_range_a(5000.0, 0.1, 25)
    assert (low, high) == pytest.approx((1000.0, 30000.0))


def test_bestdb_reuses_prior_values():
    prior = PriorCtf(1.50e-6, 1.47e-6, 0.1, 4.0, 6.0, 0.5)
    choice = classic.apply_bestdb(prior, 0.07, 0.05, 30.0, 8.0)
    assert choice.amplitude_contrast == 0.1
    assert choice.expected_astigmatism_a == pytest.approx(300.0)
    assert choice.resmax == pytest.approx((4.0 * 6.0 * 8.0) ** (1 / 3))
    round_prior = PriorCtf(1.5e-6, 1.5e-6, 0.0, 80.0, 50.0, 0.1)
    choice = classic.apply_bestdb(round_prior, 0.07, 0.05, 30.0, 8.0)
    assert (choice.amplitude_contrast, choice.expected_astigmatism_a, choice.resmax) == (
        0.07, pytest.approx(500.0), 8.0)


@pytest.mark.parametrize("resmin,resmax,defstep,bad", [
    (50, 15, 0.1, False), (30, 4, 0.0001, False), (60, 10, 0.1, True), (30, 16, 0.1, True),
    (12, 14, 0.1, True), (30, 5, 1000.0, True),
])
def test_ctffind4_ranges(resmin, resmax, defstep, bad):
    assert (classic.check_ctffind4_ranges(resmin, resmax, defstep) is not None) is bad


def test_confidence_is_the_maximum_score():
    values = {"confidence": 0.16, "confidence_d": 0.4, "confidence_5_peak": 0.7,
              "confidence_30_10": 0.3}
    assert classic.classic_confidence(values) == 0.7


def test_reprocess_semantics():
    assert classic.should_reprocess(None, 0.8)
    assert classic.should_reprocess(0.5, 0.8)
    assert not classic.should_reprocess(0.9, 0.8)
    assert not classic.should_reprocess(0.5, None)


def test_best_prior_is_highest_inverse_res80_then_confidence():
    rows = [{"id": 1, "resolution_80_percent": 6.0, "confidence": 0.9},
            {"id": 2, "resolution_80_percent": 4.0, "confidence": 0.5},
            {"id": 3, "resolution_80_percent": None, "confidence": 0.99}]
    assert classic.best_prior(rows)["id"] == 2
    assert classic.best_prior([rows[2]])["id"] == 3
    assert classic.best_prior([]) is None
