"""A tiny Leginon session with real files, for end-to-end runs on the fake MotionCor2.

Two 48×64 exposures of 6 frames on a camera with frame rotate 1 and flip 1, a
norm reference in a reference session, a corrector plan with a bad column, a
pixel-size history and an ice-thickness record.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import tifffile

SHAPE = (48, 64)  # Leginon orientation: rows, columns
NFRAMES = 6


@dataclass(frozen=True)
class TinySession:
    session_id: int
    image_ids: list[int]
    image_path: Path
    frame_path: Path
    names: list[str]


def make_session(root: Path, exposures: int = 2, *, missing_frames: int | None = None
                 ) -> TinySession:
    import sinedon
    when = datetime.datetime(2025, 3, 19, 13, 0, 0)
    image_path, frame_path = root / "leginon/s1/rawdata", root / "frames/s1/rawdata"
    ref_path = root / "leginon/ref/rawdata"
    for folder in (image_path, frame_path, ref_path):
        folder.mkdir(parents=True)
    session = sinedon.insert("SessionData", {"name": "s1", "image_path": str(image_path),
                                             "frame_path": str(frame_path)})
    ref_session = sinedon.insert("SessionData", {"name": "ref", "image_path": str(ref_path)})
    ccd = sinedon.insert("InstrumentData", {"name": "GatanK3", "hostname": "k3"})
    tem = sinedon.insert("InstrumentData", {"name": "Krios", "hostname": "krios"})
    camera_values = {"session": session, "ccdcamera": ccd, "dimension_x": SHAPE[1],
                     "dimension_y": SHAPE[0], "binning_x": 1, "binning_y": 1,
                     "offset_x": 0, "offset_y": 0, "nframes": NFRAMES, "frame_rotate": 1,
                     "frame_flip": 1, "exposure_time": 1500.0, "save_frames": True,
                     "use_frames": repr(tuple(range(NFRAMES)))}
    preset = sinedon.insert("PresetData", {
        "session": session, "name": "enn", "tem": tem, "ccdcamera": ccd,
        "magnification": 105000, "dose": 6.0e21, "dimension_x": SHAPE[1],
        "dimension_y": SHAPE[0], "binning_x": 1, "binning_y": 1, "exposure_time": 1500.0})
    gain = np.random.default_rng(1).uniform(0.9, 1.1, SHAPE).astype(np.float32)
    with mrcfile.new(ref_path / "ref_norm.mrc") as out:
        out.set_data(gain)
    norm = sinedon.insert("NormImageData", {"session": ref_session, "image": "ref_norm.mrc",
                                            "filename": "ref_norm"})
    plan = sinedon.insert("CorrectorPlanData", {"session": session, "bad_cols": "(5,)",
                                                "bad_rows": "()", "bad_pixels": "()"})
    sinedon.insert("PixelSizeCalibrationData", {
        "def_timestamp": when - datetime.timedelta(days=10), "tem": tem, "ccdcamera": ccd,
        "magnification": 105000, "pixelsize": 4.13e-11})
    ids, names = [], []
    for number in range(exposures):
        name = f"s1_grid_{number:05d}hl_{number:05d}enn"
        camera = sinedon.insert("CameraEMData", camera_values)
        scope = sinedon.insert("ScopeEMData", {"session": session, "tem": tem,
                                               "magnification": 105000,
                                               "high_tension": 300000.0})
        image = sinedon.insert("AcquisitionImageData", {
            "def_timestamp": when, "session": session, "preset": preset, "camera": camera,
            "scope": scope, "norm": norm, "corrector_plan": plan, "filename": name,
            "image": name + ".mrc", "label": "Exposure"})
        sinedon.insert("ObjIceThicknessData", {"image": image, "thickness": 30.0 + number})
        frames = np.random.default_rng(number).poisson(3.0, (NFRAMES, SHAPE[1], SHAPE[0]))
        if number != missing_frames:
            tifffile.imwrite(frame_path / f"{name}.frames.tif", frames.astype(np.uint8))
        ids.append(image)
        names.append(name)
    return TinySession(session, ids, image_path, frame_path, names)
