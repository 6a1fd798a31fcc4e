"""Write an export's files atomically (``appion.base.files``): STAR, ``.cs``, gains, defects."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from appion.base.files import atomic_path, read_mrc, write_mrc
from appion.export.calc.exposure import Movie
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.calc.internal.orientation import gain_to_frame_orientation


def write_star(path: str | Path, blocks: dict) -> Path:
    """A STAR file of ``{block name: DataFrame or dict}`` written with ``starfile``."""
    import starfile
    with atomic_path(path) as temporary:
        starfile.write(blocks, temporary, float_format="%.6f")
    return Path(path)


def write_dataset(path: str | Path, dataset) -> Path:
    """A cryoSPARC ``.cs`` file (cryosparc-tools' own writer)."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            dataset.save(handle)
    return Path(path)


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.save(handle, array)
    return Path(path)


def _read_gain(path: str) -> np.ndarray:
    return read_mrc(path, "gain reference",
                    "check the norm image of the session or export with --no-gain")


def frame_gain(movie: Movie, out_dir: str) -> str | None:
    """The movie's gain turned to the frames' orientation (RELION applies none), once per
    reference and orientation; ``None`` when the exposure has no norm image."""
    if not movie.gain_path or not os.path.exists(movie.gain_path):
        return None
    stem = Path(movie.gain_path).stem
    target = os.path.join(out_dir, "gain", f"{stem}_r{movie.rot_gain}f{movie.flip_gain}.mrc")
    if not os.path.exists(target):
        gain = gain_to_frame_orientation(_read_gain(movie.gain_path), movie.rot_gain,
                                         movie.flip_gain)
        write_mrc(target, np.ascontiguousarray(gain, dtype=np.float32))
    return target


def defect_file(movie: Movie, name: str, out_dir: str) -> str | None:
    """A defect map (1 = bad) in the frames' orientation, when the corrector plan has any."""
    rows, cols, pixels = movie.defects
    if not P.has_defects(rows, cols, pixels) or not movie.size_x:
        return None
    target = os.path.join(out_dir, "defects", f"{name}_defects.mrc")
    mask = P.defect_map((movie.size_y, movie.size_x), rows, cols, pixels, movie.rot_gain,
                        movie.flip_gain)
    write_mrc(target, mask.astype(np.int8))
    return target
