"""The worker-made spectrum image and 1D profile of each CTF fit (``appion serve``'s pages).

``<rundir>/opimages/<micrograph>.spectrum.png`` is 512 × 512: the spectrum on the left,
the fitted model on the right, so its rings must sit where the fitted defocus puts
them (the first zero within a pixel or two of the radius the fit predicts), and the
data's rings must line up with the model's.  ``<micrograph>.profile.json`` is the 1D
equiphase average with the model and the fit's resolution.  Every engine's fit is
drawn (the fake CTFFIND and Gctf here), after a real ``appion pipeline`` run too, and
the step's summaries name both files.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import imagecodecs
import mrcfile
import numpy as np
import pytest

from appion.base.errors import OutputError, is_retryable
from appion.base.step import RunContext
from appion.ctfestimation import worker
from appion.ctfestimation.calc.internal import display
from appion.ctfestimation.calc.internal.classic import ctfdata_to_ctffind_fit
from appion.ctfestimation.calc.internal.ctf_model import (
    chi,
    ctf_filtered_noise,
    defocus_at_angle,
)
from appion.ctfestimation.calc.internal.estimator import estimate_ctf
from appion.ctfestimation.contract import CtfFit, CtfOptions, SearchParameters, engine_task
from appion.ctfestimation.step import CtfStep

from .session import fake_env

TRUTH = (15000.0, 13000.0, 30.0)
PIXEL_A = 1.5
SESSION = "sim25mar03u"
RUNNAME = "ctf1"


def _search(box: int = 512, pixel_size_a: float = PIXEL_A) -> SearchParameters:
    return SearchParameters(pixel_size_a=pixel_size_a, kv=300.0, cs_mm=2.7, box=box,
                            resmin_a=30.0, resmax_a=5.0, defocus_min_a=8000.0,
                            defocus_max_a=25000.0, expected_astigmatism_a=1000.0)


def expected_first_zero_px(fit: CtfFit, search: SearchParameters, angle_deg: float,
                           size: int = display.SPECTRUM_PX) -> float:
    """Radius (image pixels) of the model's first zero along ``angle_deg``: chi = π."""
    defocus = float(defocus_at_angle(fit.defocus_1_a, fit.defocus_2_a, fit.azimuth_deg,
                                     np.radians(angle_deg)))
    radius = np.linspace(0.0, size / 2, 200001)
    s = radius / (size * search.pixel_size_a)
    phase = chi(s * s, defocus, search.kv, search.cs_mm, search.amplitude_contrast,
                fit.phase_shift_rad)
    return float(radius[np.argmax(phase >= math.pi)])


def first_minimum_px(line: np.ndarray) -> float:
    """The first dark minimum of a line of pixels going out from the centre (sub-pixel),
    after its first bright ring (the model is dark at the centre: sin²(chi) starts at
    the amplitude contrast's 0.5 %)."""
    values = line.astype(float)
    bright = int(np.argmax(values > 192))
    for index in range(max(bright, 1), values.size - 1):
        if values[index] <= values[index - 1] and values[index] < values[index + 1] \
                and values[index] < 64:
            left, middle, right = values[index - 1:index + 2]
            curvature = left - 2 * middle + right
            return index + (0.5 * (left - right) / curvature if curvature > 0 else 0.0)
    raise AssertionError("no dark ring on the line")


def check_model_rings(pixels: np.ndarray, fit: CtfFit, search: SearchParameters) -> None:
    """The right half's first zero along +x (the centre row) and along +y/−y (the centre
    column's upper and lower halves: the same axis) where the fit puts it, within 1.5 px."""
    size = display.SPECTRUM_PX
    centre = size // 2
    assert pixels.shape == (size, size) and pixels.dtype == np.uint8
    found_x = first_minimum_px(pixels[centre, centre:])
    assert found_x == pytest.approx(expected_first_zero_px(fit, search, 0.0), abs=1.5)
    # rows grow with ky (the centred FFT layout): down the centre column is +ky (90°)
    found_y = first_minimum_px(pixels[centre:, centre])
    assert found_y == pytest.approx(expected_first_zero_px(fit, search, 90.0), abs=1.5)


