"""Alignment groups (-Group): frames are aligned as sums of consecutive groups, and a
group's shift belongs to its middle frame; the shifts are interpolated onto the frames
(and continued beyond the first and last middles), as MotionCor2 does.
"""

from __future__ import annotations

import numpy as np
import pytest

from appion.motioncorrection.calc.internal import alignment
from appion.motioncorrection.contract import MotionCorParameters
from appion.motioncorrection.engines.builtin_engine import run_builtin

from .conftest import make_movie, write_mrc


def rmse(measured, truth) -> float:
    return float(np.sqrt(np.mean(np.sum((np.asarray(measured) - truth) ** 2, axis=1))))


@pytest.mark.parametrize(("count", "group", "expected"), [
    (6, 1, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]),
    (6, 2, [(0, 2), (2, 4), (4, 6)]),
    (7, 3, [(0, 3), (3, 6), (6, 7)]),
    (14, 7, [(0, 7), (7, 14)]),
    (3, 5, [(0, 1), (1, 2), (2, 3)]),  # at least two groups
])
def test_frame_groups(count, group, expected):
    groups = alignment.frame_groups(count, group)
    assert [(members.start, members.stop) for members in groups] == expected


def test_group_centres_are_their_middle_frames():
    groups = alignment.frame_groups(7, 3)
    np.testing.assert_allclose(alignment.group_centres(groups), [1, 4, 6])


@pytest.mark.parametrize("group", [2, 3, 4])
def test_linear_motion_measured_by_groups_lands_on_each_frame(group):
    count = 9
    truth = np.stack([0.7 * np.arange(count), -0.4 * np.arange(count) + 2.0], axis=1)
    centres = alignment.group_centres(alignment.frame_groups(count, group))
    measured = np.stack([0.7 * centres, -0.4 * centres + 2.0], axis=1)  # what groups see
    np.testing.assert_allclose(alignment.frame_shifts(measured, centres, count), truth,
                               atol=1e-12)


def test_single_frames_keep_their_shifts():
    shifts = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_array_equal(alignment.frame_shifts(shifts, np.arange(5.0), 5), shifts)


def group_floor(truth: np.ndarray, group: int) -> float:
    """The RMSE of the best any group alignment can do: each group's true mean shift,
    interpolated onto the frames (frame 0 at 0) as the engine does."""
    groups = alignment.frame_groups(len(truth), group)
    centres = alignment.group_centres(groups)
    means = np.array([truth[members.start:members.stop].mean(axis=0) for members in groups])
    shifts = alignment.frame_shifts(means, centres, len(truth))
    return rmse(shifts - shifts[0], truth)


@pytest.fixture(scope="module")
def drifting_movie(tmp_path_factory):
    movie = make_movie(shape=(256, 288), nframes=14, seed=2, step=2.0)
    return movie, write_mrc(tmp_path_factory.mktemp("groups") / "movie.mrc", movie.frames)


@pytest.mark.parametrize("group", [1, 2, 3, 4, 5, 7])
def test_groups_follow_the_true_drift(tmp_path, drifting_movie, group):
    """Every -Group lands near what its group sums can tell (a sliding window per frame
    used to drift off by 1.4-7 px for groups of 3 to 5; two groups of 7 swung for ever)."""
    movie, path = drifting_movie
    params = MotionCorParameters(str(path), "mrc", str(tmp_path / "sum.mrc"), pixel_size_a=1.0,
                                 group=group, patch=(0, 0))
    result = run_builtin(params, threads=1)
    assert rmse(result.shifts_px, movie.shifts) < 1.2 * group_floor(movie.shifts, group) + 0.1
