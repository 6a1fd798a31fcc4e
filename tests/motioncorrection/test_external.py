"""MotionCor2/MotionCor3 wrapper: real logs, versions, command lines and a faithful fake."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest
import tifffile

from appion.base.errors import EngineError, InputFileError
from appion.motioncorrection.contract import MotionCorParameters
from appion.motioncorrection.engines import motioncor as mc

LOGS = Path(__file__).parent / "data" / "logs"


@pytest.mark.parametrize("name, count, first, last", [
    ("motioncor2-1.5.0.log", 16, (2.46, 8.51), (-1.32, -4.60)),
    ("motioncor2-1.6.4-eer.log", 16, (0.0, 0.0), (-3.79, -13.12)),
    ("motioncor2-job-29123499.log", 28, (-2.55, 5.76), (1.39, -1.61)),
    ("motioncor2-job-30117940.log", 40, (-1.18, 0.39), (0.25, 0.27)),
    ("motioncor2-job-30157838.log", 40, (0.77, 0.19), (0.41, -0.55)),
])
def test_parsers_read_real_logs(name, count, first, last):
    shifts = mc.parse_shifts((LOGS / name).read_text())
    assert len(shifts) == count
    assert shifts[0] == pytest.approx(first)
    assert shifts[-1] == pytest.approx(last)


def test_each_dialect_parser_ignores_the_other():
    old = (LOGS / "motioncor2-1.5.0.log").read_text()
    table = (LOGS / "motioncor2-1.6.4-eer.log").read_text()
    assert mc.parse_shifts_table(old) == ()
    assert mc.parse_shifts_150(table) == ()
    assert len(mc.parse_shifts_motioncor3(table)) == 16
    # 1.5.0 reports shifts about the middle frame: frame 9 of 16 is the reference
    assert mc.parse_shifts_150(old)[8] == (0.0, 0.0)


@pytest.mark.parametrize("text, version", [
    ("MotionCor2 version 1.6.4\n", (1, 6, 4)),
    ("MotionCor2 version 1.5.0", (1, 5, 0)),
    ("MotionCor3 version 1.1.1\n", (1, 1, 1)),
])
def test_version_lines(text, version):
    assert mc.parse_version(text) == version


def test_unreadable_and_old_versions_are_refused():
    with pytest.raises(EngineError, match="cannot read a MotionCor version"):
        mc.parse_version("Segmentation fault")
    with pytest.raises(EngineError, match="1.3.2 is not supported"):
        mc.check_version("motioncor2", (1, 3, 2))
    mc.check_version("motioncor2", (1, 4, 0))


def test_flags_are_validated_per_version():
    args = ["-InEer", "a.eer", "-OutMrc", "b.mrc", "-EerSampling", "2"]
    mc.validate_flags("motioncor2", (1, 6, 4), args)
    mc.validate_flags("motioncor3", (1, 0, 0), args)
    with pytest.raises(EngineError, match="has no flag -Nonsense"):
        mc.validate_flags("motioncor2", (1, 6, 4), ["-Nonsense", "1"])
    with pytest.raises(EngineError, match="-InEer .added in 1.4.0"):
        mc.validate_flags("motioncor2", (1, 3, 9), args)


def test_build_args_classic_order_and_formats():
    params = MotionCorParameters(
        input_path="in.eer", input_format="eer", output_path="out_c.mrc", gain_path="g.mrc",
        dark_path="d.mrc", fmintfile_path="int.txt", dose_weight=True, fm_dose=1.0912,
        pixel_size_a=0.8254, kv=300, patch=(7, 5), bfactor=(500.0, 100.0), ft_bin=2.0,
        rot_gain=1, flip_gain=1, eer_sampling=2, gpu_ids=(0, 1))
    args = mc.build_args(params)
    assert args[:4] == ["-InEer", "in.eer", "-OutMrc", "out_c.mrc"]
    flags = mc.args_as_flags(args)
    assert flags["FtBin"] == "2.0" and flags["Bft"] == "500 100"
    assert flags["FmDose"] == "1.091" and flags["PixSize"] == "0.825" and flags["kV"] == "300"
    assert flags["Gpu"] == "0 1" and flags["EerSampling"] == "2"
    assert flags["MaskSize"] == "1.000 1.000" and flags["Tol"] == "0.500"
    assert all(isinstance(token, str) for token in args)


def test_split_serial_log_gives_each_movie_its_piece():
    text = ("header\nmovie A\nCorrected sum has been saved in:\n   /r/a_c.mrc\n"
            "   /r/a_c_DW.mrc\nmovie B\nCorrected sum has been saved in:\n   /r/b_c.mrc\n"
            "Total time\n")
    pieces = mc.split_serial_log(text, ["/r/b_c.mrc", "/r/a_c.mrc"])
    assert pieces["/r/a_c.mrc"].startswith("header") and "a_c_DW" in pieces["/r/a_c.mrc"]
    assert pieces["/r/b_c.mrc"].startswith("movie B") and pieces["/r/b_c.mrc"].endswith(
        "Total time\n")
    with pytest.raises(EngineError, match="does not mention c_c.mrc"):
        mc.split_serial_log(text, ["/r/c_c.mrc"])


def _movie(path: Path, frames: int = 6, seed: int = 0) -> np.ndarray:
    data = np.random.default_rng(seed).poisson(2.0, (frames, 32, 48)).astype(np.uint8)
    tifffile.imwrite(path, data)
    return data


def _params(tmp_path: Path, name: str, **changes) -> MotionCorParameters:
    values = dict(input_path=str(tmp_path / f"{name}.frames.tif"), input_format="tiff",
                  output_path=str(tmp_path / f"{name}_c.mrc"), dose_weight=True,
                  fm_dose=1.2, pixel_size_a=1.0, kv=300, patch=(5, 5))
    values.update(changes)
    return MotionCorParameters(**values)


@pytest.mark.parametrize("engine, version, frames", [
    ("motioncor2", "1.5.0", 6), ("motioncor2", "1.6.4", 7), ("motioncor3", "1.1.1", 5)])
def test_run_with_fake_program(fake_bin, tmp_path, monkeypatch, engine, version, frames):
    monkeypatch.setenv("FAKE_MOTIONCOR_VERSION", version)
    data = _movie(tmp_path / "m.frames.tif", frames)
    params = _params(tmp_path, "m")
    result = mc.run_motioncor(params, image_id=7, call=mc.EngineCall(engine=engine),
                              log_path=str(tmp_path / "m.log"))
    assert result.engine == engine and result.engine_version == version
    assert len(result.shifts_px) == frames
    with mrcfile.open(result.aligned_path) as mrc:
        np.testing.assert_allclose(mrc.data, data.sum(axis=0))
    assert result.aligned_dw_path == str(tmp_path / "m_c_DW.mrc")
    assert (tmp_path / "m.log").read_text() == result.log_text


def test_unsupported_version_and_missing_inputs(fake_bin, tmp_path, monkeypatch):
    _movie(tmp_path / "m.frames.tif")
    monkeypatch.setenv("FAKE_MOTIONCOR_VERSION", "1.2.1")
    call = mc.EngineCall(engine="motioncor2")
    with pytest.raises(EngineError, match="motioncor2 1.2.1 is not supported"):
        mc.run_motioncor(_params(tmp_path, "m"), image_id=1, call=call)
    with pytest.raises(InputFileError, match="frames file .*gone.frames.tif is missing"):
        mc.run_motioncor(_params(tmp_path, "gone"), image_id=1, call=call)
    with pytest.raises(InputFileError, match="gain reference .*norm.mrc is missing"):
        mc.run_motioncor(_params(tmp_path, "m", gain_path=str(tmp_path / "norm.mrc")),
                         image_id=1, call=call)


def test_serial_batch_splits_the_log(fake_bin, tmp_path):
    sizes = {"a": 5, "b": 8, "c": 6}
    for seed, (name, frames) in enumerate(sizes.items()):
        _movie(tmp_path / f"{name}.frames.tif", frames, seed)
    batch = [(index, _params(tmp_path, name)) for index, name in enumerate(sizes)]
    logs = [str(tmp_path / f"{name}.log") for name in sizes]
    outcomes = mc.run_motioncor_serial(batch, call=mc.EngineCall(engine="motioncor2"),
                                       log_paths=logs)
    for (name, frames), outcome, log in zip(sizes.items(), outcomes, logs):
        assert len(outcome.shifts_px) == frames
        assert Path(outcome.aligned_path).name == f"{name}_c.mrc"
        assert Path(log).read_text().count("Corrected sum has been saved in:") == 2
