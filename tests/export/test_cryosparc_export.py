"""``appion export cryosparc``: a .cs dataset that cryosparc-tools loads, with the same
values as the RELION export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import starfile

from tests.export.processed import appion


def test_cs_file_loads_with_cryosparc_tools_and_matches_the_star_route(processed, tmp_path):
    from cryosparc.dataset import Dataset
    out = tmp_path / "cs"
    done = appion(["export", "cryosparc", "--session", "sim25feb02x", "--run", "ddstack1",
                   "--out", str(out)], processed.db)
    assert done.returncode == 0, done.stderr
    dataset = Dataset.load(str(out / "exposures.cs"))
    star = starfile.read(out / "micrographs_ctf.star")["micrographs"]
    assert len(dataset) == len(star) == len(processed.session.images)
    assert len(set(dataset["uid"])) == len(dataset)
    for index, row in star.iterrows():
        assert dataset["micrograph_blob/path"][index] == row.rlnMicrographName
        assert dataset["micrograph_blob_non_dw/path"][index] == row.rlnMicrographNameNoDW
        assert dataset["ctf/df1_A"][index] == pytest.approx(row.rlnDefocusU, abs=0.01)
        assert dataset["ctf/df2_A"][index] == pytest.approx(row.rlnDefocusV, abs=0.01)
        assert dataset["ctf/df_angle_rad"][index] == pytest.approx(
            math.radians(row.rlnDefocusAngle), abs=1e-5)
        assert dataset["ctf/accel_kv"][index] == 300.0
        assert dataset["ctf/cs_mm"][index] == pytest.approx(2.7)
        assert dataset["ctf_stats/ctf_fit_to_A"][index] == pytest.approx(
            row.rlnCtfMaxResolution, rel=1e-5)
        assert dataset["micrograph_blob/psize_A"][index] == pytest.approx(0.826)
        assert tuple(dataset["micrograph_blob/shape"][index]) == (720, 1024)
        motion = starfile.read(out / row.rlnMicrographMetadata)["global_shift"]
        trajectory = np.load(out / dataset["rigid_motion/path"][index])
        assert trajectory.shape == (1, len(motion), 2)
        assert np.allclose(trajectory[0, :, 0], motion.rlnMicrographShiftX, atol=1e-4)
        assert np.allclose(trajectory[0, :, 1], motion.rlnMicrographShiftY, atol=1e-4)
        assert dataset["rigid_motion/frame_end"][index] == len(motion)
