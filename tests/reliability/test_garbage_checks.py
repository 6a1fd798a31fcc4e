"""The checks of numbers read from files and of the results made from them, one by one."""

from __future__ import annotations

import math
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import tifffile

from appion.base.calc.internal import validate
from appion.base.errors import InputFileError, is_retryable


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and not is_retryable(error.value)
    return text


# ----------------------------------------------------------------------------- validate

def test_value_range_and_count_see_nan_and_inf():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert validate.value_range(image) == (0.0, 11.0)
    image[1, 2], image[2, 3] = np.nan, -np.inf
    assert math.isnan(validate.value_range(image)[0])
    assert validate.count_non_finite(image) == 2
    assert validate.count_non_finite(np.zeros(4, np.uint16)) == 0


def test_sample_sees_a_bad_frame_but_not_every_pixel():
    frame = np.ones((128, 64), np.float32)
    assert validate.sample_is_finite(frame)
    assert validate.sample_is_finite(np.zeros((8, 8), np.uint8))
    frame[validate.SAMPLE_ROWS, 5] = np.nan  # on a sampled row
    assert not validate.sample_is_finite(frame)
    frame[validate.SAMPLE_ROWS, 5] = 1.0
    frame[1, 1] = -np.inf  # between sampled rows: only the full check of the sum finds it
    assert validate.sample_is_finite(frame)
    frame[40:40 + validate.SAMPLE_ROWS] = np.nan  # a band as tall as the stride: always seen
    assert not validate.sample_is_finite(frame)
    assert not validate.sample_is_finite(np.full((4, 4), np.inf, np.float16))


@pytest.mark.parametrize("value, words", [
    (np.nan, "x: 1 value is NaN or infinite; fix it"),
    (np.inf, "x: 1 value is NaN or infinite; fix it"),
])
def test_check_finite_names_the_count(value, words):
    image = np.ones((4, 4), np.float32)
    image[1, 1] = value
    with pytest.raises(InputFileError) as error:
        validate.check_finite(image, "x", "fix it")
    assert _one_line(error) == words
    image[:] = value
    with pytest.raises(InputFileError, match="16 of its 16 values are NaN"):
        validate.check_finite(image, "x", "fix it")


@pytest.mark.parametrize("image, words", [
    (np.zeros((8, 8), np.uint16), "is constant (0 everywhere): it holds no image"),
    (np.full((8, 8), 2.5, np.float32), "is constant (2.5 everywhere)"),
    (np.full((8, 8), np.nan, np.float32), "64 of its 64 values are NaN or infinite"),
])
def test_check_image_refuses_constant_and_non_finite(image, words):
    with pytest.raises(InputFileError) as error:
        validate.check_image(image, "image", "check it")
    assert words in _one_line(error)


def test_check_image_accepts_a_varying_image():
    validate.check_image(np.arange(16, dtype=np.uint16).reshape(4, 4), "image")
    validate.check_finite(np.zeros((4, 4), np.float32), "dark")


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_a_gain_must_be_positive_on_average(value):
    with pytest.raises(InputFileError) as error:
        validate.check_positive_mean(np.full((4, 4), value, np.float32), "gain g.mrc")
    assert "not a positive gain" in _one_line(error)
    validate.check_positive_mean(np.full((4, 4), 1.0, np.float32), "flat gain")  # plausible


def test_check_in_range_and_number():
    validate.check_in_range(5000.0, 5000.0, 9000.0, "defocus", "hint")
    validate.check_in_range(4990.0, 5000.0, 9000.0, "defocus", "hint", tolerance=10.0)
    with pytest.raises(InputFileError, match="defocus 1000 is outside the search range "
                                             "5000–9000; hint"):
        validate.check_in_range(1000.0, 5000.0, 9000.0, "defocus", "hint")
    with pytest.raises(InputFileError, match="defocus is nan; hint"):
        validate.check_in_range(math.nan, 5000.0, 9000.0, "defocus", "hint")
    with pytest.raises(InputFileError, match="score is inf"):
        validate.check_number(math.inf, "score", "hint")


