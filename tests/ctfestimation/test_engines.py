"""CTFFIND (4.1 and 5, driven by prompt text) and Gctf engines against fakes that speak
the real protocols and compute a real fit."""

from __future__ import annotations

import math
import os
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from appion.base.errors import EngineError
from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise
from appion.ctfestimation.contract import CtfTask, GctfOptions, SearchParameters
from appion.ctfestimation.engines import ctffind, gctf

from .session import fake_env

TRUTH = (14000.0, 13200.0, 25.0)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for key, value in fake_env(dict(os.environ)).items():
        monkeypatch.setenv(key, value)
    image = ctf_filtered_noise((1024, 1024), 1.0, *TRUTH, seed=2)
    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(image)
    with mrcfile.new(tmp_path / "movie.mrc") as mrc:
        mrc.set_data(np.stack([image, image]))
    return tmp_path


def _params(workdir: Path, name: str = "mic", **overrides) -> CtfTask:
    search = SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, box=512, resmin_a=30.0,
                              resmax_a=6.0, defocus_min_a=5000.0, defocus_max_a=30000.0,
                              expected_astigmatism_a=1000.0)
    values = dict(image_id=1, engine="ctffind4", micrograph_path=f"{name}.mrc",
                  output_dir=str(workdir), name=name, search=search, defocus_init_a=0.0,
                  timeout_s=60.0)
    values.update(overrides)
    return CtfTask(**values)


@pytest.mark.parametrize("executable,chosen,version", [
    ("ctffind", "", "5.0.2"), ("ctffind5", "", "5.0.2"), ("ctffind4", "", "4.1.14"),
    ("ctffind", "4", "4.1.14")])
def test_ctffind_versions_are_driven_by_prompt_text(workdir, monkeypatch, executable, chosen,
                                                    version):
    monkeypatch.setenv("FAKE_CTFFIND_VERSION", chosen)
    output = ctffind.run_ctffind(_params(workdir), executable)
    assert output.engine_version == version
    assert output.fit.defocus_1_a == pytest.approx(TRUTH[0], abs=50)
    assert output.fit.defocus_2_a == pytest.approx(TRUTH[1], abs=50)
    assert Path(output.diagnostic_path).is_file()
    assert "Pixel size [1.0]" in output.log_text and "\x1b" not in output.log_text
    assert ("Determine samnple thickness?" in output.log_text) == version.startswith("5")
    assert (output.sample_thickness_a is not None) == version.startswith("5")


def test_movie_input_gets_the_movie_questions(workdir):
    params = _params(workdir, name="movie", is_movie=True, num_frame_avg=2)
    output = ctffind.run_ctffind(params, "ctffind5")
    assert "Input is a movie (stack of frames) [No]" in output.log_text
    assert "Number of frames to average together [1]" in output.log_text
    assert output.fit.defocus_1_a == pytest.approx(TRUTH[0], abs=50)


def test_phase_plate_answers(workdir):
    search = SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, box=512, resmax_a=6.0,
                              defocus_min_a=5000.0, defocus_max_a=30000.0,
                              find_phase_shift=True, phase_min_rad=0.0, phase_max_rad=1.0,
                              phase_step_rad=0.2)
    output = ctffind.run_ctffind(_params(workdir, search=search), "ctffind")
    assert "Phase shift search step [0.5]" in output.log_text
    assert 0.0 <= output.fit.phase_shift_rad <= 1.0


@pytest.mark.parametrize("version", ["5", "4"])
@pytest.mark.parametrize("mode,message", [
    ("unknown", "question Appion does not know: 'Use the flux capacitor\\?'"),
    ("nodefault", "prompt Appion cannot read: 'Flux capacitor setting'"),
    ("crash", r"failed \(exit status -11\) .* after the prompt 'Do you want to set expert"),
    ("hang", "did not finish within 5 s")])
def test_ctffind_failures_are_one_clear_error(workdir, monkeypatch, version, mode, message):
    monkeypatch.setenv("FAKE_CTFFIND_VERSION", version)
    monkeypatch.setenv("FAKE_CTFFIND_MODE", mode)
    with pytest.raises(EngineError, match=message) as caught:
        ctffind.run_ctffind(_params(workdir, timeout_s=5.0), "ctffind")
    assert "\n" not in str(caught.value)


