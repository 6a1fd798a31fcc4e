"""The per-reference files MotionCor2 reads: gain, dark, defect map and FmIntFile.

Classic Appion writes them into the run directory once per reference (not per
image) and rewrites them only when the references change; the names here carry
the reference ids so a new reference gets a new file.  :func:`reference_files`
only names them (a dry run writes nothing); :func:`write_reference_files` writes
the missing ones, each to a temporary name renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import mrcfile
import numpy as np

from appion.base.errors import InputFileError
from appion.base.files import atomic_path, write_mrc, write_text
from appion.motioncorrection.calc.internal import params as P


def _ids(meta: P.ImageMetadata, options: P.MotionCorOptions) -> dict[str, object]:
    rot, flip = P.orientation(meta, options.force_cpu_flat)
    rows, cols = meta.leginon_shape
    return {"norm": (meta.norm or {}).get("id"), "dark": (meta.dark or {}).get("id"),
            "plan": (meta.corrector_plan or {}).get("id"), "rot": rot, "flip": flip,
            "shape": f"{rows}x{cols}"}


def reference_files(meta: P.ImageMetadata, options: P.MotionCorOptions, rundir: str | Path,
                    fmt: str) -> P.ReferenceFiles:
    """The file names one exposure's command uses (nothing is written)."""
    rundir = Path(rundir)
    ids = _ids(meta, options)
    gain = dark = defects = intfile = None
    if meta.norm_path():
        gain = str(rundir / f"norm-{ids['norm']}.mrc")
        dark = str(rundir / f"dark-{ids['dark'] or 'zero'}-{ids['shape']}.mrc")
    if P.has_defects(*P.defects_of(meta)):
        defects = str(rundir / f"defect-{ids['plan']}-r{ids['rot']}f{ids['flip']}-"
                               f"{ids['shape']}.mrc")
    if P.uses_fmintfile(fmt, options.rendered_frame_size):
        dose = P.exposure_dose(meta, options)
        intfile = str(rundir / f"intfile-{dose.nraw}x{options.rendered_frame_size}-"
                               f"{dose.raw:.4f}.txt")
    return P.ReferenceFiles(gain=gain, dark=dark, defect_map=defects, fmintfile=intfile)


def _read_mrc(path: str, label: str) -> np.ndarray:
    try:
        with mrcfile.open(path, permissive=True) as mrc:
            return np.asarray(mrc.data, dtype=np.float32)
    except (OSError, ValueError) as error:
        raise InputFileError(f"{label} {path} cannot be read ({error}); check the file") \
            from None


def write_reference_files(meta: P.ImageMetadata, options: P.MotionCorOptions,
                          files: P.ReferenceFiles) -> None:
    """Write whichever of ``files`` do not exist yet.  Raises InputFileError for a bad ref."""
    if files.gain and not os.path.exists(files.gain):
        source = meta.norm_path()
        if not source or not os.path.isfile(source):
            raise InputFileError(f"gain reference {source} is missing; check the norm "
                                 "reference of the session")
        with atomic_path(files.gain) as temporary:
            os.symlink(os.path.abspath(source), temporary)
    if files.dark and not os.path.exists(files.dark):
        dark = None
        if meta.dark_path():
            if not os.path.isfile(meta.dark_path()):
                raise InputFileError(f"dark reference {meta.dark_path()} is missing; check "
                                     "the dark reference of the session")
            dark = _read_mrc(meta.dark_path(), "dark reference")
        nframes = (meta.dark_camera or {}).get("nframes")
        write_mrc(files.dark, P.dark_per_frame(dark, nframes, meta.leginon_shape))
    if files.defect_map and not os.path.exists(files.defect_map):
        rot, flip = P.orientation(meta, options.force_cpu_flat)
        mask = P.defect_map(meta.leginon_shape, *P.defects_of(meta), rot, flip)
        write_mrc(files.defect_map, mask)
    if files.fmintfile and not os.path.exists(files.fmintfile):
        dose = P.exposure_dose(meta, options)
        lines = P.fmintfile_lines(dose.nraw, options.rendered_frame_size, dose.raw)
        write_text(files.fmintfile, "\n".join(lines) + "\n")
