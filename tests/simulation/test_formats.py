"""Falcon 4 EER, DE MRC and K2 (rotated) movies read back and match the references."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest
import tifffile

import sinedon
from appion.motioncorrection.calc.internal.orientation import (
    frame_to_gain_orientation,
    gain_to_frame_orientation,
)
from appion.simulation import eer, simulate_session


def _read(path):
    with mrcfile.open(path) as mrc:
        return np.array(mrc.data, dtype=np.float64)


def _camera_row(image_id):
    image = sinedon.get("AcquisitionImageData", {"id": image_id})
    return sinedon.get("CameraEMData", {"id": image["camera"]})


def test_falcon4_eer_reads_back_with_tifffile_and_imagecodecs(sqlite_db, tmp_path):
    session = simulate_session(tmp_path, "sim25jan02a", camera="falcon4-eer", exposures=1)
    exposure = session.images[0]
    truth = exposure.truth
    assert exposure.movie_path.name.endswith(".frames.eer")
    with tifffile.TiffFile(exposure.movie_path) as tiff:
        assert tiff.is_eer and tiff.is_bigtiff
        assert tiff.pages[0].compression == tifffile.COMPRESSION.EER_V1
        assert tiff.eer_metadata["numberOfFrames"] == truth["nframes"]
        frames = tiff.asarray()
    assert frames.shape == (truth["nframes"], *truth["frame_shape"]) == (400, 1024, 1024)
    with tifffile.TiffFile(exposure.movie_path, superres=2) as tiff:
        superres = tiff.asarray(key=slice(0, 2))
    assert superres.shape == (2, 4096, 4096)
    assert superres[0].sum() == frames[0].sum()

    camera = _camera_row(exposure.image_id)
    assert camera["eer_frames"] and not camera["tiff_frames"]
    assert camera["nframes"] == 400
    assert (camera["frame_rotate"], camera["frame_flip"]) == (1, 1)

    total = frames.sum(axis=0, dtype=np.float64)
    gain = gain_to_frame_orientation(_read(session.gain_path), 1, 1)
    per_frame = truth["dose_per_frame_e_a2"] * truth["pixel_size_a"] ** 2
    # a raw frame records at most one electron per pixel (coincidence loss)
    recorded = truth["nframes"] * (1.0 - np.exp(-per_frame))
    good = total < 10 * recorded  # leave out hot pixels
    assert (total * gain)[good].mean() == pytest.approx(recorded, rel=0.02)
    integrated = _read(exposure.mrc_path)
    np.testing.assert_allclose(integrated, frame_to_gain_orientation(total * gain, 1, 1),
                               rtol=1e-5)


def test_eer_encoder_round_trips_positions_and_subpixels(tmp_path):
    rng = np.random.default_rng(0)
    shape = (48, 80)
    frames = [eer.frame_from_coordinates(rng.uniform(0, 80, n), rng.uniform(0, 48, n), shape)
              for n in (0, 1, 500, 3000)]
    path = tmp_path / "movie.eer"
    assert eer.write_eer(path, frames, shape=shape, metadata={"numberOfFrames": 4}) == 4
    with tifffile.TiffFile(path, superres=2) as tiff:
        decoded = tiff.asarray()
    for frame, image in zip(frames, decoded):
        expected = np.zeros((shape[0] * 4, shape[1] * 4), dtype=bool)
        rows, cols = np.divmod(frame.positions, shape[1])
        expected[rows * 4 + frame.sub_y, cols * 4 + frame.sub_x] = True
        assert np.array_equal(image > 0, expected)


def test_de_mrc_frames_carry_the_dark(sqlite_db, tmp_path):
    session = simulate_session(tmp_path, "sim25jan03a", camera="de", exposures=1)
    exposure = session.images[0]
    with mrcfile.open(exposure.movie_path) as mrc:
        frames = np.array(mrc.data, dtype=np.float64)
        assert mrc.data.dtype == np.uint16
    assert frames.shape == (8, 1024, 1024)
    dark = gain_to_frame_orientation(_read(session.dark_path) / 40.0, 0, 1)
    gain = gain_to_frame_orientation(_read(session.gain_path), 0, 1)
    assert dark.max() > 0
    corrected = (frames - dark) * gain
    expected = exposure.truth["dose_per_frame_e_a2"] * exposure.truth["pixel_size_a"] ** 2
    assert np.median(corrected.mean(axis=0)) == pytest.approx(expected, rel=0.05)
    assert _camera_row(exposure.image_id)["frame_flip"] == 1


def test_k2_frames_are_rotated_from_the_leginon_orientation(sqlite_db, tmp_path):
    session = simulate_session(tmp_path, "sim25jan04a", camera="k2", exposures=1)
    exposure = session.images[0]
    frames = tifffile.imread(exposure.movie_path).astype(np.float64)
    norm = _read(session.gain_path)
    assert norm.shape == (768, 1024) and frames.shape == (8, 1024, 768)
    total = frames.sum(axis=0).ravel()
    right = np.corrcoef(total, 1.0 / gain_to_frame_orientation(norm, 1, 0).ravel())[0, 1]
    wrong = np.corrcoef(total, 1.0 / gain_to_frame_orientation(norm, 3, 0).ravel())[0, 1]
    assert right > 0.05 > abs(wrong)
    assert _read(exposure.mrc_path).shape == (768, 1024)
