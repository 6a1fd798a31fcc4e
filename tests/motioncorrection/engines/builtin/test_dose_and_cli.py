"""Dose weighting against Grant & Grigorieff (2015), and the `appion motioncor` command."""

from __future__ import annotations

import json
import math

import mrcfile
import numpy as np
import pytest

from appion.motioncorrection.calc.internal import dose_weighting as dw

from .conftest import make_movie, write_mrc, write_tiff


def test_critical_exposure_is_the_published_formula():
    for k in (0.05, 0.1, 0.25, 0.5):
        assert dw.critical_exposure(np.array(k)) == pytest.approx(0.245 * k ** -1.665 + 2.81)
    assert dw.critical_exposure(np.array(0.1), kv=200) == pytest.approx(
        0.8 * (0.245 * 0.1 ** -1.665 + 2.81))


def test_weights_follow_exp_minus_half_exposure_over_critical():
    shape, apix, mids = (32, 32), 1.0, dw.frame_mid_exposures([1.5] * 6)
    assert list(mids) == pytest.approx([0.75, 2.25, 3.75, 5.25, 6.75, 8.25])
    weights = dw.dose_weights(shape, apix, mids)
    iy, ix = 5, 3  # k = √(5² + 3²)/32 per Å
    k = math.hypot(5, 3) / 32
    raw = [math.exp(-n / (2 * (0.245 * k ** -1.665 + 2.81))) for n in mids]
    norm = math.sqrt(len(raw) / sum(w * w for w in raw))
    assert weights[:, iy, ix] == pytest.approx([w * norm for w in raw], rel=1e-5)
    assert weights[:, 0, 0] == pytest.approx([1.0] * 6)  # the mean is kept


def test_cli_json_shifts_and_outputs(tmp_path, cli):
    movie = make_movie(shape=(192, 256), nframes=10, seed=4)
    path = write_tiff(tmp_path / "movie.tif", movie.frames)
    out = tmp_path / "out.mrc"
    done = cli(["appion", "motioncor", str(path), "--out", str(out), "--json",
                "--dose-per-frame", "1.2", "--apix", "1.1", "--kv", "300", "--ftbin", "2",
                "--threads", "1", "--log", str(tmp_path / "out.log")])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    shifts = np.array(report["shifts_px"])
    assert shifts.shape == (10, 2)
    assert np.sqrt(np.mean(np.sum((shifts - movie.shifts) ** 2, axis=1))) < 0.1
    for name in ("out.mrc", "out_DW.mrc"):
        with mrcfile.open(tmp_path / name) as mrc:
            assert mrc.data.shape == (96, 128) and mrc.data.dtype == np.float32
            assert float(mrc.voxel_size.x) == pytest.approx(2.2)
    log = (tmp_path / "out.log").read_text()
    assert "  Frame   x Shift   y Shift\n    1      0.000      0.000\n" in log
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("case,args,message", [
    ("missing", ["nothere.mrc"], "does not exist"),
    ("truncated", ["cut.mrc"], "not a complete MRC file"),
    ("gain", ["movie.mrc", "--gain", "gain.mrc"], "is 64×48 but the frames are 48×64"),
])
def test_cli_errors_are_one_line(tmp_path, cli, case, args, message):
    frames = np.random.default_rng(0).poisson(2.0, (4, 64, 48)).astype(np.uint16)
    full = write_mrc(tmp_path / "movie.mrc", frames)
    (tmp_path / "cut.mrc").write_bytes(full.read_bytes()[:5000])
    with mrcfile.new(tmp_path / "gain.mrc") as mrc:
        mrc.set_data(np.ones((48, 64), np.float32))
    done = cli(["appion", "motioncor", *args, "--out", str(tmp_path / "o.mrc")], cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "o.mrc").exists()
