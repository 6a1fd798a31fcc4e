"""What every motion-correction engine receives and returns.

``MotionCorParameters`` is the one description of a motion correction, computed
by pure functions from Leginon metadata and the classic flags; the external
engines turn it into a MotionCor2/MotionCor3 command line, the built-in engine
reads it directly.  ``MotionCorResult`` is what every engine returns, so storing
and the classic CLI do not care which engine ran.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MotionCorParameters:
    """One movie's motion correction, with MotionCor2's semantics for every field."""

    input_path: str
    input_format: str  # "tiff", "eer" or "mrc" (-InTiff / -InEer / -InMrc)
    output_path: str  # -OutMrc: the aligned sum; the dose-weighted sum is <stem>_DW.mrc
    gain_path: str | None = None  # -Gain (norm reference, Leginon orientation)
    dark_path: str | None = None  # -Dark
    defect_map_path: str | None = None  # -DefectMap
    fmintfile_path: str | None = None  # -FmIntFile
    dose_weight: bool = False
    fm_dose: float | None = None  # -FmDose, e/Å² per (rendered) frame
    pixel_size_a: float | None = None  # -PixSize, Å per input pixel
    kv: int | None = None  # -kV
    throw: int = 0  # -Throw
    trunc: int = 0  # -Trunc
    patch: tuple[int, int] = (0, 0)  # -Patch cols rows
    iterations: int = 7  # -Iter
    tolerance: float = 0.5  # -Tol, pixels
    bfactor: tuple[float, float] = (500.0, 150.0)  # -Bft global local
    ft_bin: float = 1.0  # -FtBin
    group: int = 1  # -Group
    mask_center: tuple[float, float] | None = None  # -MaskCent
    mask_size: tuple[float, float] = (1.0, 1.0)  # -MaskSize
    rot_gain: int = 0  # -RotGain: k × 90° counter-clockwise
    flip_gain: int = 0  # -FlipGain: 0 none, 1 upside down, 2 left-right (after rotation)
    eer_sampling: int = 1  # -EerSampling
    rendered_frame_size: int = 1  # raw frames per rendered frame (FmIntFile)
    gpu_ids: tuple[int, ...] = (0,)  # -Gpu


@dataclass(frozen=True)
class MotionCorResult:
    """What a motion-correction engine produced for one movie.

    ``shifts_px`` has one ``(x, y)`` per frame: the displacement of the frame's
    content in input-movie pixels relative to the engine's reference frame, the
    convention of MotionCor2's log (1.6+ and the built-in engine use the first
    frame as reference).  Storing converts to classic's motioncorr convention.
    """

    image_id: int
    engine: str
    engine_version: str
    aligned_path: str
    aligned_dw_path: str | None
    shifts_px: tuple[tuple[float, float], ...]
    log_text: str
    log_path: str | None = None
    ft_bin: float = 1.0
    elapsed_s: float = 0.0
