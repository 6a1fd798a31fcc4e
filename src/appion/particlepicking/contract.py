"""The particle-picking step's contract: its options, its task and its result.

Coordinates are in pixels of the micrograph as stored (unbinned), ``x`` the column
and ``y`` the row, as classic ``ApParticleData.xcoord``/``ycoord``.  Frozen plain
data, so tasks and results pickle cheaply to any Dask worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DogOptions:
    """Classic ``dogPicker.py``'s picking flags (``ApDogParamsData``); the diameter in Å
    as classic ``--diam``.  Defaults are classic's (``particleLoop2``, ``filterLoop``,
    ``dogPicker.py``): a flag classic leaves unset is 0 here (no median filter, no
    pixel clipping)."""

    diameter_a: float
    bin: int = 4                     # --bin
    threshold: float = 0.5           # --thresh: minimum peak height of the DoG map
    max_threshold: float | None = 2.5  # --maxthresh: higher peaks are dropped (None: none)
    max_peaks: int = 1500            # --maxpeaks
    max_size: float = 1.0            # --maxsize, in diameters: larger blobs are dropped
    overlap_mult: float = 1.5        # --overlapmult: nearer than this × radius: keep one
    invert: bool = False             # --invert the density first: dark particles (cryo)
    median: int = 0                  # --median filter box (binned pixels; 0: none)
    pixel_value_limit: float = 0.0   # --pixlimit: clip pixels beyond ± this many σ (0: none)
    kfactor: float = 1.2             # --kfactor
    size_range: float | None = None  # --sizerange (Å); with num_slices: several sizes
    num_slices: int | None = None    # --numslices
    edge_px: int | None = None       # exclusion near the edge (unbinned px; None: radius)
    peak_type: str = "centerofmass"  # --peaktype: "centerofmass" or "maximum" of a blob


@dataclass(frozen=True)
class PickOptions:
    """The step's typed options: the engine and its settings."""

    engine: str = "dog"
    dog: DogOptions = field(default_factory=lambda: DogOptions(diameter_a=200.0))
    executable: str | None = None       # topaz: not used (a Python package)
    topaz_model: str = "resnet16"
    topaz_threshold: float = -3.0       # topaz's log-likelihood ratio threshold
    device: str = "auto"                # "cpu", "cuda" or "auto" (a GPU when present)
    label: str = "dog"                  # ApParticleData.label
    timeout_s: float = 600.0
    description: str = ""               # --description: ApSelectionRunData.description


@dataclass(frozen=True)
class PickTask:
    """One micrograph to pick: everything a worker needs, no database."""

    image_id: int
    engine: str
    micrograph_path: str
    pixel_size_a: float                 # of the micrograph as stored
    options: PickOptions
    output_dir: str                     # where the pick map/diagnostics go
    name: str                           # the micrograph's file name without .mrc


@dataclass(frozen=True)
class Pick:
    """One particle: centre (unbinned pixels), score, diameter (Å) and label."""

    x: float
    y: float
    score: float
    diameter_a: float


@dataclass(frozen=True)
class PickResult:
    """A worker's answer for one micrograph."""

    image_id: int
    engine: str
    picks: tuple[Pick, ...]
    binning: int                        # the binning the picker worked at
    engine_version: str = ""
    diagnostic_path: str | None = None


__all__ = ["DogOptions", "Pick", "PickOptions", "PickResult", "PickTask"]