# ----------------------------------------------------------------------------- references

def test_gain_dark_and_defect_checks():
    from appion.motioncorrection.calc.internal import gain
    good = np.full((4, 4), 1.0, np.float32)
    assert gain.check_gain(good, "g.mrc") is good
    assert gain.check_dark(np.zeros((4, 4), np.float32), "d.mrc") is not None
    bad = good.copy()
    bad[2, 2] = np.nan
    for check, what in ((gain.check_gain, "gain reference g.mrc"),
                        (gain.check_dark, "dark reference g.mrc"),
                        (gain.check_defect_map, "defect map g.mrc")):
        with pytest.raises(InputFileError, match=f"^{what}: 1 value is NaN"):
            check(bad, "g.mrc")


# ----------------------------------------------------------------------------- movies

def _eer(path: Path, raw_frames: int = 8, declared: int | None = None) -> Path:
    from appion.simulation import eer
    rng = np.random.default_rng(0)
    frames = [eer.frame_from_coordinates(rng.uniform(0, 32, 100), rng.uniform(0, 32, 100),
                                         (32, 32)) for _ in range(raw_frames)]
    eer.write_eer(path, frames, shape=(32, 32),
                  metadata={"numberOfFrames": declared or raw_frames})
    return path


def _truncate(path: Path, size: int) -> Path:
    with open(path, "r+b") as stream:
        stream.truncate(size)
    return path


def test_a_whole_eer_opens_and_a_cut_one_does_not(tmp_path):
    from appion.motioncorrection.engines.movie_io import open_movie
    path = _eer(tmp_path / "good.eer")
    with open_movie(str(path), "eer") as movie:
        assert movie.raw_frames == 8
    size = path.stat().st_size
    for cut in (size // 3, size // 2, size - 30):
        _truncate(_eer(tmp_path / "cut.eer"), cut)
        with pytest.raises(InputFileError) as error:
            open_movie(str(tmp_path / "cut.eer"), "eer")
        assert "truncated" in _one_line(error) or "not a readable EER" in str(error.value)


def test_an_eer_with_fewer_frames_than_declared_is_truncated(tmp_path):
    from appion.motioncorrection.engines.movie_io import open_movie
    path = _eer(tmp_path / "short.eer", raw_frames=6, declared=8)
    with pytest.raises(InputFileError) as error:
        open_movie(str(path), "eer")
    assert "is truncated: 6 of the 8 frames its header declares" in _one_line(error)


def test_a_tiff_strip_past_the_end_is_truncated(tmp_path):
    from appion.motioncorrection.engines.movie_io import open_movie
    path = tmp_path / "movie.tif"
    frames = np.random.default_rng(0).poisson(3.0, (4, 32, 32)).astype(np.uint8)
    tifffile.imwrite(path, frames)  # uncompressed: strips first, one IFD chain
    with tifffile.TiffFile(path) as tif:
        last = tif.pages[-1]
        end = last.dataoffsets[0] + last.databytecounts[0]
    _truncate(path, end - 10)
    with pytest.raises(InputFileError) as error:
        open_movie(str(path), "tiff")
    assert "truncated" in _one_line(error)


def test_float_mrc_frames_are_sampled_as_decoded(tmp_path):
    from appion.motioncorrection.engines.movie_io import open_movie
    frames = np.ones((3, 64, 64), np.float32)
    frames[1, :2] = np.nan  # two rows, the first of them sampled
    with mrcfile.new(tmp_path / "m.mrc") as mrc:
        mrc.set_data(frames)
    with open_movie(str(tmp_path / "m.mrc"), "mrc") as movie:
        movie.read(0)
        with pytest.raises(InputFileError) as error:
            movie.read(1)
    assert "m.mrc frame 2: 128 of its 4096 values are NaN or infinite" in _one_line(error)


def test_frame_sum_and_aligned_sum_checks():
    from appion.motioncorrection.engines.builtin_engine import check_aligned_sums, check_frame_sum
    with pytest.raises(InputFileError, match="movie m.tif: the sum of its 5 frames is "
                                             "constant"):
        check_frame_sum(np.zeros((8, 8), np.uint16), "m.tif", 5)
    plain = np.arange(64, dtype=np.float32).reshape(8, 8)
    check_aligned_sums(plain, plain.copy(), "m.tif")
    weighted = plain.copy()
    weighted[0, 0] = np.nan
    with pytest.raises(InputFileError, match="^the dose-weighted sum of m.tif: 1 value"):
        check_aligned_sums(plain, weighted, "m.tif")


def test_engine_sums_with_nan_are_removed(tmp_path):
    from appion.motioncorrection.engines.motioncor import check_written_sums
    plain, weighted = tmp_path / "s.mrc", tmp_path / "s_DW.mrc"
    for path, value in ((plain, 1.0), (weighted, np.nan)):
        data = np.arange(16, dtype=np.float32).reshape(4, 4)
        data[0, 0] = value
        with mrcfile.new(path) as mrc:
            mrc.set_data(data)
    check_written_sums("motioncor2", "m.tif", str(plain))
    with pytest.raises(InputFileError) as error:
        check_written_sums("motioncor2", "m.tif", str(plain), str(weighted))
    assert _one_line(error).startswith("the motioncor2 sum s_DW.mrc of m.tif: 1 value is NaN")
    assert not plain.exists() and not weighted.exists()


# ----------------------------------------------------------------------------- CTF

def _search():
    from appion.ctfestimation.contract import SearchParameters
    return SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, defocus_min_a=5000.0,
                            defocus_max_a=30000.0, defocus_step_a=500.0)


