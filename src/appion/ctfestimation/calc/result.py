"""What every CTF engine receives and returns.

``CtfParameters`` describes one estimation (micrograph, output names, search);
the external engines turn it into CTFFIND answers or a Gctf command line, the
built-in engine reads it directly.  ``EngineOutput`` is an engine's raw answer;
``CtfResult`` adds the ctfdisplay scores and the graph files, so storing does not
care which engine ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appion.ctfestimation.calc.internal.estimator import CtfFit, SearchParameters
from appion.ctfestimation.calc.internal.scores import CtfScores


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
class CtfParameters:
    """One CTF estimation: the micrograph, where outputs go, and the search."""

    micrograph_path: str
    output_dir: str  # the run directory; diagnostics are moved to <output_dir>/opimages
    name: str  # stem of every output file (the image's file name)
    search: SearchParameters
    is_movie: bool = False
    num_frame_avg: int = 1
    gctf: GctfOptions | None = None
    timeout_s: float = 600.0

    @property
    def opimages(self) -> Path:
        return Path(self.output_dir) / "opimages"


@dataclass(frozen=True)
class EngineOutput:
    """An engine's own answer, in CTFFIND's convention."""

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
