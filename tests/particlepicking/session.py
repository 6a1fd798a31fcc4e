"""A small Leginon session of aligned micrographs holding dark round particles at known places."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

PIXEL_SIZE_A = 2.0
DIAMETER_A = 80.0            # 40 pixels
SIZE = 512
#: Particle centres (x, y) in pixels, well apart and away from the edges.
CENTRES = ((100, 110), (300, 90), (420, 260), (250, 260), (110, 400), (380, 420))


@dataclass(frozen=True)
class Micrograph:
    image_id: int
    filename: str
    centres: tuple[tuple[int, int], ...]


def particle_image(centres, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Noise (σ 1) with a dark disc of :data:`DIAMETER_A` (soft edge) at each centre."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    radius = DIAMETER_A / PIXEL_SIZE_A / 2.0
    for x, y in centres:
        distance = np.hypot(xx - x, yy - y)
        image -= (2.5 / (1.0 + np.exp((distance - radius) / 2.0))).astype(np.float32)
    return image + 10.0


def make_session(root: Path, count: int = 2, name: str = "25jan01pick",
                 preset: str = "enn-a-DW") -> tuple[dict, list[Micrograph]]:
    """Leginon rows and micrograph files: ``count`` images, each with :data:`CENTRES`
    shifted by 7 pixels per image."""
    import sinedon
    image_path = root / "leginon" / name / "rawdata"
    image_path.mkdir(parents=True)
    tem = sinedon.insert("InstrumentData", {"name": "Krios", "cs": 2.7e-3})
    camera_instrument = sinedon.insert("InstrumentData", {"name": "K3"})
    session_id = sinedon.insert("SessionData", {"name": name, "image_path": str(image_path)})
    sinedon.insert("PixelSizeCalibrationData", {
        "tem": tem, "ccdcamera": camera_instrument, "magnification": 36000,
        "pixelsize": PIXEL_SIZE_A * 1e-10, "def_timestamp": datetime.datetime(2020, 1, 1)})
    preset_id = sinedon.insert("PresetData", {"session": session_id, "name": preset,
                                              "tem": tem, "ccdcamera": camera_instrument})
    found = []
    for index in range(count):
        filename = f"{name}_{index:05d}en-a-DW"
        centres = tuple((x + 7 * index, y + 5 * index) for x, y in CENTRES)
        with mrcfile.new(image_path / f"{filename}.mrc") as mrc:
            mrc.set_data(particle_image(centres, seed=index))
        scope = sinedon.insert("ScopeEMData", {"session": session_id, "tem": tem,
                                               "magnification": 36000, "defocus": -1.5e-6,
                                               "high_tension": 300e3})
        camera = sinedon.insert("CameraEMData", {"session": session_id,
                                                 "ccdcamera": camera_instrument,
                                                 "binning_x": 1, "binning_y": 1,
                                                 "dimension_x": SIZE, "dimension_y": SIZE})
        image_id = sinedon.insert("AcquisitionImageData", {
            "session": session_id, "preset": preset_id, "scope": scope, "camera": camera,
            "filename": filename, "image": f"{filename}.mrc"})
        found.append(Micrograph(image_id, filename, centres))
    return sinedon.get("SessionData", {"id": session_id}), found


def nearest_distance(x: float, y: float, centres) -> float:
    return min(float(np.hypot(x - cx, y - cy)) for cx, cy in centres)