def _fit(**changes):
    from appion.ctfestimation.contract import CtfFit
    values = {"defocus_1_a": 12000.0, "defocus_2_a": 11000.0, "azimuth_deg": 10.0,
              "phase_shift_rad": 0.0, "cross_correlation": 0.3, "fit_resolution_a": 5.0}
    return CtfFit(**{**values, **changes})


@pytest.mark.parametrize("changes, words", [
    ({"defocus_1_a": math.nan}, "defocus 1 (Å) is nan"),
    ({"defocus_2_a": 1000.0}, "defocus 2 (Å) 1000 is outside the search range 5000–30000"),
    ({"defocus_1_a": 40000.0}, "defocus 1 (Å) 40000 is outside"),
    ({"cross_correlation": math.nan}, "cross-correlation is nan"),
    ({"fit_resolution_a": math.inf}, "fit resolution is inf"),
    ({"azimuth_deg": math.nan}, "azimuth is nan"),
])
def test_a_fit_that_is_not_finite_or_leaves_the_range_fails(changes, words):
    from appion.ctfestimation.worker import check_fit
    with pytest.raises(InputFileError) as error:
        check_fit(_fit(**changes), _search(), "mic")
    assert _one_line(error).startswith(f"the CTF fit of mic: {words}")


def test_a_fit_inside_the_range_or_one_step_beyond_passes():
    from appion.ctfestimation.worker import check_fit
    check_fit(_fit(), _search(), "mic")
    check_fit(_fit(defocus_1_a=30400.0, defocus_2_a=4600.0), _search(), "mic")


def test_read_micrograph_refuses_a_constant_one(tmp_path):
    from appion.ctfestimation.worker import read_micrograph
    with mrcfile.new(tmp_path / "flat.mrc") as mrc:
        mrc.set_data(np.full((64, 64), 4.0, np.float32))
    with pytest.raises(InputFileError) as error:
        read_micrograph(str(tmp_path / "flat.mrc"))
    assert "flat.mrc is constant (4 everywhere)" in _one_line(error)
