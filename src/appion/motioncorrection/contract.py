"""What the motion-correction step's controller and workers hand each other.

:class:`MotionCorParameters` is the one description of a motion correction,
computed by pure functions from Leginon metadata and the classic flags; the
external engines turn it into a MotionCor2/MotionCor3 command line, the built-in
engine reads it directly.  :class:`MotionCorTask` carries it, with the plan of the
per-reference files (:class:`ReferencePlan`), to a worker; every engine returns a
:class:`MotionCorResult`, so storing does not care which engine ran.
:class:`MotionCorStepOptions` are the step's flags, typed and checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class MotionCorOptions:
    """The classic flags that shape a MotionCor2 command, with classic defaults."""

    bin: float = 1.0
    doseweight: bool = False
    totaldose: float | None = None
    ddstartframe: int = 0
    ddnframe: int | None = None
    iterations: int = 7
    tolerance: float = 0.5
    patch_rows: int = 0
    patch_cols: int = 0
    mask_cent_row: float = 0.0
    mask_cent_col: float = 0.0
    mask_size_cols: float = 1.0
    mask_size_rows: float = 1.0
    bft_global: float = 500.0
    bft_local: float = 150.0
    nrw: int = 1
    gpuids: str = "0"
    force_cpu_flat: bool = False
    rendered_frame_size: int = 1
    eer_sampling: int = 1


@dataclass(frozen=True)
class MotionCorStepOptions:
    """The step's flags, typed: the engine, where frames are, and the MotionCor2 shaping."""

    motioncor: MotionCorOptions = field(default_factory=MotionCorOptions)
    engine: str = "motioncor2"
    executable: str | None = None  # --motioncor-exe
    timeout_s: float = 1800.0  # --motioncor-timeout, per movie
    label: str = "a"  # --alignlabel
    framepath: str | None = None
    trim: int = 0
    preset: str | None = None
    hand_on_dw: bool = False  # the next step (CTF) works on -a-DW instead of -a


@dataclass(frozen=True)
class ReferencePlan:
    """The per-reference files one exposure's engine reads, and what they are made of.

    A worker writes each one that does not exist yet (once per reference, not per
    image; the names carry the reference ids).  ``shape`` is the exposure's rows ×
    columns in Leginon's orientation; the defect lists are the corrector plan's.
    """

    shape: tuple[int, int] = (0, 0)
    gain_path: str | None = None  # a link to the norm image
    gain_source: str | None = None
    dark_path: str | None = None  # the dark per frame, zeros without a dark image
    dark_source: str | None = None
    dark_nframes: int | None = None
    dark_problem: str | None = None  # why the dark image cannot be named
    defect_map_path: str | None = None
    bad_rows: tuple[int, ...] = ()
    bad_cols: tuple[int, ...] = ()
    bad_pixels: tuple[tuple[int, int], ...] = ()
    rot_gain: int = 0
    flip_gain: int = 0
    fmintfile_path: str | None = None
    fmintfile_text: str = ""


@dataclass(frozen=True)
class MotionCorTask:
    """One exposure to motion-correct: everything a worker needs, no database."""

    image_id: int
    engine: str
    params: MotionCorParameters
    image_name: str
    rundir: str
    executable: str | None = None
    timeout_s: float = 1800.0
    error: str | None = None
    frames_missing: bool = False  # the error is a movie not there (yet): it may arrive
    references: ReferencePlan = field(default_factory=ReferencePlan)

    @property
    def is_eer(self) -> bool:
        return self.params.input_format == "eer"

    @property
    def st_log_path(self) -> str:
        return os.path.join(self.rundir, f"{self.image_name}_st_Log.txt")

    @property
    def raw_log_path(self) -> str:
        return os.path.join(self.rundir, f"{self.image_name}_st_Log.{self.engine}.txt")


__all__ = ["MotionCorOptions", "MotionCorParameters", "MotionCorResult",
           "MotionCorStepOptions", "MotionCorTask", "ReferencePlan"]
