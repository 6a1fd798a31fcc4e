"""Write the RELION and cryoSPARC exports of a list of exposures into a folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from appion.base.files import read_mrc_shape
from appion.export.calc import cryosparc as C
from appion.export.calc import relion as R
from appion.export.calc.exposure import Exposure
from appion.export.store.files import defect_file, frame_gain, write_dataset, write_npy, write_star


@dataclass(frozen=True)
class Written:
    """What an export wrote: the main files and counts."""

    files: tuple[str, ...]
    micrographs: int
    with_ctf: int
    with_picks: int = 0  # micrographs with a coordinate file
    particles: int = 0


def _motion_star(exposure: Exposure, out_dir: str, absolute: bool, gains: bool) -> str:
    gain = frame_gain(exposure.movie, out_dir) if gains else None
    defects = defect_file(exposure.movie, exposure.name, out_dir) if gains else None
    path = os.path.join(out_dir, R.motion_star_name(exposure))
    write_star(path, R.motion_tables(exposure, out_dir, absolute, gain, defects))
    return path


def export_coordinates(exposures: Sequence[Exposure], out_dir: str, absolute: bool
                       ) -> list[str]:
    """One coordinate STAR per exposure with picks (``coordinates/<micrograph>_autopick
    .star``) and ``autopick.star`` listing them; nothing when no exposure has picks."""
    picked = [exposure for exposure in exposures if exposure.picks]
    for exposure in picked:
        write_star(os.path.join(out_dir, R.coordinate_star_name(exposure)),
                   {"": R.coordinate_table(exposure)})
    if not picked:
        return []
    autopick = os.path.join(out_dir, "autopick.star")
    write_star(autopick, {"coordinate_files": R.autopick_table(picked, out_dir, absolute)})
    return [autopick]


def export_relion(exposures: Sequence[Exposure], out_dir: str, *, absolute: bool = False,
                  gains: bool = True) -> Written:
    """``corrected_micrographs.star``, ``micrographs_ctf.star``, one motion STAR per
    movie with a stored trajectory (``motion/<name>.star``) and the picks' coordinate
    files with ``autopick.star`` in ``out_dir``."""
    out_dir = os.path.abspath(out_dir)
    for exposure in exposures:
        if exposure.positions:  # no trajectory stored: no made-up (zero) motion
            _motion_star(exposure, out_dir, absolute, gains)
    corrected = os.path.join(out_dir, "corrected_micrographs.star")
    write_star(corrected, R.micrographs_tables(exposures, out_dir, absolute, with_ctf=False))
    files = [corrected]
    fitted = [exposure for exposure in exposures if exposure.ctf is not None]
    if fitted:
        ctf = os.path.join(out_dir, "micrographs_ctf.star")
        write_star(ctf, R.micrographs_tables(fitted, out_dir, absolute, with_ctf=True))
        files.append(ctf)
    files += export_coordinates(exposures, out_dir, absolute)
    picked = [exposure for exposure in exposures if exposure.picks]
    return Written(tuple(files), len(exposures), len(fitted), len(picked),
                   sum(len(exposure.picks or ()) for exposure in picked))


def _shown(path: str, out_dir: str, absolute: bool) -> str:
    path = os.path.abspath(path)
    return path if absolute else os.path.relpath(path, out_dir)


def _cs_paths(exposure: Exposure, out_dir: str, absolute: bool) -> dict:
    """The exposure's paths as the dataset gives them; writes its trajectory (``.npy``)."""
    trajectory = ""
    if exposure.positions:
        target = os.path.join(out_dir, "motion", f"{exposure.name}_traj.npy")
        write_npy(target, C.trajectory(R.relion_shifts(exposure)))
        trajectory = _shown(target, out_dir, absolute)
    return {"micrograph": _shown(exposure.aligned_dw_path or exposure.aligned_path, out_dir,
                                 absolute),
            "non_dw": _shown(exposure.aligned_path, out_dir, absolute),
            "trajectory": trajectory, "shape": _shape(exposure.aligned_path)}


def _shape(path: str) -> tuple[int, int]:
    return read_mrc_shape(path) or (0, 0)


def export_cryosparc(exposures: Sequence[Exposure], out_dir: str, *,
                     absolute: bool = False) -> Written:
    """``exposures.cs`` (cryoSPARC fields, trajectories as ``.npy``), ``particles.cs``
    when any exposure has picks, and the STAR route (``micrographs_ctf.star``, what
    cryoSPARC's Import Micrographs reads)."""
    out_dir = os.path.abspath(out_dir)
    paths = [_cs_paths(exposure, out_dir, absolute) for exposure in exposures]
    dataset = C.exposures_dataset(exposures, paths)
    target = os.path.join(out_dir, "exposures.cs")
    write_dataset(target, dataset)
    files = [target]
    if any(exposure.picks for exposure in exposures):
        particles = os.path.join(out_dir, "particles.cs")
        write_dataset(particles, C.particles_dataset(exposures, paths))
        files.append(particles)
    star = export_relion(exposures, out_dir, absolute=absolute, gains=False)
    return Written((*files, *star.files), len(exposures), star.with_ctf, star.with_picks,
                   star.particles)
