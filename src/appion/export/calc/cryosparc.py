"""The exposures as a cryoSPARC dataset (``.cs``) with cryoSPARC's field names.

Built with cryosparc-tools' :class:`cryosparc.dataset.Dataset`.  cryoSPARC keeps CTF
like CTFFIND (``ctf/df1_A`` along ``ctf/df_angle_rad``), in Å and radians, and the
rigid motion of an exposure as a ``.npy`` trajectory (one row per frame, movie
pixels) referenced by ``rigid_motion/path``.

Picks go into a particles dataset as cryoSPARC's pickers write it: ``location/*``
(the micrograph's path, uid and ``micrograph_shape`` ``(ny, nx)``, and the centre as
fractions ``x / nx`` and ``y / ny`` of that micrograph, no flip: the same stored pixels
as RELION's coordinates) and ``pick_stats/ncc_score`` (the pick's score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from appion.export.calc.exposure import Exposure
from appion.export.calc.relion import optics_groups, optics_key, relion_ctf

FIELDS = [
    ("micrograph_blob/path", "O"), ("micrograph_blob/idx", "u4"),
    ("micrograph_blob/shape", "2u4"), ("micrograph_blob/psize_A", "f4"),
    ("micrograph_blob/format", "O"), ("micrograph_blob/is_background_subtracted", "u1"),
    ("micrograph_blob_non_dw/path", "O"), ("micrograph_blob_non_dw/idx", "u4"),
    ("micrograph_blob_non_dw/shape", "2u4"), ("micrograph_blob_non_dw/psize_A", "f4"),
    ("ctf/type", "O"), ("ctf/exp_group_id", "u4"), ("ctf/accel_kv", "f4"),
    ("ctf/cs_mm", "f4"), ("ctf/amp_contrast", "f4"), ("ctf/df1_A", "f4"),
    ("ctf/df2_A", "f4"), ("ctf/df_angle_rad", "f4"), ("ctf/phase_shift_rad", "f4"),
    ("ctf/scale", "f4"), ("ctf/bfactor", "f4"),
    ("ctf_stats/type", "O"), ("ctf_stats/cross_corr_ctffind4", "f4"),
    ("ctf_stats/ctf_fit_to_A", "f4"), ("ctf_stats/df_range", "2f4"),
    ("ctf_stats/ice_thickness_rel", "f4"), ("ctf_stats/diag_image_path", "O"),
    ("rigid_motion/type", "O"), ("rigid_motion/path", "O"), ("rigid_motion/idx", "u4"),
    ("rigid_motion/frame_start", "u4"), ("rigid_motion/frame_end", "u4"),
    ("rigid_motion/zero_shift_frame", "u4"), ("rigid_motion/psize_A", "f4"),
    ("mscope_params/accel_kv", "f4"), ("mscope_params/cs_mm", "f4"),
    ("mscope_params/total_dose_e_per_A2", "f4"), ("mscope_params/exp_group_id", "u4"),
]


def exposure_uid(exposure: Exposure) -> int:
    """A stable 64-bit uid from the session and source image ids."""
    return ((exposure.session_id & 0xFFFFFFFF) << 32) | (exposure.source_id & 0xFFFFFFFF)


def trajectory(shifts: Sequence[tuple[float, float]]) -> np.ndarray:
    """``rigid_motion`` trajectory: ``(1, frames, 2)`` float32, movie pixels."""
    return np.asarray(shifts, dtype=np.float32).reshape(1, -1, 2)


def _ctf_values(exposure: Exposure) -> dict:
    ctf = exposure.ctf
    if ctf is None:
        return {}
    relion = relion_ctf(ctf)
    return {"ctf/type": "imported", "ctf/cs_mm": ctf.cs_mm,
            "ctf/amp_contrast": ctf.amplitude_contrast,
            "ctf/df1_A": relion["rlnDefocusU"], "ctf/df2_A": relion["rlnDefocusV"],
            "ctf/df_angle_rad": math.radians(relion["rlnDefocusAngle"]),
            "ctf/phase_shift_rad": ctf.phase_shift_rad or 0.0, "ctf/scale": 1.0,
            "ctf_stats/type": "ctffind4",
            "ctf_stats/cross_corr_ctffind4": ctf.cross_correlation or 0.0,
            "ctf_stats/ctf_fit_to_A": ctf.resolution_a or 0.0,
            "ctf_stats/df_range": (min(relion["rlnDefocusU"], relion["rlnDefocusV"]),
                                   max(relion["rlnDefocusU"], relion["rlnDefocusV"])),
            "ctf_stats/diag_image_path": ctf.ctf_image or ""}


def exposure_values(exposure: Exposure, group: int, paths: dict[str, str]) -> dict:
    """One row of the dataset; ``paths`` gives ``micrograph``, ``non_dw``, ``trajectory``."""
    values = {
        "micrograph_blob/path": paths["micrograph"], "micrograph_blob/format": "MRC/1.0",
        "micrograph_blob/psize_A": exposure.aligned_pixel_size_a or 0.0,
        "micrograph_blob/shape": paths.get("shape", (0, 0)),
        "micrograph_blob_non_dw/path": paths["non_dw"],
        "micrograph_blob_non_dw/psize_A": exposure.aligned_pixel_size_a or 0.0,
        "micrograph_blob_non_dw/shape": paths.get("shape", (0, 0)),
        "ctf/exp_group_id": group, "ctf/accel_kv": exposure.voltage_kv or 300.0,
        "ctf_stats/ice_thickness_rel": exposure.ice_thickness or 0.0,
        "rigid_motion/type": "rigid", "rigid_motion/path": paths["trajectory"],
        "rigid_motion/frame_end": len(exposure.positions),
        "rigid_motion/psize_A": exposure.movie.pixel_size_a or 0.0,
        "mscope_params/accel_kv": exposure.voltage_kv or 300.0,
        "mscope_params/total_dose_e_per_A2": exposure.total_dose or 0.0,
        "mscope_params/exp_group_id": group,
    }
    values.update(_ctf_values(exposure))
    if exposure.ctf:
        values["mscope_params/cs_mm"] = exposure.ctf.cs_mm
    return values


def exposures_dataset(exposures: Sequence[Exposure], paths: Sequence[dict[str, str]]):
    """A :class:`cryosparc.dataset.Dataset` of the exposures (one row each)."""
    from cryosparc.dataset import Dataset
    groups = optics_groups(exposures)
    dataset = Dataset.allocate(len(exposures), FIELDS)
    dataset["uid"] = [exposure_uid(e) for e in exposures]
    for index, (exposure, where) in enumerate(zip(exposures, paths)):
        for key, value in exposure_values(exposure, groups[optics_key(exposure)],
                                          where).items():
            dataset[key][index] = value
    return dataset



PARTICLE_FIELDS = [
    ("location/micrograph_uid", "u8"), ("location/exp_group_id", "u4"),
    ("location/micrograph_path", "O"), ("location/micrograph_shape", "2u4"),
    ("location/micrograph_psize_A", "f4"), ("location/center_x_frac", "f4"),
    ("location/center_y_frac", "f4"), ("pick_stats/ncc_score", "f4"),
]


def particles_dataset(exposures: Sequence[Exposure], paths: Sequence[dict]):
    """A :class:`cryosparc.dataset.Dataset` of the exposures' picks (one row each);
    ``paths`` as for :func:`exposures_dataset` (``micrograph`` and ``shape``)."""
    from cryosparc.dataset import Dataset
    groups = optics_groups(exposures)
    rows = [(exposure, where, pick) for exposure, where in zip(exposures, paths)
            for pick in exposure.picks or ()]
    dataset = Dataset.allocate(len(rows), PARTICLE_FIELDS)
    for index, (exposure, where, (x, y, score, _)) in enumerate(rows):
        ny, nx = where.get("shape") or (0, 0)
        dataset["location/micrograph_uid"][index] = exposure_uid(exposure)
        dataset["location/exp_group_id"][index] = groups[optics_key(exposure)]
        dataset["location/micrograph_path"][index] = where["micrograph"]
        dataset["location/micrograph_shape"][index] = (ny, nx)
        dataset["location/micrograph_psize_A"][index] = exposure.aligned_pixel_size_a or 0.0
        dataset["location/center_x_frac"][index] = x / nx if nx else 0.0
        dataset["location/center_y_frac"][index] = y / ny if ny else 0.0
        dataset["pick_stats/ncc_score"][index] = score or 0.0
    return dataset
