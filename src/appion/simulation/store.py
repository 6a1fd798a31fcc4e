"""Database records of a simulated session, written the way Leginon writes them.

Every function takes plain values and returns new row ids; the caller has set up
sinedon for the project.  An exposure's rows (scope, camera, image) go in one
transaction, after its files are complete, so a reader never sees an image
without its movie.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import sinedon
from appion.simulation.calc import Defects, leginon_sequence
from appion.simulation.cameras import CameraSpec

#: Physical detector pixel size (m) that Leginon records in CameraEMData.
_DETECTOR_PIXEL_M = {"k3": 5.0e-6, "k2": 5.0e-6, "falcon4-eer": 14.0e-6, "de": 8.0e-6}
TEM_NAME = "TitanKrios"
TEM_HOSTNAME = "krios-sim"
USER = {"username": "simulator", "firstname": "Appion", "lastname": "Simulator",
        "email": "simulator@example.org"}


@dataclass(frozen=True)
class Instruments:
    tem: int
    camera: int


def ensure_user() -> int:
    return sinedon.set("UserData", USER)


def tem_hostname(microscope: str) -> str:
    """The simulated TEM's host: ``krios-sim`` for the default, else ``<name>-sim``."""
    return TEM_HOSTNAME if microscope == TEM_NAME else f"{microscope.lower()}-sim"


def ensure_instruments(camera: CameraSpec, microscope: str = TEM_NAME) -> Instruments:
    """The TEM and camera ``InstrumentData`` rows (one TEM row per microscope name)."""
    tem = sinedon.set("InstrumentData", {"name": microscope,
                                          "hostname": tem_hostname(microscope),
                                          "cs": 2.7e-3, "hidden": False})
    ccd = sinedon.set("InstrumentData", {"name": camera.name, "hostname": camera.hostname,
                                          "pixelmax": camera.pixelmax, "hidden": False})
    return Instruments(tem, ccd)


def insert_session(name: str, image_path: str, frame_path: str, user: int, tem: int, *,
                   comment: str, hidden: bool = False,
                   timestamp: datetime.datetime | None = None) -> int:
    values: dict[str, Any] = {"name": name, "image_path": image_path,
                              "frame_path": frame_path, "user": user,
                              "comment": comment, "hidden": hidden}
    if timestamp is not None:
        values["def_timestamp"] = timestamp
    return sinedon.insert("SessionData", values)


def link_project(session: int, projectid: int) -> int:
    """``projectexperiments`` row (and the ``projects`` row if it is missing)."""
    if sinedon.get("projects", {"id": projectid}) is None:
        sinedon.insert("projects", {"id": projectid, "name": f"project {projectid}",
                                    "hidden": False})
    return sinedon.set("projectexperiments", {"project": projectid, "session": session})


def calibration_history(camera: CameraSpec, now: datetime.datetime
                        ) -> list[tuple[datetime.datetime, float, str]]:
    """(timestamp, pixel size m, comment): an old calibration, the current one twice, and a
    later recalibration that images taken now must not use."""
    day = datetime.timedelta(days=1)
    return [(now - 1100 * day, camera.old_pixelsize_m, "initial calibration"),
            (now - 400 * day, camera.pixelsize_m, "recalibrated after service"),
            (now - 399 * day, camera.pixelsize_m, "checked"),
            (now + day, camera.old_pixelsize_m * 1.01, "recalibrated after this session")]


def insert_pixel_calibrations(camera: CameraSpec, instruments: Instruments, session: int,
                              now: datetime.datetime) -> list[int]:
    return [sinedon.insert("PixelSizeCalibrationData", {
        "session": session, "tem": instruments.tem, "ccdcamera": instruments.camera,
        "magnification": camera.magnification, "pixelsize": pixelsize, "comment": comment,
        "def_timestamp": timestamp})
        for timestamp, pixelsize, comment in calibration_history(camera, now)]


