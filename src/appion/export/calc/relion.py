"""RELION's STAR tables of an export, as pandas DataFrames (pure: no files, no database).

Conventions.  RELION reads CTF like CTFFIND: ``rlnDefocusU`` along
``rlnDefocusAngle``, ``rlnDefocusV`` across it, in Å and degrees.  Classic
``ApCtfData`` keeps the smaller defocus in ``defocus1`` along ``angle_astigmatism``
(metres), so the larger one (U) lies 90° from it: :func:`relion_ctf` is the inverse
of the classic mapping of CTFFIND's output (``ctffind_fit_to_ctfdata``).

Motion.  RELION's ``data_global_shift`` holds, per frame, the shift in unbinned
movie pixels with the first frame at 0, in the sign of MotionCor2's log (MotionCor2
writes the same numbers into its own RELION STAR).  Classic's trajectory is
``-(s - s_mid) / FtBin`` in aligned-sum pixels (``motioncorr_positions``), so
``s_i - s_0 = -FtBin · (p_i - p_0)``.

Coordinates.  RELION 4/5 keep picks as one STAR per micrograph (a ``data_`` block:
``rlnCoordinateX`` the column and ``rlnCoordinateY`` the row, in pixels of that
micrograph counted from its first stored pixel, and ``rlnAutopickFigureOfMerit``) and
an ``autopick.star`` (``data_coordinate_files``: ``rlnMicrographName``,
``rlnMicrographCoordinates``) that ``relion_preprocess --coord_list`` reads.  Classic
``ApParticleData.xcoord``/``ycoord`` are the same pixels of the same aligned sum as
stored (the export turns no micrograph), so they are written unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from appion.ctfestimation.calc.internal.classic import ctfdata_to_ctffind_fit
from appion.export.calc.exposure import CtfFit, Exposure, accumulated_motion_a

M_TO_A = 1e10


def relion_ctf(ctf: CtfFit) -> dict[str, float]:
    """``rlnDefocusU/V`` (Å, U the larger), ``rlnDefocusAngle`` (degrees), astigmatism."""
    defocus_u, defocus_v, angle = ctfdata_to_ctffind_fit({
        "defocus1": ctf.defocus1_m, "defocus2": ctf.defocus2_m,
        "angle_astigmatism": ctf.angle_astigmatism_deg})
    return {"rlnDefocusU": defocus_u, "rlnDefocusV": defocus_v, "rlnDefocusAngle": angle,
            "rlnCtfAstigmatism": abs(defocus_u - defocus_v)}


def relion_shifts(exposure: Exposure) -> list[tuple[float, float]]:
    """Per-frame shifts in RELION's convention (unbinned movie pixels, first frame 0)."""
    if not exposure.positions:
        return []
    scale = exposure.binning
    x0, y0 = exposure.positions[0]
    return [(-scale * (x - x0) + 0.0, -scale * (y - y0) + 0.0) for x, y in exposure.positions]


def optics_key(exposure: Exposure) -> tuple:
    """One optics group per preset, camera and pixel size (and voltage, Cs, contrast)."""
    ctf = exposure.ctf
    return (exposure.preset or "manual", exposure.camera,
            round(exposure.movie.pixel_size_a or 0.0, 5),
            round(exposure.aligned_pixel_size_a or 0.0, 5), exposure.voltage_kv,
            ctf.cs_mm if ctf else None, ctf.amplitude_contrast if ctf else None)


def optics_groups(exposures: Sequence[Exposure]) -> dict[tuple, int]:
    """``{optics key: group number}`` in the order the groups first appear."""
    groups: dict[tuple, int] = {}
    for exposure in exposures:
        groups.setdefault(optics_key(exposure), len(groups) + 1)
    return groups


def optics_table(exposures: Sequence[Exposure], groups: dict[tuple, int]) -> pd.DataFrame:
    rows = []
    for key, number in groups.items():
        preset, camera, movie_apix, aligned_apix, kv, cs, contrast = key
        rows.append({"rlnOpticsGroupName": f"{preset}_{camera}".replace(" ", "_"),
                     "rlnOpticsGroup": number,
                     "rlnMicrographOriginalPixelSize": movie_apix or aligned_apix,
                     "rlnVoltage": kv or 300.0,
                     "rlnSphericalAberration": 2.7 if cs is None else cs,
                     "rlnAmplitudeContrast": 0.1 if contrast is None else contrast,
                     "rlnMicrographPixelSize": aligned_apix})
    return pd.DataFrame(rows)


def _path(path: str | None, out_dir: str, absolute: bool) -> str | None:
    if path is None:
        return None
    path = os.path.abspath(path)
    return path if absolute else os.path.relpath(path, out_dir)


def motion_star_name(exposure: Exposure) -> str:
    return os.path.join("motion", f"{exposure.name}.star")


def micrograph_row(exposure: Exposure, group: int, out_dir: str, absolute: bool) -> dict:
    """A row of ``corrected_micrographs.star``."""
    total, early, late = accumulated_motion_a(exposure) or (0.0, 0.0, 0.0)
    return {"rlnMicrographName": _path(micrograph_name(exposure), out_dir, absolute),
            "rlnMicrographNameNoDW": _path(exposure.aligned_path, out_dir, absolute),
            "rlnMicrographMetadata": (_path(os.path.join(out_dir, motion_star_name(exposure)),
                                            out_dir, absolute) if exposure.positions
                                      else "None"),
            "rlnOpticsGroup": group, "rlnAccumMotionTotal": total,
            "rlnAccumMotionEarly": early, "rlnAccumMotionLate": late}


