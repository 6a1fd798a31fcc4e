"""A damaged movie header is one line, never a traceback or an allocation of GiBs."""

from __future__ import annotations

import struct

import mrcfile
import numpy as np
import pytest
import tifffile

from appion.base.errors import InputFileError, InputNotReady
from appion.motioncorrection.engines.movie_io import open_movie


def _patch(path, offset: int, fmt: str, value: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(struct.pack(fmt, value))


def test_an_mrc_with_negative_dimensions_is_refused(tmp_path):
    path = tmp_path / "movie.mrc"
    with mrcfile.new(str(path)) as mrc:
        mrc.set_data(np.zeros((3, 8, 8), np.float32))
    _patch(path, 0, "<i", -5)  # nx
    with pytest.raises(InputFileError, match=r"movie .*movie.mrc .*re-copy"):
        open_movie(str(path), "mrc")


def test_a_tiff_claiming_200000_squared_frames_is_refused_before_decoding(tmp_path):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 16), np.uint8))
    with tifffile.TiffFile(path) as tif:
        tags = [tif.pages[index].tags for index in range(2)]
        offsets = [(tag["ImageWidth"].valueoffset, tag["ImageWidth"].dtype)
                   for page in tags for tag in (page,)]
        offsets += [(page["ImageLength"].valueoffset, page["ImageLength"].dtype) for page in tags]
        byteorder = tif.byteorder
    for offset, dtype in offsets:
        code = {3: "H", 4: "I"}[int(dtype)]
        _patch(path, offset, byteorder + code, 200000 if code == "I" else 65535)
    with pytest.raises(InputFileError, match=r"claims frames of .*header is damaged"):
        open_movie(str(path), "tiff")


def test_a_folder_is_not_a_movie_that_may_still_arrive(tmp_path):
    folder = tmp_path / "movie.tif"
    folder.mkdir()
    with pytest.raises(InputFileError, match="is a folder") as error:
        open_movie(str(folder), "tiff")
    assert not isinstance(error.value, InputNotReady)
    with pytest.raises(InputNotReady):
        open_movie(str(tmp_path / "absent.tif"), "tiff")
