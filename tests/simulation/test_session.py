"""A simulated K3 session: files read back, records look like Leginon's, extras are there."""

from __future__ import annotations

import ast
import json
import math
import re

import mrcfile
import numpy as np
import pytest
import tifffile

import sinedon
from appion.simulation import add_exposure, simulate_session

NAME = "sim25jan01a"


@pytest.fixture
def k3_session(db, tmp_path):
    """Six exposures (so with the extras) on each database backend."""
    return simulate_session(tmp_path / "data", NAME, camera="k3", exposures=6, seed=3)


@pytest.fixture
def k3_one(sqlite_db, tmp_path):
    """One exposure, for the file checks."""
    return simulate_session(tmp_path / "data", NAME, camera="k3", exposures=1, seed=3)


def test_k3_movies_read_back_as_lzw_uint8_tiff(k3_one):
    for exposure in k3_one.images:
        assert exposure.movie_path.name == f"{exposure.filename}.frames.tif"
        assert exposure.movie_path.parent == k3_one.frame_path
        with tifffile.TiffFile(exposure.movie_path) as tiff:
            frames = tiff.asarray()
            assert tiff.pages[0].compression == tifffile.COMPRESSION.LZW
        truth = exposure.truth
        assert frames.shape == (truth["nframes"], *truth["frame_shape"]) == (8, 720, 1024)
        assert frames.dtype == np.uint8
        assert json.loads(exposure.truth_path.read_text()) == truth


def test_k3_counts_follow_the_dose_and_the_gain(k3_one):
    exposure = k3_one.images[0]
    truth = exposure.truth
    frames = tifffile.imread(exposure.movie_path).astype(np.float64)
    with mrcfile.open(k3_one.gain_path) as mrc:
        gain = mrc.data.astype(np.float64)  # K3: frame rotate 0, flip 0
    expected_per_frame = truth["dose_per_frame_e_a2"] * truth["pixel_size_a"] ** 2
    corrected = frames * gain
    good = np.ones(gain.shape, dtype=bool)
    good[truth["bad_rows"], :] = False
    good[:, truth["bad_cols"]] = False
    for x, y in truth["hot_pixels"]:
        good[y, x] = False
    assert corrected[:, good].mean() == pytest.approx(expected_per_frame, rel=0.03)
    assert np.all(frames[:, :, truth["bad_cols"]] == 0)  # dead columns
    hot = np.array([frames[:, y, x].mean() for x, y in truth["hot_pixels"]])
    assert np.all(hot > 10 * expected_per_frame)


def test_integrated_mrc_is_the_gain_corrected_sum(k3_one):
    exposure = k3_one.images[0]
    frames = tifffile.imread(exposure.movie_path).astype(np.float64)
    with mrcfile.open(k3_one.gain_path) as mrc:
        gain = mrc.data.astype(np.float64)
    with mrcfile.open(exposure.mrc_path) as mrc:
        integrated = mrc.data
        assert mrc.voxel_size.x == pytest.approx(0.826, abs=1e-3)
    assert exposure.mrc_path == k3_one.image_path / f"{exposure.filename}.mrc"
    np.testing.assert_allclose(integrated, frames.sum(axis=0) * gain, rtol=1e-5)


def _check_leginon_records(k3_session):
    session = sinedon.get("SessionData", {"id": k3_session.session_id})
    assert session["name"] == NAME
    assert session["image_path"] == str(k3_session.image_path)
    assert session["frame_path"] == str(k3_session.frame_path)
    assert sinedon.get("projectexperiments", {"session": k3_session.session_id})["project"] == 1
    assert sinedon.get("InstrumentData", {"id": k3_session.camera_instrument_id})["name"] == \
        "GatanK3"

    images = sinedon.filter("AcquisitionImageData", {"session": k3_session.session_id})
    assert [image["id"] for image in images] == [e.image_id for e in k3_session.images]
    for image, exposure in zip(images, k3_session.images):
        assert re.fullmatch(rf"{NAME}_\d{{5}}gr_\d{{5}}sq_v01_\d{{5}}hl_\d{{5}}enn",
                            image["filename"])
        assert image["image"] == f"{image['filename']}.mrc"
        preset = sinedon.get("PresetData", {"id": image["preset"]})
        assert preset["name"] == "enn"
        assert preset["dose"] / 1e20 == pytest.approx(50.0)
        camera = sinedon.get("CameraEMData", {"id": image["camera"]})
        assert (camera["dimension_x"], camera["dimension_y"], camera["binning_x"]) == \
            (1024, 720, 2)
        assert camera["nframes"] == 8 and camera["use_frames"] == repr(tuple(range(8)))
        assert (camera["frame_rotate"], camera["frame_flip"]) == (0, 0)
        assert camera["tiff_frames"] and not camera["eer_frames"]
        scope = sinedon.get("ScopeEMData", {"id": image["scope"]})
        assert scope["high_tension"] == 300000
        mean_defocus = 0.5 * (exposure.truth["defocus_1_a"] + exposure.truth["defocus_2_a"])
        assert -scope["defocus"] * 1e10 == pytest.approx(mean_defocus)
        assert math.degrees(scope["stage_position_a"]) == pytest.approx(
            40.0 if exposure.tilted else 0.0)


