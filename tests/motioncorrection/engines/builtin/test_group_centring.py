"""Alignment groups (-Group): a group's measured shift belongs to its middle frame.

An even group around frame i measures the motion at i + 1/2, and the clamped groups
of the first and last frames measure frames further in; the updates are moved onto
the frames by linear interpolation (and extrapolation at the ends).
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
    (6, 1, [0, 1, 2, 3, 4, 5]),
    (6, 2, [0.5, 1.5, 2.5, 3.5, 4.5, 4.5]),
    (6, 3, [1, 1, 2, 3, 4, 4]),
    (3, 5, [1, 1, 1]),
])
def test_group_centres(count, group, expected):
    np.testing.assert_allclose(alignment.group_centres(count, group), expected)


@pytest.mark.parametrize("group", [2, 3, 4])
def test_linear_motion_measured_by_groups_lands_on_each_frame(group):
    count = 9
    truth = np.stack([0.7 * np.arange(count), -0.4 * np.arange(count) + 2.0], axis=1)
    centres = alignment.group_centres(count, group)
    measured = np.stack([0.7 * centres, -0.4 * centres + 2.0], axis=1)  # what groups see
    np.testing.assert_allclose(alignment.at_frames(measured, centres), truth, atol=1e-12)


def test_single_frames_are_left_alone():
    updates = np.random.default_rng(0).normal(size=(5, 2))
    assert alignment.at_frames(updates, np.arange(5.0)) is updates


def test_pairs_of_frames_follow_the_true_drift(tmp_path):
    """Group 2 on a drifting movie: without moving the updates to the frames, every
    shift carries half a frame's drift (minus frame 0's), over a pixel here."""
    movie = make_movie(shape=(256, 288), nframes=14, seed=2, step=2.0)
    path = write_mrc(tmp_path / "movie.mrc", movie.frames)
    params = MotionCorParameters(str(path), "mrc", str(tmp_path / "sum.mrc"), pixel_size_a=1.0,
                                 group=2, patch=(0, 0))
    result = run_builtin(params, threads=1)
    assert rmse(result.shifts_px, movie.shifts) < 0.35
