"""The simulated cameras: Leginon instrument names, geometry, orientation and frame counts.

Geometry follows Leginon: ``dimension`` and ``offset`` are in binned pixels of the
Leginon image (``dimension_x`` = columns), the calibrated pixel size is per
unbinned (physical or super-resolution) pixel, so a file pixel is
``pixelsize × binning``.  Frames on disk are in the camera's raw orientation,
which is the Leginon orientation turned by ``frame_rotate`` × 90° and flipped by
``frame_flip`` (MotionCor2's ``-RotGain`` / ``-FlipGain`` meaning, see
:mod:`appion.motioncorrection.calc.internal.orientation`):

=============  ============  ======  ====  ============================================
key            instrument    rotate  flip  why
=============  ============  ======  ====  ============================================
``k3``         GatanK3       0       0     like the production K3 site (counted, binned 2)
``k2``         GatanK2       1       0     a rotation-only camera (non-square frames)
``falcon4-eer``  Falcon4EC   1       1     like a production Falcon 4 EER site
``de``         DEApollo      0       1     a flip-only camera, MRC frames with a dark
=============  ============  ======  ====  ============================================

For EER, ``nframes`` is the number of raw EER frames in the file and
``frame_time`` the raw frame time (exposure time / raw frames), which is what
classic Appion's ``FmIntFile`` needs (``nraw``).  EER raw frames are short (4.03 ms)
so that few pixels see two electrons in one frame: a raw frame records at most one
per pixel, and at 50 e/Å² the small size loses about 3 % to coincidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from appion.base.errors import UsageError


@dataclass(frozen=True)
class CameraSize:
    """One size of a camera: the Leginon image shape and the frames per exposure."""

    dimension: tuple[int, int]  # (x, y) in binned pixels, Leginon orientation
    nframes: int                # frames in the file (raw EER frames for EER)
    exposure_time_ms: float


@dataclass(frozen=True)
class CameraSpec:
    """What the simulator needs to know about one camera model."""

    key: str
    name: str                   # InstrumentData.name
    hostname: str
    movie_format: str           # "tiff" | "eer" | "mrc"
    frame_dtype: str            # numpy dtype of the stored frames
    physical: tuple[int, int]   # (x, y) full chip in unbinned pixels
    binning: int
    pixelsize_m: float          # calibrated unbinned pixel size (PixelSizeCalibrationData)
    old_pixelsize_m: float      # an older calibration in the history
    magnification: int
    frame_rotate: int
    frame_flip: int
    pixelmax: int
    sizes: dict[str, CameraSize]
    dark_per_frame_max: int = 0  # integrating-style dark offset per frame (0: counting)
    eer_render_group: int = 1    # raw EER frames rendered together (EER only)

    @property
    def file_pixel_size_a(self) -> float:
        """Å per pixel of the stored frames."""
        return self.pixelsize_m * self.binning * 1e10

    @property
    def eer(self) -> bool:
        return self.movie_format == "eer"

    @property
    def movie_suffix(self) -> str:
        return {"tiff": ".frames.tif", "eer": ".frames.eer", "mrc": ".frames.mrc"}[
            self.movie_format]

    def size(self, size: str) -> CameraSize:
        if size not in self.sizes:
            raise UsageError(f"unknown size {size!r}; choose one of {', '.join(self.sizes)}")
        return self.sizes[size]

    def offset(self, size: str) -> tuple[int, int]:
        """Leginon's centred offset (binned pixels) for a subregion of the chip."""
        dimension = self.size(size).dimension
        full = (self.physical[0] // self.binning, self.physical[1] // self.binning)
        return ((full[0] - dimension[0]) // 2, (full[1] - dimension[1]) // 2)


CAMERAS: dict[str, CameraSpec] = {
    "k3": CameraSpec(
        key="k3", name="GatanK3", hostname="k3-sim", movie_format="tiff", frame_dtype="uint8",
        physical=(11520, 8184), binning=2, pixelsize_m=4.13e-11, old_pixelsize_m=4.2215e-11,
        magnification=105000, frame_rotate=0, frame_flip=0, pixelmax=255,
        sizes={"small": CameraSize((1024, 720), 8, 300.0),
               "full": CameraSize((5760, 4092), 40, 1500.0)}),
    "k2": CameraSpec(
        key="k2", name="GatanK2", hostname="k2-sim", movie_format="tiff", frame_dtype="uint8",
        physical=(3838, 3710), binning=1, pixelsize_m=1.06e-10, old_pixelsize_m=1.08e-10,
        magnification=22500, frame_rotate=1, frame_flip=0, pixelmax=255,
        sizes={"small": CameraSize((1024, 768), 8, 1600.0),
               "full": CameraSize((3838, 3710), 40, 8000.0)}),
    "falcon4-eer": CameraSpec(
        key="falcon4-eer", name="Falcon4EC", hostname="falcon4-sim", movie_format="eer",
        frame_dtype="uint8", physical=(4096, 4096), binning=1, pixelsize_m=7.3e-11,
        old_pixelsize_m=7.45e-11, magnification=130000, frame_rotate=1, frame_flip=1,
        pixelmax=255, eer_render_group=25,
        sizes={"small": CameraSize((1024, 1024), 400, 1612.0),
               "full": CameraSize((4096, 4096), 800, 3224.0)}),
    "de": CameraSpec(
        key="de", name="DEApollo", hostname="de-sim", movie_format="mrc", frame_dtype="uint16",
        physical=(4096, 4096), binning=1, pixelsize_m=8.0e-11, old_pixelsize_m=8.2e-11,
        magnification=81000, frame_rotate=0, frame_flip=1, pixelmax=65535,
        dark_per_frame_max=3,
        sizes={"small": CameraSize((1024, 1024), 8, 400.0),
               "full": CameraSize((4096, 4096), 40, 2000.0)}),
}


def camera_spec(key: str) -> CameraSpec:
    """The camera for a ``--camera`` value, or a one-line usage error."""
    try:
        return CAMERAS[key]
    except KeyError:
        raise UsageError(f"unknown camera {key!r}; choose one of {', '.join(CAMERAS)}") from None
