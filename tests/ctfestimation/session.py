"""A small Leginon session of aligned micrographs with known CTFs, for CTF tests."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import mrcfile

from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise

FAKES = Path(__file__).parent / "fakes"
PIXEL_SIZE_A = 1.0
KV = 300.0
CS_MM = 2.7


@dataclass(frozen=True)
class Truth:
    image_id: int
    filename: str
    defocus_1_a: float
    defocus_2_a: float
    azimuth_deg: float


def make_session(root: Path, truths: list[tuple[float, float, float, float]],
                 name: str = "25jan01ctf", preset: str = "enn-a-DW", size: int = 1024
                 ) -> tuple[dict, list[Truth]]:
    """Leginon rows and micrograph files: one image per (d1, d2, azimuth, signal-to-noise)."""
    import sinedon
    image_path = root / "leginon" / name / "rawdata"
    image_path.mkdir(parents=True)
    tem = sinedon.insert("InstrumentData", {"name": "Krios", "cs": CS_MM * 1e-3})
    camera_instrument = sinedon.insert("InstrumentData", {"name": "K3"})
    session_id = sinedon.insert("SessionData", {"name": name, "image_path": str(image_path)})
    sinedon.insert("PixelSizeCalibrationData", {
        "tem": tem, "ccdcamera": camera_instrument, "magnification": 105000,
        "pixelsize": PIXEL_SIZE_A * 1e-10,
        "def_timestamp": datetime.datetime(2020, 1, 1)})
    preset_id = sinedon.insert("PresetData", {"session": session_id, "name": preset,
                                              "tem": tem, "ccdcamera": camera_instrument})
    result = []
    for index, (d1, d2, azimuth, snr) in enumerate(truths):
        filename = f"{name}_{index:05d}en-a-DW"
        image = ctf_filtered_noise((size, size), PIXEL_SIZE_A, d1, d2, azimuth,
                                   signal_to_noise=snr, seed=index + 11)
        with mrcfile.new(image_path / f"{filename}.mrc") as mrc:
            mrc.set_data(image)
        scope = sinedon.insert("ScopeEMData", {"session": session_id, "tem": tem,
                                               "magnification": 105000,
                                               "defocus": -0.5e-10 * (d1 + d2),
                                               "high_tension": KV * 1e3})
        camera = sinedon.insert("CameraEMData", {"session": session_id,
                                                 "ccdcamera": camera_instrument,
                                                 "binning_x": 1, "binning_y": 1,
                                                 "dimension_x": size, "dimension_y": size})
        image_id = sinedon.insert("AcquisitionImageData", {
            "session": session_id, "preset": preset_id, "scope": scope, "camera": camera,
            "filename": filename, "image": f"{filename}.mrc"})
        result.append(Truth(image_id, filename, d1, d2, azimuth))
    return sinedon.get("SessionData", {"id": session_id}), result


def fake_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """``env`` with the fake CTFFIND/Gctf and this interpreter's scripts first on PATH."""
    import sys
    path = os.pathsep.join([str(FAKES), str(Path(sys.executable).parent),
                            env.get("PATH", os.environ.get("PATH", ""))])
    return {**env, "PATH": path, **extra}