def _geometry(camera: CameraSpec, size: str) -> dict[str, Any]:
    dimension = camera.size(size).dimension
    offset = camera.offset(size)
    return {"dimension_x": dimension[0], "dimension_y": dimension[1],
            "binning_x": camera.binning, "binning_y": camera.binning,
            "offset_x": offset[0], "offset_y": offset[1]}


def _use_frames(nframes: int) -> str:
    return leginon_sequence(range(nframes))


def insert_preset(camera: CameraSpec, size: str, instruments: Instruments, session: int, *,
                  name: str, dose_e_a2: float, defocus_um: tuple[float, float]) -> int:
    spec = camera.size(size)
    low, high = sorted(defocus_um)
    return sinedon.insert("PresetData", {
        "session": session, "tem": instruments.tem, "ccdcamera": instruments.camera,
        "name": name, "number": 5, "magnification": camera.magnification, "spot_size": 7,
        "intensity": 7.58e-7, "image_shift_x": 0.0, "image_shift_y": 0.0,
        "beam_shift_x": 0.0, "beam_shift_y": 0.0, "defocus": -0.5 * (low + high) * 1e-6,
        "defocus_range_min": -low * 1e-6, "defocus_range_max": -high * 1e-6,
        **_geometry(camera, size), "exposure_time": spec.exposure_time_ms,
        "pre_exposure": 0.0, "dose": dose_e_a2 * 1e20, "energy_filter": camera.key == "k3",
        "energy_filter_width": 20.0 if camera.key == "k3" else 0.0, "removed": False,
        "hasref": False, "skip": False, "alt_channel": False, "save_frames": True,
        "align_frames": False, "align_filter": "None",
        "frame_time": spec.exposure_time_ms / spec.nframes,
        "use_frames": _use_frames(spec.nframes), "readout_delay": 0, "fast_save": True,
        "use_cds": False, "probe_mode": "nano", "projection_mode": "imaging"})


def insert_scope(session: int, tem: int, *, magnification: int, defocus_m: float,
                 stage_alpha_rad: float, system_time: float) -> int:
    return sinedon.insert("ScopeEMData", {
        "session": session, "tem": tem, "system_time": system_time,
        "magnification": magnification, "spot_size": 7, "intensity": 7.58e-7,
        "defocus": defocus_m, "focus": -7.76e-4 + defocus_m, "high_tension": 300000.0,
        "image_shift_x": 0.0, "image_shift_y": 0.0, "beam_shift_x": 0.0, "beam_shift_y": 0.0,
        "stage_position_x": 1.09e-4, "stage_position_y": 2.78e-4,
        "stage_position_z": -1.45e-4, "stage_position_a": stage_alpha_rad,
        "stage_position_b": 0.0, "main_screen_position": "up", "probe_mode": "nano",
        "projection_mode": "imaging", "exp_wait_time": 5.0, "corrected_stage_position": True,
        "tem_energy_filtered": False})


def insert_camera(camera: CameraSpec, size: str, session: int, ccd: int, *, nframes: int,
                  exposure_time_ms: float, frames_name: str, system_time: float) -> int:
    pixel = _DETECTOR_PIXEL_M[camera.key] / (2 if camera.key == "k3" else 1)
    return sinedon.insert("CameraEMData", {
        "session": session, "ccdcamera": ccd, "system_time": system_time,
        **_geometry(camera, size), "pixel_size_x": pixel, "pixel_size_y": pixel,
        "binned_multiplier": 1.0, "exposure_time": exposure_time_ms,
        "exposure_type": "normal", "exposure_timestamp": system_time - 2.0, "inserted": True,
        "energy_filtered": camera.key == "k3", "energy_filter": camera.key == "k3",
        "energy_filter_width": 20.0 if camera.key == "k3" else 0.0, "nframes": nframes,
        "save_frames": True, "align_frames": False, "align_filter": "None",
        "frame_time": exposure_time_ms / nframes, "frames_name": frames_name,
        "use_frames": _use_frames(nframes), "frame_flip": camera.frame_flip,
        "frame_rotate": camera.frame_rotate, "readout_delay": 0, "system_corrected": False,
        "system_dark_subtracted": True, "intensity_averaged": False,
        "tiff_frames": camera.movie_format == "tiff", "eer_frames": camera.eer,
        "fast_save": True, "use_cds": False, "frame_gain_corrected": False,
        "sum_gain_corrected": False})