def ctf_row(exposure: Exposure, group: int, out_dir: str, absolute: bool,
            with_phase: bool) -> dict:
    """A row of ``micrographs_ctf.star`` (the exposure must have a CTF)."""
    ctf = exposure.ctf
    assert ctf is not None  # callers pass only exposures with a fit
    row = micrograph_row(exposure, group, out_dir, absolute)
    row["rlnCtfImage"] = _path(ctf.ctf_image, out_dir, absolute) if ctf.ctf_image else "None"
    row.update(relion_ctf(ctf))
    row["rlnCtfFigureOfMerit"] = ctf.cross_correlation if ctf.cross_correlation is not None \
        else (ctf.confidence or 0.0)
    row["rlnCtfMaxResolution"] = ctf.resolution_a if ctf.resolution_a is not None else 999.0
    if with_phase:
        row["rlnPhaseShift"] = (ctf.phase_shift_rad or 0.0) * 180.0 / 3.141592653589793
    return row


def micrographs_tables(exposures: Sequence[Exposure], out_dir: str, absolute: bool,
                       with_ctf: bool) -> dict[str, pd.DataFrame]:
    """``{"optics": ..., "micrographs": ...}`` for corrected or CTF micrographs."""
    groups = optics_groups(exposures)
    with_phase = any(e.ctf and e.ctf.phase_shift_rad is not None for e in exposures)
    rows = [ctf_row(e, groups[optics_key(e)], out_dir, absolute, with_phase) if with_ctf
            else micrograph_row(e, groups[optics_key(e)], out_dir, absolute)
            for e in exposures]
    return {"optics": optics_table(exposures, groups), "micrographs": pd.DataFrame(rows)}


def motion_tables(exposure: Exposure, out_dir: str, absolute: bool,
                  gain_path: str | None, defect_path: str | None) -> dict:
    """The per-movie motion STAR: ``general`` (a key-value block) and ``global_shift``."""
    movie = exposure.movie
    general = {
        "rlnImageSizeX": movie.size_x, "rlnImageSizeY": movie.size_y,
        "rlnImageSizeZ": len(exposure.positions) or movie.frames,
        "rlnMicrographMovieName": _path(movie.path, out_dir, absolute) or "None",
        "rlnMicrographGainName": _path(gain_path, out_dir, absolute) or "None",
        "rlnMicrographDefectFile": _path(defect_path, out_dir, absolute) or "None",
        "rlnMicrographBinning": round(exposure.binning, 6),
        "rlnMicrographOriginalPixelSize": round(movie.pixel_size_a
                                                or exposure.aligned_pixel_size_a or 0.0, 6),
        "rlnMicrographDoseRate": round(exposure.dose_per_frame or 0.0, 6),
        "rlnMicrographPreExposure": 0.0,
        "rlnVoltage": exposure.voltage_kv or 300.0,
        "rlnMicrographStartFrame": 1,
        "rlnMotionModelVersion": 0,
    }
    if movie.is_eer:
        general["rlnEERUpsampling"] = 1
        general["rlnEERGrouping"] = max(1, round(movie.frames / max(1, len(exposure.positions))))
    shifts = relion_shifts(exposure)
    table = pd.DataFrame({"rlnMicrographFrameNumber": range(1, len(shifts) + 1),
                          "rlnMicrographShiftX": [x for x, _ in shifts],
                          "rlnMicrographShiftY": [y for _, y in shifts]})
    return {"general": general, "global_shift": table}


def micrograph_name(exposure: Exposure) -> str:
    """The micrograph the export names (``rlnMicrographName``): the dose-weighted sum."""
    return exposure.aligned_dw_path or exposure.aligned_path


def coordinate_star_name(exposure: Exposure) -> str:
    """``coordinates/<micrograph>_autopick.star``, as RELION's auto-picking names it."""
    stem = os.path.splitext(os.path.basename(micrograph_name(exposure)))[0]
    return os.path.join("coordinates", f"{stem}_autopick.star")


def coordinate_table(exposure: Exposure) -> pd.DataFrame:
    """The exposure's picks as RELION's per-micrograph coordinate table (pixels of the
    exported micrograph, unbinned; the figure of merit only when every pick has one)."""
    picks = exposure.picks or ()
    table = pd.DataFrame({"rlnCoordinateX": [float(x) for x, _, _, _ in picks],
                          "rlnCoordinateY": [float(y) for _, y, _, _ in picks]})
    if picks and all(score is not None for _, _, score, _ in picks):
        table["rlnAutopickFigureOfMerit"] = [float(score or 0.0) for _, _, score, _ in picks]
    return table


def autopick_table(exposures: Sequence[Exposure], out_dir: str, absolute: bool
                   ) -> pd.DataFrame:
    """``data_coordinate_files`` of ``autopick.star``: the exposures with picks."""
    return pd.DataFrame(
        [{"rlnMicrographName": _path(micrograph_name(e), out_dir, absolute),
          "rlnMicrographCoordinates": _path(os.path.join(out_dir, coordinate_star_name(e)),
                                            out_dir, absolute)}
         for e in exposures if e.picks],
        columns=["rlnMicrographName", "rlnMicrographCoordinates"])
