"""Writers for movies, references, integrated images and ground truth.

Every writer streams to a hidden temporary name in the destination folder and
renames it when complete, so a reader (Appion, a file watcher) never sees a
partial file.  Movies are written one frame at a time from an iterator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import mrcfile
import numpy as np
import tifffile

from appion.base.files import atomic_path, write_mrc, write_text
from appion.simulation import eer

__all__ = ["write_eer_movie", "write_json", "write_mrc", "write_mrc_movie", "write_tiff_movie"]


def write_tiff_movie(path: Path, frames: Iterable[np.ndarray], *, nframes: int,
                     shape: tuple[int, int], dtype: str) -> Path:
    """A multi-page LZW TIFF, one page per frame, consumed lazily from ``frames``."""
    with atomic_path(path) as temporary:
        with tifffile.TiffWriter(temporary, bigtiff=False) as tiff:
            tiff.write(iter(frames), shape=(nframes, *shape), dtype=dtype,
                       compression="lzw", photometric="minisblack", metadata=None)
    return Path(path)


def write_mrc_movie(path: Path, frames: Iterable[np.ndarray], *, nframes: int,
                    shape: tuple[int, int], dtype: str, pixel_size_a: float) -> Path:
    """An MRC stack (mode from ``dtype``) filled one frame at a time through a memory map."""
    mode = {"uint16": 6, "int16": 1, "float32": 2, "int8": 0}[dtype]
    with atomic_path(path) as temporary:
        with mrcfile.new_mmap(temporary, shape=(nframes, *shape), mrc_mode=mode,
                              overwrite=True) as mrc:
            written = 0
            for index, frame in enumerate(frames):
                mrc.data[index] = frame
                written += 1
            if written != nframes:
                raise ValueError(f"expected {nframes} frames, got {written}")
            mrc.voxel_size = pixel_size_a
            mrc.header.ispg = 0  # an image stack, as camera software writes it
            mrc.update_header_stats()
    return Path(path)


def write_eer_movie(path: Path, frames: Iterable[eer.EerFrame], *,
                    shape: tuple[int, int], metadata: dict[str, object]) -> Path:
    """A Falcon 4 EER file (see :mod:`appion.simulation.eer`)."""
    with atomic_path(path) as temporary:
        eer.write_eer(temporary, frames, shape=shape, metadata=metadata)
    return Path(path)


def write_json(path: Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=1) + "\n")
