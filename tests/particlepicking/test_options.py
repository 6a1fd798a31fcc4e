"""dogPicker.py's flags: classic defaults and dests, and classic's checks as one-line errors."""

from __future__ import annotations

import argparse

import pytest

from appion.base.errors import UsageError
from appion.particlepicking.cli import options


def _parse(args: list[str], pipeline: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    if pipeline:  # motion correction's --bin is already there
        parser.add_argument("--bin", dest="bin", type=float, default=1.0)
    options.add_options(parser, pipeline=pipeline)
    return parser.parse_args(args)


def test_classic_defaults():
    picked = options.step_options(_parse(["--diam", "150"]))
    dog = picked.dog
    assert picked.engine == "dog" and picked.label == "dog"
    assert (dog.diameter_a, dog.bin, dog.threshold, dog.max_threshold) == (150.0, 4, 0.5, 2.5)
    assert (dog.max_peaks, dog.max_size, dog.overlap_mult, dog.kfactor) == (1500, 1.0, 1.5, 1.2)
    assert (dog.median, dog.pixel_value_limit, dog.invert) == (0, 0.0, False)
    assert dog.num_slices is None and dog.size_range is None
    assert dog.peak_type == "centerofmass"


def test_classic_spellings_and_values():
    namespace = _parse(["--pdiam", "120", "--binval", "2", "--minthresh", "0.7",
                        "--maxthresh", "3", "--medianval", "3", "--pixlimit", "4.5",
                        "--invert", "--numslices", "3", "--sizerange", "50",
                        "--maxpeaks", "20", "--overlapmult", "2", "--peaktype", "maximum"])
    assert (namespace.diam, namespace.bin, namespace.thresh) == (120, 2, 0.7)
    dog = options.step_options(namespace).dog
    assert (dog.bin, dog.threshold, dog.max_threshold, dog.median) == (2, 0.7, 3.0, 3)
    assert (dog.pixel_value_limit, dog.invert, dog.num_slices, dog.size_range) == (
        4.5, True, 3, 50.0)
    assert (dog.max_peaks, dog.overlap_mult, dog.peak_type) == (20, 2.0, "maximum")


def test_pipeline_names_the_engine_and_binning_apart():
    namespace = _parse(["--bin", "2", "--pick-bin", "8", "--pick-engine", "dog",
                        "--diam", "100"], pipeline=True)
    assert namespace.bin == 2.0  # motion correction's
    assert options.step_options(namespace).dog.bin == 8
    with pytest.raises(SystemExit):
        _parse(["--engine", "dog"], pipeline=True)


def test_topaz_settings():
    picked = options.step_options(_parse(["--diam", "150", "--engine", "topaz",
                                          "--topaz-threshold", "-1.5", "--device", "cpu"]))
    assert (picked.engine, picked.label, picked.topaz_threshold, picked.device) == (
        "topaz", "topaz", -1.5, "cpu")
    assert picked.topaz_model == "resnet16"


@pytest.mark.parametrize(("args", "words"), [
    ([], "--diam is required"),
    (["--diam", "0"], "positive"),
    (["--diam", "100", "--bin", "0"], "--bin 0"),
    (["--diam", "100", "--numslices", "15", "--sizerange", "50"], "too many"),
    (["--diam", "100", "--numslices", "3"], "needs --sizerange"),
    (["--diam", "100", "--numslices", "3", "--sizerange", "198"], "twice the diameter"),
    (["--diam", "100", "--kfactor", "1.0"], "--kfactor"),
    (["--diam", "100", "--maxpeaks", "0"], "--maxpeaks"),
    (["--diam", "100", "--defocpair"], "--defocpair"),
    (["--diam", "100", "--planereg"], "--planereg"),
])
def test_classic_checks_are_one_line_errors(args, words):
    with pytest.raises(UsageError) as error:
        options.step_options(_parse(args))
    assert words in str(error.value) and "\n" not in str(error.value)


def test_size_range_at_the_classic_limit_is_accepted():
    dog = options.step_options(_parse(["--diam", "100", "--numslices", "3",
                                       "--sizerange", "197"])).dog
    assert dog.size_range == 197.0


def test_lowpass_is_ignored_with_a_warning(caplog):
    dog = options.step_options(_parse(["--diam", "100", "--lp", "15"])).dog
    assert dog.diameter_a == 100.0
    assert "--lowpass 15.0 is ignored" in caplog.text
