"""The conversions the exports make (pure): CTF convention, shifts, motion, optics groups."""

from __future__ import annotations

import dataclasses
import random

import pytest

from appion.ctfestimation.calc.internal.classic import ctffind_fit_to_ctfdata
from appion.export.calc.exposure import CtfFit, Exposure, Movie, accumulated_motion_a
from appion.export.calc.relion import optics_groups, relion_ctf, relion_shifts
from appion.motioncorrection.calc.internal.params import motioncorr_positions


def _exposure(**changes) -> Exposure:
    base = Exposure(source_id=1, name="img", session_id=1, preset="enn", camera="k3",
                    aligned_id=2, aligned_path="/x/img-a.mrc", aligned_dw_path=None,
                    aligned_pixel_size_a=1.0, positions=(), movie=Movie(None, 8, 8, 4, 1.0),
                    voltage_kv=300.0, total_dose=8.0)
    return dataclasses.replace(base, **changes)


def test_relion_ctf_inverts_the_classic_mapping_of_ctffind_output():
    rng = random.Random(4)
    for _ in range(200):
        df1, df2 = rng.uniform(5000, 40000), rng.uniform(5000, 40000)
        azimuth = rng.uniform(-180, 180)
        row = ctffind_fit_to_ctfdata(df1, df2, azimuth, 0.0, 0.1, 4.0)
        star = relion_ctf(CtfFit(1, row["defocus1"], row["defocus2"],
                                 row["angle_astigmatism"], 4.0, 0.5, 0.1, 2.7, 0.07))
        assert star["rlnDefocusU"] == pytest.approx(max(df1, df2))
        assert star["rlnDefocusV"] == pytest.approx(min(df1, df2))
        along = azimuth if df1 >= df2 else azimuth + 90.0  # the larger defocus' direction
        assert abs((star["rlnDefocusAngle"] - along + 90.0) % 180.0 - 90.0) < 1e-9
        assert star["rlnCtfAstigmatism"] == pytest.approx(abs(df1 - df2))


def test_relion_shifts_undo_classic_positions_in_unbinned_pixels():
    engine = [(0.0, 0.0), (1.5, -0.5), (2.5, -1.0), (3.0, -2.0)]  # MotionCor2 log, movie px
    for binning in (1.0, 2.0):
        positions = tuple(motioncorr_positions(engine, binning))  # what the store keeps
        exposure = _exposure(positions=positions, aligned_pixel_size_a=binning)
        assert [v for shift in relion_shifts(exposure) for v in shift] == pytest.approx(
            [v for shift in engine for v in shift])


def test_accumulated_motion_splits_at_four_electrons():
    positions = ((0.0, 0.0), (3.0, 4.0), (3.0, 5.0), (3.0, 7.0))  # steps 5, 1, 2 px
    total, early, late = accumulated_motion_a(_exposure(positions=positions,
                                                        aligned_pixel_size_a=0.5))
    # 2 e/Å² per frame: RELION's cutoff frame is 4 / 2 = 2, so only the step to frame 2
    assert (total, early, late) == (4.0, 2.5, 1.5)


def test_one_optics_group_per_preset_camera_and_pixel_size():
    exposures = [_exposure(), _exposure(source_id=2), _exposure(preset="esn"),
                 _exposure(aligned_pixel_size_a=2.0)]
    groups = optics_groups(exposures)
    assert len(groups) == 3 and sorted(groups.values()) == [1, 2, 3]