def _check_references_and_corrector_plan(k3_session):
    image = sinedon.get("AcquisitionImageData", {"id": k3_session.images[0].image_id})
    norm = sinedon.get("NormImageData", {"id": image["norm"]})
    reference_session = sinedon.get("SessionData", {"id": norm["session"]})
    assert reference_session["name"] == f"{NAME}_ref"
    assert (k3_session.gain_path.parent / norm["image"]).is_file()
    dark = sinedon.get("DarkImageData", {"id": image["dark"]})
    assert (k3_session.dark_path.parent / dark["image"]).is_file()
    plan = sinedon.get("CorrectorPlanData", {"id": image["corrector_plan"]})
    truth = k3_session.images[0].truth
    assert list(ast.literal_eval(plan["bad_cols"])) == truth["bad_cols"]
    assert list(ast.literal_eval(plan["bad_rows"])) == truth["bad_rows"]
    assert [list(p) for p in ast.literal_eval(plan["bad_pixels"])] == truth["hot_pixels"]


def _check_pixel_size_history_needs_the_calibration_before_the_image(k3_session):
    image = sinedon.get("AcquisitionImageData", {"id": k3_session.images[0].image_id})
    calibrations = sinedon.filter("PixelSizeCalibrationData",
                                  {"magnification": 105000, "ccdcamera":
                                   k3_session.camera_instrument_id})
    assert len({row["def_timestamp"] for row in calibrations}) >= 3
    assert len({row["pixelsize"] for row in calibrations}) >= 2
    usable = [row for row in calibrations if row["def_timestamp"] <= image["def_timestamp"]]
    newest = max(usable, key=lambda row: row["def_timestamp"])
    binning = sinedon.get("CameraEMData", {"id": image["camera"]})["binning_x"]
    assert newest["pixelsize"] * binning * 1e10 == pytest.approx(
        k3_session.images[0].truth["pixel_size_a"])
    assert max(calibrations, key=lambda row: row["id"])["pixelsize"] != newest["pixelsize"]


def _check_extras_give_filters_something_to_filter(k3_session):
    by_index = k3_session.images
    assert [e.tilted for e in by_index] == [False, True, False, False, False, False]
    assert [e.viewer_status for e in by_index] == [None, None, "hidden", "trash", None, None]
    assert [e.assessment_keep for e in by_index] == [None, None, None, None, False, None]
    statuses = {row["image"]: row["status"] for row in
                sinedon.filter("ViewerImageStatus", {"session": k3_session.session_id})}
    assert statuses == {by_index[2].image_id: "hidden", by_index[3].image_id: "trash"}
    rejected = sinedon.filter("ApAssessmentData", {"selectionkeep": False})
    assert [row["image"] for row in rejected] == [by_index[4].image_id]


def test_session_records_on_each_backend(k3_session):
    """One six-exposure session per backend, checked from every side."""
    _check_leginon_records(k3_session)
    _check_references_and_corrector_plan(k3_session)
    _check_pixel_size_history_needs_the_calibration_before_the_image(k3_session)
    _check_extras_give_filters_something_to_filter(k3_session)


def test_without_extras_every_exposure_is_plain(sqlite_db, tmp_path):
    session = simulate_session(tmp_path, NAME, exposures=6, extras=False)
    assert not any(e.tilted or e.viewer_status or e.assessment_keep is not None
                   for e in session.images)
    assert sinedon.count("ViewerImageStatus", {"session": session.session_id}) == 0


def test_add_exposure_is_deterministic_and_appends(sqlite_db, tmp_path):
    first = simulate_session(tmp_path / "a", NAME, exposures=1, seed=7)
    again = simulate_session(tmp_path / "b", "sim25jan01b", exposures=0, seed=7)
    # the same (seed, index) gives the same pixels whatever the session name
    added = add_exposure(again, 0)
    assert again.images == [added]
    assert np.array_equal(tifffile.imread(added.movie_path),
                          tifffile.imread(first.images[0].movie_path))
    assert sinedon.count("AcquisitionImageData", {"session": again.session_id}) == 1