def check_data_rings(pixels: np.ndarray, search: SearchParameters) -> None:
    """The data half, turned 180° about the centre (Friedel), correlates with the model
    half over the fitted band: its rings are visible where the model's are."""
    size = display.SPECTRUM_PX
    turned = np.roll(np.flip(pixels.astype(float)), 1, axis=(0, 1))
    centre = np.arange(size) - size // 2
    radius = np.hypot(centre[:, None], centre[None, :])
    per_px = 1.0 / (size * search.pixel_size_a)
    band = (radius > 1.0 / search.resmin_a / per_px) & (radius < 1.0 / 8.0 / per_px)
    band[:, :size // 2 + 1] = False
    correlation = np.corrcoef(turned[band], pixels.astype(float)[band])[0, 1]
    assert correlation > 0.3


def check_profile(path: str | Path, fit: CtfFit, search: SearchParameters) -> dict:
    record = json.loads(Path(path).read_text())
    assert sorted(record) == ["fit", "resolution_a", "spatial_frequency_per_a", "spectrum"]
    frequencies = np.array(record["spatial_frequency_per_a"])
    assert len(record["spectrum"]) == len(record["fit"]) == frequencies.size > 10
    assert np.all(np.diff(frequencies) > 0)
    assert frequencies[-1] == pytest.approx(0.5 / search.pixel_size_a, rel=1e-3)
    bins = frequencies * search.box * search.pixel_size_a  # one per ring of the box grid
    np.testing.assert_allclose(bins, np.arange(1, search.box // 2 + 1), rtol=1e-5)
    model = np.array(record["fit"])
    assert np.all((model >= 0) & (model <= 1))
    s2 = (np.arange(1, search.box // 2 + 1) / (search.box * search.pixel_size_a)) ** 2
    mean = 0.5 * (fit.defocus_1_a + fit.defocus_2_a)
    expected = np.sin(chi(s2, mean, search.kv, search.cs_mm, search.amplitude_contrast,
                          fit.phase_shift_rad)) ** 2
    np.testing.assert_allclose(model, expected, atol=1e-4)
    # the observed average follows the model over the fitted band
    band = (frequencies > 1.0 / search.resmin_a) & (frequencies < 1.0 / 8.0)
    assert np.corrcoef(np.array(record["spectrum"])[band], model[band])[0, 1] > 0.5
    assert record["resolution_a"] == pytest.approx(fit.fit_resolution_a, rel=1e-5)
    return record


@pytest.mark.parametrize("box", [256, 512, 1024])
def test_the_spectrum_image_shows_the_fitted_rings_on_both_halves(box):
    image = ctf_filtered_noise((2048, 2048), PIXEL_A, *TRUTH, signal_to_noise=0.5, seed=3)
    search = _search(box)
    estimate = estimate_ctf(image, search)
    pixels = display.spectrum_pixels(estimate.spectrum, estimate.fit, search)
    check_model_rings(pixels, estimate.fit, search)
    check_data_rings(pixels, search)
    # the model half is the fit given: a defocus 5000 Å off moves the ring (by 6 px)
    wrong = CtfFit(TRUTH[0] + 5000.0, TRUTH[1] + 5000.0, TRUTH[2], 0.0, 0.5, 5.0)
    shifted = display.spectrum_pixels(estimate.spectrum, wrong, search)
    assert first_minimum_px(pixels[256, 256:]) - first_minimum_px(shifted[256, 256:]) > 4


def test_the_profile_record_is_the_equiphase_average_and_the_model():
    image = ctf_filtered_noise((1024, 1024), PIXEL_A, *TRUTH, signal_to_noise=0.5, seed=4)
    search = _search()
    estimate = estimate_ctf(image, search)
    record = display.profile_record(estimate.profile, estimate.fit)
    keep = estimate.profile.counts > 0
    assert len(record["spectrum"]) == int(keep.sum())
    np.testing.assert_allclose(record["spectrum"], estimate.profile.observed[keep], rtol=1e-5,
                               atol=1e-9)
    json.dumps(record, allow_nan=False)
    nan_fit = CtfFit(1.0, 1.0, 0.0, 0.0, 0.0, math.nan)
    assert display.profile_record(estimate.profile, nan_fit)["resolution_a"] is None
    assert display.display_paths("/r", "mic-a") == ("/r/opimages/mic-a.spectrum.png",
                                                    "/r/opimages/mic-a.profile.json")


@pytest.fixture
def micrograph(tmp_path, monkeypatch):
    for key, value in fake_env(dict(os.environ)).items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "mic-a.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(ctf_filtered_noise((1024, 1024), PIXEL_A, *TRUTH, signal_to_noise=0.5,
                                        seed=5))
    return path


@pytest.mark.parametrize("engine", ["builtin", "ctffind4", "gctf"])
def test_every_engines_fit_is_drawn(micrograph, tmp_path, engine):
    rundir = tmp_path / "run"
    rundir.mkdir()
    task = engine_task(str(micrograph), str(rundir), "mic-a", _search(), engine=engine)
    result = worker.run_task(task)
    spectrum_path, profile_path = display.display_paths(str(rundir), "mic-a")
    pixels = imagecodecs.png_decode(Path(spectrum_path).read_bytes())
    check_model_rings(pixels, result.fit, result.search)
    check_data_rings(pixels, result.search)
    check_profile(profile_path, result.fit, result.search)
    assert result.fit.defocus_1_a == pytest.approx(TRUTH[0], abs=150)
    leftovers = [p for p in (rundir / "opimages").iterdir() if p.name.endswith(".partial")]
    assert leftovers == []


def test_an_image_that_cannot_be_written_fails_the_image_as_any_output(micrograph, tmp_path):
    rundir = tmp_path / "run"
    spectrum_path, _ = display.display_paths(str(rundir), "mic-a")
    Path(spectrum_path).mkdir(parents=True)
    task = engine_task(str(micrograph), str(rundir), "mic-a", _search())
    with pytest.raises(OutputError, match="spectrum.png exists and is a folder") as raised:
        worker.run_task(task)
    assert not is_retryable(raised.value)


def test_a_pipeline_run_leaves_images_that_the_summaries_name(db, tmp_path, cli):
    import sinedon
    from appion.ctfestimation.retrieve.metadata import load_ctf_metadata
    simulation = pytest.importorskip("appion.simulation.session")
    session = simulation.simulate_session(tmp_path / "sim", SESSION, camera="k3", exposures=2,
                                          size="small", extras=False)
    rundir = tmp_path / "appion" / SESSION / "pipeline" / RUNNAME
    done = cli(["appion", "pipeline", f"--projectid={db.projectid}", f"--session={SESSION}",
                "--preset=enn", f"--rundir={rundir}", f"--runname={RUNNAME}",
                "--steps", "motioncor,ctf", "--motioncor-engine", "builtin",
                "--ctf-engine", "builtin", "--fieldsize", "512", "--resmax", "5",
                "--no-wait", "--max-workers", "1"], env=db.env)
    assert done.returncode == 0, done.stderr
    db.setup()
    run = RunContext(runname=RUNNAME, rundir=rundir, projectid=db.projectid,
                     session=sinedon.get("SessionData", {"id": session.session_id}))
    rows = {row["image"]: row for row in sinedon.filter("ApCtfData", {})}
    assert len(rows) == 2
    step = CtfStep(CtfOptions(engine="builtin", fieldsize=512, resmax=5.0))
    summaries = step.summaries(run, list(rows))
    infos = load_ctf_metadata(list(rows))
    for image_id, row in rows.items():
        info = infos[image_id]
        spectrum_path, profile_path = display.display_paths(str(rundir), info.filename)
        assert summaries[image_id]["spectrum_path"] == str(Path(spectrum_path).absolute())
        assert summaries[image_id]["profile_path"] == str(Path(profile_path).absolute())
        defocus_1, defocus_2, azimuth = ctfdata_to_ctffind_fit(row)
        fit = CtfFit(defocus_1, defocus_2, azimuth, 0.0, row["cross_correlation"],
                     row["ctffind4_resolution"])
        search = SearchParameters(pixel_size_a=info.pixel_size_a, kv=info.kv,
                                  cs_mm=info.cs_mm, box=512, resmin_a=50.0, resmax_a=5.0,
                                  amplitude_contrast=row["amplitude_contrast"])
        pixels = imagecodecs.png_decode(Path(spectrum_path).read_bytes())
        check_model_rings(pixels, fit, search)  # the stored fit's rings
        record = json.loads(Path(profile_path).read_text())
        assert record["resolution_a"] == pytest.approx(row["ctffind4_resolution"], rel=1e-5)
        assert len(record["fit"]) == len(record["spectrum"]) > 100
    # a file gone is no longer named; the stored values stay
    first = next(iter(rows))
    Path(summaries[first]["spectrum_path"]).unlink()
    again = step.summaries(run, [first])[first]
    assert "spectrum_path" not in again and again["profile_path"]
    assert again["defocus1_a"] == summaries[first]["defocus1_a"]
