"""benchmarks/ctf.py: its errors against the truth, its ratios, and its CTFFIND path
(run here with the fake CTFFIND, which speaks the real protocol; no CTFFIND binary is
available to the tests)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise
from appion.ctfestimation.contract import CtfFit
from appion.ctfestimation.engines.ctffind import fit_from_columns, parse_output

from .session import FAKES, fake_env
from .test_ctffind5 import REFERENCE_TRUTH, SEARCH, SUMMARY

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "ctf.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_ctf", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_errors_are_signed_fit_minus_truth(bench):
    fit = CtfFit(15010.0, 13990.0, 95.0, 0.0, 0.9, 3.0)
    assert bench.errors(fit, (15000.0, 14000.0, -88.0)) == {
        "mean_defocus_error_a": 0.0, "astigmatism_error_a": 20.0, "azimuth_error_deg": 3.0,
        "fit_resolution_a": 3.0}


def test_ratios_compare_absolute_errors_and_seconds(bench):
    builtin = {"mean_defocus_error_a": -1.0, "astigmatism_error_a": 4.0,
               "azimuth_error_deg": 0.1, "seconds": 0.3}
    ctffind = {"mean_defocus_error_a": 2.0, "astigmatism_error_a": -8.0,
               "azimuth_error_deg": 0.0, "seconds": 1.2}
    assert bench.ratios(builtin, ctffind) == {"mean_defocus_error_a": 0.5,
                                              "astigmatism_error_a": 0.5,
                                              "azimuth_error_deg": None, "seconds": 0.25}


def test_recorded_ctffind_answer_is_the_reference_runs(bench):
    recorded = fit_from_columns(parse_output(SUMMARY)[0])
    assert (bench.RECORDED_CTFFIND["defocus_1_a"], bench.RECORDED_CTFFIND["defocus_2_a"],
            bench.RECORDED_CTFFIND["azimuth_deg"], bench.RECORDED_CTFFIND["fit_resolution_a"]
            ) == (recorded.defocus_1_a, recorded.defocus_2_a, recorded.azimuth_deg,
                  recorded.fit_resolution_a)
    assert bench.REFERENCE_TRUTH == REFERENCE_TRUTH and bench.REFERENCE_SEARCH == SEARCH


def test_ctffind_runs_on_the_same_input_through_the_engine(bench, tmp_path, monkeypatch):
    for key, value in fake_env(dict(os.environ)).items():
        monkeypatch.setenv(key, value)
    truth = (15000.0, 14000.0, 30.0)
    image = ctf_filtered_noise((1024, 1024), 1.0, *truth, seed=2)
    entry = bench.compare(image, bench.NOISE_SEARCH, truth, str(FAKES / "ctffind"),
                          str(tmp_path))
    assert set(entry) == {"builtin", "ctffind", "ratios"}
    assert entry["ctffind"]["version"] == "5.0.2"
    assert abs(entry["ctffind"]["mean_defocus_error_a"]) < 20.0  # the fake fits for real
    assert set(entry["ratios"]) == {"mean_defocus_error_a", "astigmatism_error_a",
                                    "azimuth_error_deg", "seconds"}


def test_without_ctffind_only_the_builtin_runs(bench, tmp_path):
    truth = (15000.0, 14000.0, 30.0)
    image = ctf_filtered_noise((1024, 1024), 1.0, *truth, seed=2)
    entry = bench.compare(image, bench.NOISE_SEARCH, truth, None, str(tmp_path))
    assert set(entry) == {"builtin"}
    assert abs(entry["builtin"]["mean_defocus_error_a"]) < 5.0