def test_a_rejected_answer_is_an_error_not_a_loop(workdir):
    search = SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, box=96, resmax_a=6.0)
    with pytest.raises(EngineError, match="rejected the answer '96' to 'Size of amplitude "
                       "spectrum to compute': Error: Number outside of acceptable range!"):
        ctffind.run_ctffind(_params(workdir, search=search), "ctffind")


def test_missing_executable_names_the_fix(workdir):
    with pytest.raises(EngineError, match="not found on PATH"):
        ctffind.run_ctffind(_params(workdir), "ctffind-nonexistent")


def test_parse_ctffind_41_output_header_and_row():
    text = ("# Output from CTFFind version 4.1.14, run on 2024-01-01 10:00:00\n"
            "# Columns: #1 - micrograph number; ...\n"
            "1.000000 21000.5 20000.25 -33.5 0.000000 0.1875 inf\n")
    values, version = ctffind.parse_output(text)
    fit = ctffind.fit_from_columns(values)
    assert version == "4.1.14"
    assert (fit.defocus_1_a, fit.defocus_2_a, fit.azimuth_deg) == (21000.5, 20000.25, -33.5)
    assert math.isinf(fit.fit_resolution_a)
    assert ctffind.extras_from_columns(values) == (None, None, None)
    with pytest.raises(EngineError):
        ctffind.parse_output("# only a header\n")
    with pytest.raises(EngineError, match="has 8 columns, expected 7 .* or 10"):
        ctffind.parse_output("1 2 3 4 5 6 7 8\n")


def test_gctf_command_line_is_classic():
    params = CtfTask(1, "gctf", "mic.mrc", ".", "mic", SearchParameters(
        pixel_size_a=1.06, kv=300.0, cs_mm=2.7, amplitude_contrast=0.1, box=1024,
        resmin_a=50.0, resmax_a=4.0, defocus_min_a=5000.0, defocus_max_a=30000.0,
        defocus_step_a=500.0, expected_astigmatism_a=1000.0), 0.0,
        gctf=GctfOptions(do_EPA=True, local_refine=True))
    command = gctf.gctf_command("gctf", params, "mic.mrc")
    flags = dict(zip(command[1:-1:2], command[2:-1:2]))
    assert flags["--apix"] == "1.0600" and flags["--kv"] == "300.0"
    assert flags["--resL"] == "50.00" and flags["--resH"] == "4.00"
    assert flags["--defS"] == "500.0" and flags["--astm"] == "1000.0"
    assert flags["--do_EPA"] == "1" and flags["--do_local_refine"] == "1"
    assert "--phase_shift_L" not in flags and command[-1] == "mic.mrc"


def test_gctf_log_parse_with_and_without_phase():
    plain = ("   Defocus_U   Defocus_V       Angle         CCC\n"
             "    21000.00    20000.00       30.00    0.123456  Final Values\n"
             "Resolution limit estimated by EPA: RES_LIMIT 3.456\n")
    fit, _ = gctf.parse_log(plain)
    assert (fit.defocus_1_a, fit.defocus_2_a, fit.azimuth_deg) == (21000.0, 20000.0, 30.0)
    assert fit.fit_resolution_a == 3.456 and fit.phase_shift_rad == 0.0
    phase = ("   Defocus_U   Defocus_V       Angle   Phase_shift         CCC\n"
             "    21000.00    20000.00       30.00         90.00    0.2  Final Values\n")
    fit, _ = gctf.parse_log(phase)
    assert fit.phase_shift_rad == pytest.approx(math.pi / 2)
    assert fit.cross_correlation == 0.2
    with pytest.raises(EngineError):
        gctf.parse_log("no table here\n")


def test_fake_gctf_run(workdir, monkeypatch):
    output = gctf.run_gctf(_params(workdir), "gctf")
    assert output.engine_version == "1.06"
    assert output.fit.defocus_1_a == pytest.approx(TRUTH[0], abs=50)
    assert Path(output.diagnostic_path).suffix == ".ctf"
    monkeypatch.setenv("FAKE_GCTF_MODE", "crash")
    with pytest.raises(EngineError, match="no CUDA-capable device"):
        gctf.run_gctf(_params(workdir), "gctf")
