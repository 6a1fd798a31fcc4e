"""Reading every movie format, gain/dark/defect correction and their orientation."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest
import tifffile

from appion.base.errors import InputFileError
from appion.motioncorrection.calc.internal import gain as gain_mod
from appion.motioncorrection.calc.internal.orientation import (
    frame_to_gain_orientation,
    gain_to_frame_orientation,
)
from appion.motioncorrection.contract import MotionCorParameters
from appion.motioncorrection.engines.builtin_engine import run_builtin
from appion.motioncorrection.engines.movie_io import open_movie, parse_fmintfile, render_groups

from .conftest import write_mrc, write_tiff

FRAMES = np.random.default_rng(5).poisson(3.0, (4, 24, 40)).astype(np.uint16)


@pytest.mark.parametrize("mode,dtype", [(0, np.int8), (1, np.int16), (2, np.float32),
                                        (6, np.uint16), (12, np.float16)])
def test_mrc_modes(tmp_path, mode, dtype):
    path = write_mrc(tmp_path / "m.mrc", FRAMES, dtype)
    assert mrcfile.open(path, header_only=True).header.mode == mode
    with open_movie(str(path), "mrc") as movie:
        assert (movie.nframes, movie.shape) == (4, (24, 40))
        frames = np.stack(list(movie.frames(threads=2)))
    np.testing.assert_array_equal(frames.astype(np.uint16), FRAMES)


@pytest.mark.parametrize("compression", [None, "lzw", "deflate"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_compressions(tmp_path, compression, dtype):
    path = write_tiff(tmp_path / "m.tif", FRAMES, dtype, compression)
    with open_movie(str(path), "tiff") as movie:
        assert movie.dtype == dtype
        frames = np.stack(list(movie.frames(threads=2)))
    np.testing.assert_array_equal(frames, FRAMES)


def test_truncated_tiff_is_one_clear_error(tmp_path):
    big = np.random.default_rng(0).poisson(3.0, (3, 128, 128)).astype(np.uint8)
    path = write_tiff(tmp_path / "m.tif", big)
    data = path.read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="cut.tif"):
        with open_movie(str(tmp_path / "cut.tif"), "tiff") as movie:
            list(movie.frames())


def test_truncated_mrc_is_one_clear_error(tmp_path):
    path = write_mrc(tmp_path / "m.mrc", FRAMES)
    (tmp_path / "cut.mrc").write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputFileError, match="not a complete MRC"):
        open_movie(str(tmp_path / "cut.mrc"), "mrc")


def test_fmintfile_grouping():
    lines = parse_fmintfile("3 3 0.02\n400 40 0.02\n")
    groups = render_groups(403, lines)
    assert [len(raw) for raw, _ in groups] == [3] + [40] * 10
    assert groups[1][0] == range(3, 43)
    assert groups[1][1] == pytest.approx(0.8)
    # frames the file does not cover use its last grouping
    groups_90 = render_groups(90, parse_fmintfile("40 20 0.1"))
    assert [len(raw) for raw, _ in groups_90] == [20] * 4 + [10]
    with pytest.raises(InputFileError):
        parse_fmintfile("forty 20 0.1")


ASYMMETRIC = np.arange(15, dtype=np.float32).reshape(3, 5)  # no symmetry at all


def motioncor3_orientation(gain: np.ndarray, rot_gain: int, flip_gain: int) -> np.ndarray:
    """MotionCor3's CLoadRefs::PostProcess written out pixel by pixel.

    G90Rotate2D: the output pixel at centred (X', Y') (X = column, Y = row) reads
    the input at X = X'cos + Y'sin, Y = -X'sin + Y'cos, angle = 90° × RotGain;
    then GFlip2D: 1 = vertical (rows reversed), 2 = horizontal (columns reversed).
    """
    rows, cols = gain.shape
    cos, sin = [(1, 0), (0, 1), (-1, 0), (0, -1)][rot_gain]
    out_rows, out_cols = (rows, cols) if rot_gain % 2 == 0 else (cols, rows)
    rotated = np.empty((out_rows, out_cols), gain.dtype)
    for r in range(out_rows):
        for c in range(out_cols):
            x_out, y_out = c - (out_cols - 1) / 2, r - (out_rows - 1) / 2
            x_in = x_out * cos + y_out * sin + (cols - 1) / 2
            y_in = -x_out * sin + y_out * cos + (rows - 1) / 2
            rotated[r, c] = gain[int(round(y_in)), int(round(x_in))]
    flipped = np.empty_like(rotated)
    for r in range(out_rows):
        for c in range(out_cols):
            source_r = out_rows - 1 - r if flip_gain == 1 else r
            source_c = out_cols - 1 - c if flip_gain == 2 else c
            flipped[r, c] = rotated[source_r, source_c]
    return flipped


def test_reference_kernel_rot_gain_1_reads_row_minus_x_col_y():
    # the worked case of the derivation: out[Y', X'] = in[row = -X', col = Y']
    expected = [[10, 5, 0], [11, 6, 1], [12, 7, 2], [13, 8, 3], [14, 9, 4]]
    np.testing.assert_array_equal(motioncor3_orientation(ASYMMETRIC, 1, 0), expected)


@pytest.mark.parametrize("flip", [0, 1, 2])
@pytest.mark.parametrize("rot", [0, 1, 2, 3])
def test_gain_rotation_and_flip_follow_motioncor3(rot, flip):
    oriented = gain_to_frame_orientation(ASYMMETRIC, rot, flip)
    np.testing.assert_array_equal(oriented, motioncor3_orientation(ASYMMETRIC, rot, flip))
    np.testing.assert_array_equal(frame_to_gain_orientation(oriented, rot, flip), ASYMMETRIC)


def test_flip_gain_out_of_range_is_refused():
    with pytest.raises(ValueError, match="FlipGain"):
        gain_to_frame_orientation(ASYMMETRIC, 0, 3)


@pytest.mark.parametrize("rot,flip", [(0, 0), (1, 0), (3, 1), (2, 2)])
def test_engine_flat_fields_with_an_oriented_gain(tmp_path, rot, flip):
    """Frames are scene ÷ gain in camera orientation; the sum must come out flat."""
    rng = np.random.default_rng(rot * 3 + flip)
    shape = (64, 96)
    camera_gain = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    frames = rng.poisson(50.0 / camera_gain, (6, *shape)).astype(np.uint16)
    leginon_gain = frame_to_gain_orientation(camera_gain, rot, flip)
    gain_path = tmp_path / "gain.mrc"
    with mrcfile.new(gain_path) as mrc:
        mrc.set_data(np.ascontiguousarray(leginon_gain))
    movie = write_mrc(tmp_path / "m.mrc", frames)
    params = MotionCorParameters(str(movie), "mrc", str(tmp_path / "s.mrc"),
                                 gain_path=str(gain_path), rot_gain=rot, flip_gain=flip,
                                 iterations=1)
    run_builtin(params)
    total = mrcfile.read(tmp_path / "s.mrc")
    assert total.std() / total.mean() < 0.1  # Poisson alone: 1/√300 ≈ 0.06
    wrong = MotionCorParameters(str(movie), "mrc", str(tmp_path / "w.mrc"),
                                gain_path=str(gain_path), iterations=1)
    if leginon_gain.shape == shape and (rot, flip) != (0, 0):
        run_builtin(wrong)
        assert mrcfile.read(tmp_path / "w.mrc").std() > 2 * total.std()


def test_gain_of_the_wrong_shape_names_both_sizes(tmp_path):
    movie = write_mrc(tmp_path / "m.mrc", FRAMES)
    gain_path = tmp_path / "gain.tif"
    tifffile.imwrite(gain_path, np.ones((40, 24), np.float32))
    params = MotionCorParameters(str(movie), "mrc", str(tmp_path / "s.mrc"),
                                 gain_path=str(gain_path))
    with pytest.raises(InputFileError, match="is 24×40 but the frames are 40×24"):
        run_builtin(params)
    # rotating it by 90° makes it fit
    run_builtin(MotionCorParameters(str(movie), "mrc", str(tmp_path / "s.mrc"),
                                    gain_path=str(gain_path), rot_gain=1))


def test_defects_and_hot_pixels_are_replaced_by_neighbours():
    rng = np.random.default_rng(2)
    frame_sum = rng.normal(100, 5, (50, 60)).astype(np.float32)
    frame_sum[10, 20] = 5000  # hot pixel
    hot = gain_mod.hot_pixels(frame_sum).mask
    assert hot[10, 20] and hot.sum() == 1
    mask = hot.copy()
    mask[:, 33] = True  # a dead column from the defect map
    frame = frame_sum.copy()
    frame[:, 33] = 0
    gain_mod.replace_defects(frame, gain_mod.defect_replacement(mask))
    assert abs(frame[10, 20] - 100) < 15
    assert np.all(np.abs(frame[:, 33] - 100) < 15)
    untouched = ~mask
    np.testing.assert_array_equal(frame[untouched], frame_sum[untouched])


def test_compressed_frames_are_decoded_once_with_the_same_sums(tmp_path, monkeypatch, small_movie):
    """A TIFF's decoded frames are kept for the summing pass (an MRC's are read again
    from the map); the shifts and sums are those of decoding twice."""
    from appion.motioncorrection.engines import builtin_engine
    from appion.motioncorrection.engines.movie_io import TiffMovie

    tiff = write_tiff(tmp_path / "movie.tif", small_movie.frames)
    mrc = write_mrc(tmp_path / "movie.mrc", small_movie.frames)
    with open_movie(str(tiff), "tiff") as movie:
        assert builtin_engine._keeps_frames(movie, movie.nframes)
    with open_movie(str(mrc), "mrc") as movie:
        assert not builtin_engine._keeps_frames(movie, movie.nframes)
    reads: list[int] = []
    real_read = TiffMovie.read

    def counted(self: TiffMovie, index: int):
        reads.append(index)
        return real_read(self, index)

    def run(name):
        params = MotionCorParameters(str(tiff), "tiff", str(tmp_path / name), pixel_size_a=1.0,
                                     patch=(2, 2), dose_weight=True, fm_dose=1.0)
        result = run_builtin(params, threads=2)
        return result, mrcfile.read(tmp_path / name), mrcfile.read(result.aligned_dw_path)

    monkeypatch.setattr(TiffMovie, "read", counted)
    kept, kept_sum, kept_dw = run("kept.mrc")
    assert sorted(reads) == list(range(len(small_movie.frames)))  # each frame decoded once
    monkeypatch.setattr(builtin_engine, "_keeps_frames", lambda movie, count: False)
    twice, twice_sum, twice_dw = run("twice.mrc")
    assert kept.shifts_px == twice.shifts_px
    np.testing.assert_allclose(kept_sum, twice_sum, atol=1e-3)
    np.testing.assert_allclose(kept_dw, twice_dw, atol=1e-3)
