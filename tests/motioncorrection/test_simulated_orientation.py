"""The stored ``-a`` sums are in Leginon's orientation for every simulated camera.

Each camera stores its frames turned differently (K2: rotated; Falcon 4 EER: rotated
and flipped; DE: flipped).  The built-in engine corrects the frames where they
lie, and classic's turn-back must then give an image that matches the
simulator's integrated Leginon image, not one of its mirror images.
"""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

from appion.simulation.session import simulate_session


def _binned(image: np.ndarray, factor: int = 8) -> np.ndarray:
    rows, cols = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    binned = image[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    binned = binned.mean(axis=(1, 3))
    return (binned - binned.mean()) / binned.std()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(_binned(a) * _binned(b)))


@pytest.mark.parametrize("camera", ["k2", "falcon4-eer", "de"])
def test_builtin_sums_come_back_in_leginon_orientation(sqlite_db, tmp_path, cli, camera):
    import sinedon
    session = simulate_session(tmp_path / "sim", "sim26orient", camera=camera, exposures=1,
                               extras=False)
    exposure = session.images[0]
    rundir = tmp_path / "appion" / "ddstack1"
    done = cli(["makeDDAlignMotionCor2_UCSF.py", "--session=sim26orient", "--preset=enn",
                f"--projectid={sqlite_db.projectid}", f"--rundir={rundir}",
                "--runname=ddstack1", "--engine", "builtin", "--no-wait", "--max-workers=1"],
               env=sqlite_db.env)
    assert done.returncode == 0, done.stderr
    sqlite_db.setup()
    (pair,) = [row for row in sinedon.filter("ApDDAlignImagePairData",
                                              {"source": exposure.image_id})]
    aligned = sinedon.get("AcquisitionImageData", {"id": pair["result"]})
    leginon = mrcfile.read(str(exposure.mrc_path)).astype(np.float64)
    stored = mrcfile.read(str(session.image_path / f"{aligned['filename']}.mrc"))
    assert stored.shape == leginon.shape
    right = _correlation(stored, leginon)
    mirrors = [_correlation(turned, leginon) for turned in
               (stored[::-1], stored[:, ::-1], stored[::-1, ::-1])]
    assert right > 0.5 and right > max(mirrors) + 0.3, (right, mirrors)
