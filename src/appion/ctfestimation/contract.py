"""The CTF step's contract types: what the controller, the worker and every engine share.

``SearchParameters`` is the one description of a CTF search (CTFFIND's meaning for
every field), used by the built-in estimator, CTFFIND and Gctf alike.  A
``CtfTask`` is one micrograph with its search and output names; an engine answers
with an ``EngineOutput``; the worker adds the ctfdisplay scores and the graph files
to make the ``CtfResult`` the controller stores.  All are frozen, plain data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

#: The most defocus candidates one search may hold (memory grows with their number).
MAX_DEFOCUS_CANDIDATES = 100_000


@dataclass(frozen=True)
class SearchParameters:
    """One CTF search, with CTFFIND's meaning for every field (Å, kV, mm, rad)."""

    pixel_size_a: float
    kv: float
    cs_mm: float
    amplitude_contrast: float = 0.07
    box: int = 512
    resmin_a: float = 30.0
    resmax_a: float = 5.0
    defocus_min_a: float = 5000.0
    defocus_max_a: float = 50000.0
    defocus_step_a: float = 100.0
    expected_astigmatism_a: float = 200.0
    find_phase_shift: bool = False
    phase_min_rad: float = 0.0
    phase_max_rad: float = math.pi
    phase_step_rad: float = 0.5
    exhaustive: bool = False

    def check(self) -> None:
        """Raise ``ValueError`` naming the first impossible value."""
        if self.pixel_size_a <= 0 or self.kv <= 0 or self.cs_mm < 0:
            raise ValueError("pixel size and voltage must be positive, Cs not negative")
        if not 0 < self.resmax_a < self.resmin_a:
            raise ValueError(f"resolution range {self.resmin_a}–{self.resmax_a} Å is empty")
        if self.resmax_a < 2 * self.pixel_size_a:
            raise ValueError(f"maximum resolution {self.resmax_a} Å is beyond Nyquist "
                             f"({2 * self.pixel_size_a:.3f} Å)")
        if not 0 <= self.defocus_min_a < self.defocus_max_a:
            raise ValueError(f"defocus range {self.defocus_min_a}–{self.defocus_max_a} Å "
                             "is empty")
        if self.box < 64 or self.box % 2:
            raise ValueError(f"spectrum box {self.box} must be even and at least 64")
        self._check_candidates()

    def _check_candidates(self) -> None:
        span = self.defocus_max_a - self.defocus_min_a
        if self.defocus_step_a > 0 and span / self.defocus_step_a > MAX_DEFOCUS_CANDIDATES:
            raise ValueError(f"defocus step {self.defocus_step_a} Å makes "
                             f"{span / self.defocus_step_a:.0f} candidates over "
                             f"{self.defocus_min_a:.0f}–{self.defocus_max_a:.0f} Å; use a step "
                             f"of at least {span / MAX_DEFOCUS_CANDIDATES:.2f} Å")


@dataclass(frozen=True)
class CtfFit:
    """A fit in CTFFIND's convention: defocus_1 >= defocus_2, azimuth in (−90, 90]."""

    defocus_1_a: float
    defocus_2_a: float
    azimuth_deg: float
    phase_shift_rad: float
    cross_correlation: float
    fit_resolution_a: float


@dataclass(frozen=True)
class CtfScores:
    """Classic ``ctfdisplay`` scores of one fit (see :mod:`.calc.internal.scores`)."""

    confidence_30_10: float
    confidence_5_peak: float
    resolution_80_percent: float
    resolution_50_percent: float


@dataclass(frozen=True)
class GctfOptions:
    """Gctf-only flags (classic ``gctf.py``), with Gctf's meaning."""

    do_EPA: bool = False
    do_Hres_ref: bool = False
    mdef_aveN: int = 1
    local_refine: bool = False
    local_radius: int = 1024
    local_boxsize: int = 512
    local_overlap: float = 0.5
    local_raster: int = 200
    gpu_id: int = 0


@dataclass(frozen=True)
class CtfOptions:
    """The classic CTF flags of one run (µm where classic uses µm)."""

    engine: str = "ctffind4"
    executable: str | None = None
    ampcontrast: float = 0.07
    fieldsize: int = 1024
    nominal_um: float | None = None
    resmin: float = 50.0
    resmax: float = 15.0
    defstep_um: float = 0.1
    numstep: int = 25
    dast_um: float = 100.0
    phaseplate: bool = False
    min_phase_shift_deg: float = 10.0
    max_phase_shift_deg: float = 170.0
    phase_step_deg: float = 10.0
    bestdb: bool = False
    exhaust: bool = False
    reprocess: float | None = None
    gctf: GctfOptions | None = None
    dast_is_angstrom: bool = False  # Gctf's --dast is Gctf's --astm, in Å
    timeout_s: float = 600.0


@dataclass(frozen=True)
class CtfTask:
    """One micrograph to estimate: everything a worker and its engine need, no database."""

    image_id: int
    engine: str
    micrograph_path: str
    output_dir: str  # the run directory; graphs go to <output_dir>/opimages
    name: str  # stem of every output file (the image's file name)
    search: SearchParameters
    defocus_init_a: float  # the search centre (classic defocusinit)
    executable: str | None = None
    is_movie: bool = False
    num_frame_avg: int = 1
    gctf: GctfOptions | None = None
    timeout_s: float = 600.0

    @property
    def opimages(self) -> Path:
        """The folder of the graph files."""
        return Path(self.output_dir) / "opimages"


def engine_task(micrograph_path: str, output_dir: str, name: str, search: SearchParameters,
                *, engine: str = "builtin", executable: str | None = None) -> CtfTask:
    """A task outside any run (``appion ctf``, benchmarks): image id 0, the search range's
    centre as the search centre."""
    return CtfTask(image_id=0, engine=engine, micrograph_path=micrograph_path,
                   output_dir=output_dir, name=name, search=search,
                   defocus_init_a=0.5 * (search.defocus_min_a + search.defocus_max_a),
                   executable=executable)


@dataclass(frozen=True)
class EngineOutput:
    """An external engine's own answer, in CTFFIND's convention."""

    fit: CtfFit
    engine_version: str
    log_text: str
    diagnostic_path: str | None  # the engine's -pow.mrc (or Gctf's .ctf)
    tilt_axis_angle_deg: float | None = None
    tilt_angle_deg: float | None = None
    sample_thickness_a: float | None = None
    local_star: str | None = None


@dataclass(frozen=True)
class CtfResult:
    """One image's CTF, ready to store as ApCtfData."""

    image_id: int
    engine: str
    engine_version: str
    fit: CtfFit
    scores: CtfScores
    search: SearchParameters
    defocus_init_a: float  # the search centre (classic defocusinit)
    graph1: str | None  # -powerspec.jpg   (file names inside <rundir>/opimages)
    graph2: str | None  # -plots.png
    graph3: str | None  # -pow.jpg
    graph4: str | None  # -pow_avrot.png
    log_text: str = ""
    elapsed_s: float = 0.0
    tilt_axis_angle_deg: float | None = None
    tilt_angle_deg: float | None = None
    sample_thickness_a: float | None = None
    local_star: str | None = None


__all__ = ["MAX_DEFOCUS_CANDIDATES", "CtfFit", "CtfOptions", "CtfResult", "CtfScores",
           "CtfTask", "EngineOutput", "GctfOptions", "SearchParameters", "engine_task"]