def insert_reference(table: str, *, session: int, camera_row: int, scope_row: int,
                     filename: str, shape: tuple[int, int], nframes: int,
                     dark: int | None = None) -> int:
    """A ``NormImageData`` or ``DarkImageData`` row for a reference file."""
    values: dict[str, Any] = {
        "session": session, "camera": camera_row, "scope": scope_row,
        "image": f"{filename}.mrc", "filename": filename, "pixels": shape[0] * shape[1],
        "pixeltype": "float32", "channel": 0, "use_frames": _use_frames(nframes)}
    if table == "NormImageData":
        values.update(dark=dark, denoised=False)
    return sinedon.insert(table, values)


def insert_corrector_plan(session: int, camera_row: int, defects: Defects) -> int:
    return sinedon.insert("CorrectorPlanData", {
        "session": session, "camera": camera_row,
        "bad_rows": leginon_sequence(defects.bad_rows),
        "bad_cols": leginon_sequence(defects.bad_cols),
        "bad_pixels": leginon_sequence(list(defects.hot_pixels)),
        "clip_limits": leginon_sequence([]), "despike": False, "despike_size": 11,
        "despike_threshold": 3.5})


@dataclass(frozen=True)
class ExposureRows:
    """The Leginon references an exposure's image row needs."""

    session: int
    preset: int
    tem: int
    ccd: int
    norm: int
    dark: int
    corrector_plan: int


def insert_exposure(rows: ExposureRows, camera: CameraSpec, size: str, *, filename: str,
                    shape: tuple[int, int], nframes: int, exposure_time_ms: float,
                    defocus_m: float, stage_alpha_rad: float, frames_name: str) -> int:
    """Scope, camera and image rows of one exposure, in one transaction; the image id."""
    system_time = datetime.datetime.now().timestamp()
    with sinedon.atomic(sinedon.LEGINON):
        scope = insert_scope(rows.session, rows.tem, magnification=camera.magnification,
                             defocus_m=defocus_m, stage_alpha_rad=stage_alpha_rad,
                             system_time=system_time)
        camera_row = insert_camera(camera, size, rows.session, rows.ccd, nframes=nframes,
                                   exposure_time_ms=exposure_time_ms,
                                   frames_name=frames_name, system_time=system_time)
        return sinedon.insert("AcquisitionImageData", {
            "session": rows.session, "preset": rows.preset, "scope": scope,
            "camera": camera_row, "corrector_plan": rows.corrector_plan, "norm": rows.norm,
            "dark": rows.dark, "image": f"{filename}.mrc", "filename": filename,
            "label": "Exposure", "pixels": shape[0] * shape[1], "pixeltype": "float32",
            "version": 0, "correction_channel": 0, "use_frames": _use_frames(nframes)})


def set_viewer_status(session: int, image: int, status: str) -> int:
    """A ``ViewerImageStatus`` row (``hidden``, ``trash`` or ``exemplar``)."""
    return sinedon.insert("ViewerImageStatus", {"session": session, "image": image,
                                                "status": status})


def insert_assessment(session: int, image: int, keep: bool) -> int:
    """An ``ApAssessmentData`` row in the project's Appion database."""
    run = sinedon.set("ApAssessmentRunData", {"session": session,
                                              "name": "simulated assessment"})
    return sinedon.insert("ApAssessmentData", {"assessmentrun": run, "image": image,
                                               "selectionkeep": keep})
