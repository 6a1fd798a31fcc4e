"""Classic parameter rules that the production cases do not exercise."""

from __future__ import annotations

import numpy as np
import pytest

from appion.motioncorrection.calc.internal import params as P


def test_fmintfile_lines_with_and_without_remainder():
    assert P.fmintfile_lines(1539, 96, 0.0336) == ["3\t3\t0.034", "1539\t96\t0.034"]
    assert P.fmintfile_lines(40, 4, 1.35) == ["40\t4\t1.350"]


def test_dose_rules():
    assert P.calc_total_dose(54.0, 5.4e21) == 54.0
    assert P.calc_total_dose(None, 5.4546e21) == pytest.approx(54.546)
    assert P.calc_total_dose(None, None) is None
    assert P.calc_fm_dose(None, 40, 4, fmintfile=True) == pytest.approx(0.12)  # 0.03 × 4
    assert P.calc_fm_dose(None, 40) is None
    assert P.calc_fm_dose(54.0, 40, 10, fmintfile=True) == pytest.approx(13.5)


def test_pixel_size_takes_newest_calibration_not_newer_than_image():
    history = [("2024-07-31 15:13:09", 4.13e-11), ("2022-09-02 14:49:10", 4.2215e-11),
               ("2026-01-01 00:00:00", 9e-11)]
    assert P.calc_pixel_size(history, "2025-03-19 13:03:11", 2) == pytest.approx(0.826)
    assert P.calc_pixel_size(history, "2023-01-01 00:00:00", 1) == pytest.approx(0.42215)
    assert P.calc_pixel_size(history, "2020-01-01 00:00:00", 1) is None


def test_throw_trunc_and_ftbin():
    assert P.calc_throw_trunc(40) == (0, 0)
    assert P.calc_throw_trunc(40, 2, 30) == (2, 8)
    with pytest.raises(ValueError):
        P.calc_throw_trunc(10, 12)
    assert P.calc_ft_bin(1.0, "eer", 2) == 2.0 and P.calc_ft_bin(2.0, "tiff", 2) == 2.0


def test_input_format_and_candidates():
    assert P.frames_candidates("/f/", "x") == ["/f/x.frames.mrc", "/f/x.frames.tif",
                                               "/f/x.frames.eer", "/f/x.frames"]
    assert [P.input_flag(P.input_format(p)) for p in ("a.frames.tif", "a.frames.eer",
                                                      "a.frames.mrc", "a.frames")] == [
        "-InTiff", "-InEer", "-InMrc", "-InMrc"]


def test_defect_map_is_oriented_like_the_frames():
    # Leginon's bad pixels are (x, y); classic makeDefectMrc turns the map by
    # rot90(4 - frame rotate) and then flips it up-down when frame flip is set.
    mask = P.defect_map((4, 6), (1,), (5,), ((0, 3),), rot_gain=1, flip_gain=0)
    leginon = np.zeros((4, 6), np.uint8)
    leginon[1, :] = leginon[:, 5] = leginon[3, 0] = 1
    np.testing.assert_array_equal(mask, np.rot90(leginon, 3))
    flipped = P.defect_map((4, 6), (1,), (5,), ((0, 3),), rot_gain=1, flip_gain=1)
    np.testing.assert_array_equal(flipped, np.flipud(np.rot90(leginon, 3)))
    half_turn = P.defect_map((4, 6), (1,), (5,), ((0, 3),), rot_gain=2, flip_gain=1)
    np.testing.assert_array_equal(half_turn, np.fliplr(leginon))
    assert P.parse_pixel_sequence("((3, 0), (1, 2))") == ((3, 0), (1, 2))
    assert P.parse_sequence(None) == () and P.parse_sequence("(1151, 1152)") == (1151, 1152)


def test_dark_per_frame_and_sum_orientation():
    np.testing.assert_array_equal(P.dark_per_frame(None, None, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_allclose(P.dark_per_frame(np.full((2, 2), 8.0), 4, (2, 2)), 2.0)
    image = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(P.sum_to_leginon_orientation(image, 0, 1, True), image)
    np.testing.assert_array_equal(P.sum_to_leginon_orientation(image, 1, 0, True),
                                  np.rot90(image[::-1]))


def test_motioncorr_convention_and_stats():
    positions = P.motioncorr_positions([(0.0, 0.0), (2.0, 0.0), (4.0, 2.0)], ft_bin=2.0)
    assert positions == [(1.0, 0.0), (0.0, 0.0), (-1.0, -1.0)]
    top, median = P.frame_shift_stats(positions)
    assert top[0] == (pytest.approx(np.hypot(1, 1)), 1) and median == pytest.approx(
        (1 + np.hypot(1, 1)) / 2)
    log = P.motioncorr_log(positions)
    assert log.splitlines()[0] == "Sum Frame #000 - #002 (Reference Frame #001):"
    assert log.splitlines()[1] == "......Add Frame #000 with xy shift: 1.00000 0.00000"
