"""One exposure as the exports and curation see it: plain data read from the classic tables.

Units are the ones the classic tables use, converted once here: pixel sizes in Å,
the frame trajectory in aligned-sum pixels (classic motioncorr convention,
``ApDDFrameTrajectoryData``), defocus in metres with ``|defocus1| <= |defocus2|`` and
``defocus1`` along ``angle_astigmatism`` (degrees), as ``ApCtfData`` stores it.
Picks are ``ApParticleData`` rows: ``(x, y, score, diameter)``, x the column and y the
row in unbinned pixels of the aligned sum as stored (the file the exports name), the
score the row's ``correlation``, the diameter in Å.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: RELION counts the motion while the accumulated dose is below this as "early" (e/Å²).
EARLY_DOSE = 4.0


#: A pick: ``(x, y, score, diameter Å)``; score and diameter ``None`` where not stored.
Pick = tuple[float, float, float | None, float | None]


@dataclass(frozen=True)
class CtfFit:
    """An ``ApCtfData`` row of the exposure's micrograph."""

    image_id: int
    defocus1_m: float
    defocus2_m: float
    angle_astigmatism_deg: float
    resolution_a: float | None
    confidence: float | None
    cross_correlation: float | None
    cs_mm: float
    amplitude_contrast: float
    phase_shift_rad: float | None = None  # only when the run fitted a phase shift
    ctf_image: str | None = None  # the run's power-spectrum diagnostic, when present


@dataclass(frozen=True)
class Movie:
    """The raw movie and what RELION's motion STAR needs about it."""

    path: str | None
    size_x: int
    size_y: int
    frames: int  # raw frames recorded
    pixel_size_a: float | None  # Å per movie pixel (camera binning, no Fourier binning)
    is_eer: bool = False
    gain_path: str | None = None  # Leginon's norm (Leginon orientation)
    rot_gain: int = 0  # frame_rotate of the camera
    flip_gain: int = 0  # frame_flip of the camera
    defects: tuple = ((), (), ())  # corrector plan: bad rows, columns, pixels


@dataclass(frozen=True)
class Exposure:
    """A motion-corrected exposure with its CTF, from the classic tables."""

    source_id: int
    name: str
    session_id: int
    preset: str | None
    camera: str
    aligned_id: int
    aligned_path: str
    aligned_dw_path: str | None
    aligned_pixel_size_a: float | None
    positions: tuple[tuple[float, float], ...]  # classic trajectory, aligned-sum pixels
    movie: Movie
    voltage_kv: float | None
    total_dose: float | None  # e/Å² over the movie
    ctf: CtfFit | None = None
    ice_thickness: float | None = None
    status: bool | None = None  # classic complete status (viewer + assessment)
    image_ids: tuple[int, ...] = field(default=())  # source and every aligned image
    #: the picking run's particles of the aligned sum; ``()`` picked with none found,
    #: ``None`` not picked (no picking run, or the run has not reached this exposure)
    picks: tuple[Pick, ...] | None = None

    @property
    def particle_count(self) -> int | None:
        """How many particles the picking run found; ``None`` when not picked."""
        return None if self.picks is None else len(self.picks)

    @property
    def binning(self) -> float:
        """Movie pixels per aligned-sum pixel (Fourier binning of the sum)."""
        if self.aligned_pixel_size_a and self.movie.pixel_size_a:
            return self.aligned_pixel_size_a / self.movie.pixel_size_a
        return 1.0

    @property
    def dose_per_frame(self) -> float | None:
        """e/Å² per trajectory frame."""
        if not self.total_dose or not self.positions:
            return None
        return self.total_dose / len(self.positions)


def frame_steps(positions: tuple[tuple[float, float], ...]) -> list[float]:
    """Distance from each frame to the next, in the positions' pixels."""
    return [math.hypot(x1 - x0, y1 - y0)
            for (x0, y0), (x1, y1) in zip(positions, positions[1:])]


def accumulated_motion_a(exposure: Exposure) -> tuple[float, float, float] | None:
    """RELION's ``rlnAccumMotionTotal/Early/Late`` (Å): the frame-to-frame path length,
    split as RELION does: the step to frame ``f`` (1-based) is early while
    ``f <= EARLY_DOSE / dose per frame`` (no pre-exposure)."""
    if not exposure.positions or not exposure.aligned_pixel_size_a:
        return None
    steps = [step * exposure.aligned_pixel_size_a for step in frame_steps(exposure.positions)]
    dose = exposure.dose_per_frame
    early = sum(step for index, step in enumerate(steps)
                if dose is not None and (index + 2) * dose <= EARLY_DOSE)
    total = sum(steps)
    return total, early, total - early


def max_frame_shift_a(exposure: Exposure) -> float | None:
    """The largest frame-to-frame shift, in Å."""
    steps = frame_steps(exposure.positions)
    if not steps or not exposure.aligned_pixel_size_a:
        return None
    return max(steps) * exposure.aligned_pixel_size_a
