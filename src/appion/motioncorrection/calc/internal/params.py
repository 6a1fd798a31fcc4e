"""Classic Appion's MotionCor2 parameters, as pure functions.

Each function reproduces one rule of classic ``makeDDAlignMotionCor2_UCSF.py``
(``apDDFrameAligner.MotionCor2_UCSF`` and its loop classes): how the input flag
follows the frames file, the dose per frame, the pixel size from the
calibration history, the frame-integration file, throw/trunc, the defect map,
and how the aligned sum is turned back to Leginon's orientation.  Nothing here
touches a file or a database; callers pass the metadata in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from appion.base.calc.internal.names import plain_file_name
from appion.base.calc.internal.pixel_size import calc_pixel_size
from appion.base.errors import UsageError
from appion.motioncorrection.calc.internal.orientation import (
    frame_to_gain_orientation,
    gain_to_frame_orientation,
)
from appion.motioncorrection.contract import MotionCorOptions, MotionCorParameters

#: Dose per raw frame (e/Å²) classic Appion assumes when no dose is known.
UNKNOWN_RAW_DOSE = 0.03

#: Frames-file suffixes Leginon writes, in the order classic Appion looks for them.
FRAMES_SUFFIXES = (".frames.mrc", ".frames.tif", ".frames.eer", ".frames")

_FORMAT_BY_SUFFIX = {".tif": "tiff", ".tiff": "tiff", ".eer": "eer", ".mrc": "mrc",
                     ".mrcs": "mrc", ".frames": "mrc"}
_FLAG_BY_FORMAT = {"tiff": "-InTiff", "eer": "-InEer", "mrc": "-InMrc"}


def frames_candidates(frame_path: str, filename: str) -> list[str]:
    """Where Leginon may have saved an exposure's frames: ``<frame_path>/<filename>.frames.*``."""
    base = frame_path.rstrip("/")
    filename = plain_file_name(filename, "image file name")
    return [f"{base}/{filename}{suffix}" for suffix in FRAMES_SUFFIXES]


def input_format(path: str) -> str:
    """``tiff``, ``eer`` or ``mrc`` from a frames file's extension (``.frames`` is MRC)."""
    lowered = path.lower()
    for suffix, fmt in _FORMAT_BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return fmt
    raise ValueError(f"{path}: not a frames file MotionCor2 reads (.tif, .eer or .mrc)")


def input_flag(fmt: str) -> str:
    """The MotionCor2 input flag for a format: ``-InTiff``, ``-InEer`` or ``-InMrc``."""
    return _FLAG_BY_FORMAT[fmt]


def calc_total_dose(totaldose: float | None, preset_dose: float | None) -> float | None:
    """Total dose in e/Å²: ``--totaldose`` if given, else the preset's dose (e/m²) / 1e20."""
    if totaldose:
        return float(totaldose)
    if preset_dose:
        return float(preset_dose) / 1e20
    return None


def calc_raw_dose(total_dose: float | None, nraw: int) -> float:
    """Dose per raw frame; classic's 0.03 e/Å² when the total dose is unknown."""
    if not total_dose or nraw <= 0:
        return UNKNOWN_RAW_DOSE
    return total_dose / nraw


def uses_fmintfile(fmt: str, rendered_frame_size: int) -> bool:
    """Classic writes ``-FmIntFile`` for EER movies or when raw frames are grouped."""
    return fmt == "eer" or rendered_frame_size > 1


def calc_fm_dose(total_dose: float | None, nraw: int, rendered_frame_size: int = 1,
                 fmintfile: bool = False) -> float | None:
    """``-FmDose``: dose per rendered frame with an FmIntFile, else total / raw frames.

    ``None`` when no dose is known and no FmIntFile is used (no dose weighting).
    """
    if fmintfile:
        return calc_raw_dose(total_dose, nraw) * rendered_frame_size
    if not total_dose or nraw <= 0:
        return None
    return total_dose / nraw


def fmintfile_lines(nraw: int, rendered_frame_size: int, raw_dose: float) -> list[str]:
    """The FmIntFile: ``mod mod rawdose`` when frames are left over, then ``nraw size rawdose``.

    Tab-separated with the raw dose as ``%.3f``, byte for byte what classic Appion wrote.
    """
    size = max(1, int(rendered_frame_size))
    remainder = nraw % size
    lines = []
    if remainder:
        lines.append(f"{remainder}\t{remainder}\t{raw_dose:.3f}")
    lines.append(f"{nraw}\t{size}\t{raw_dose:.3f}")
    return lines


def calc_throw_trunc(nframes: int, start_frame: int = 0, nframe: int | None = None
                     ) -> tuple[int, int]:
    """``-Throw`` and ``-Trunc`` from ``--ddstartframe``/``--ddnframe``.

    The frame list is ``start .. start+nframe-1`` (to the end without ``--ddnframe``);
    Trunc is the number of frames after its last one.
    """
    start = max(0, int(start_frame or 0))
    last = nframes - 1 if not nframe else min(nframes - 1, start + int(nframe) - 1)
    if last < start:
        raise ValueError(f"--ddstartframe {start} leaves no frame of {nframes}")
    return start, max(0, nframes - last - 1)


def calc_ft_bin(bin_factor: float, fmt: str, eer_sampling: int = 1) -> float:
    """``-FtBin``: ``--bin``, multiplied by the EER sampling for EER movies."""
    return float(bin_factor) * (int(eer_sampling) if fmt == "eer" else 1)


def parse_sequence(value: str | Sequence[int] | None) -> tuple[int, ...]:
    """A Leginon ``SEQ|`` column (``"(1, 2)"``, ``"[]"``, ``None``) as a tuple of ints."""
    if value is None:
        return ()
    if isinstance(value, str):
        cleaned = value.strip().strip("()[]").strip()
        if not cleaned:
            return ()
        return tuple(int(float(part)) for part in cleaned.split(",") if part.strip())
    return tuple(int(item) for item in value)


def parse_pixel_sequence(value: str | Sequence[Sequence[int]] | None
                         ) -> tuple[tuple[int, int], ...]:
    """``bad_pixels``: Leginon's ``(x, y)`` pairs (column, row), stored as their repr."""
    if value is None:
        return ()
    if isinstance(value, str):
        numbers = parse_sequence(value.replace("(", "").replace(")", "")
                                 .replace("[", "").replace("]", ""))
        return tuple(zip(numbers[0::2], numbers[1::2]))
    return tuple((int(x), int(y)) for x, y in value)


def has_defects(bad_rows: Sequence[int], bad_cols: Sequence[int],
                bad_pixels: Sequence[tuple[int, int]]) -> bool:
    return bool(bad_rows or bad_cols or bad_pixels)


def defect_map(shape: tuple[int, int], bad_rows: Sequence[int], bad_cols: Sequence[int],
               bad_pixels: Sequence[tuple[int, int]], rot_gain: int, flip_gain: int
               ) -> np.ndarray:
    """MotionCor2's ``-DefectMap``: 1 at bad pixels, in the frames' orientation.

    The corrector plan lists defects in Leginon's orientation (``shape`` is that
    image's rows × columns); MotionCor2 applies no rotation to the defect map, so
    classic turns it the way ``-RotGain``/``-FlipGain`` turn the gain.
    """
    rows, cols = shape
    mask = np.zeros(shape, dtype=np.uint8)
    mask[[r for r in bad_rows if 0 <= r < rows], :] = 1
    mask[:, [c for c in bad_cols if 0 <= c < cols]] = 1
    for col, row in bad_pixels:  # Leginon stores pixels as (x, y)
        if 0 <= row < rows and 0 <= col < cols:
            mask[row, col] = 1
    return np.ascontiguousarray(gain_to_frame_orientation(mask, rot_gain, flip_gain))


def dark_per_frame(dark: np.ndarray | None, dark_nframes: int | None,
                   shape: tuple[int, int]) -> np.ndarray:
    """``-Dark``: the dark reference divided by its frame count, or zeros when absent."""
    if dark is None:
        return np.zeros(shape, dtype=np.float32)
    return (np.asarray(dark, dtype=np.float32) / max(1, int(dark_nframes or 1))).astype(
        np.float32)


def sum_to_leginon_orientation(image: np.ndarray, rot_gain: int, flip_gain: int,
                               is_eer: bool) -> np.ndarray:
    """Classic ``organizeAlignedSum``: flip up-down when EER xor FlipGain, then rot90(RotGain)."""
    flip = 1 if bool(is_eer) != bool(flip_gain) else 0
    return np.ascontiguousarray(frame_to_gain_orientation(image, int(rot_gain), flip))


def aligned_filename(filename: str, label: str) -> str:
    """The aligned image's name: Leginon names end with the preset, which becomes ``<preset>-a``."""
    return plain_file_name(f"{plain_file_name(filename, 'image file name')}-{label}",
                           "aligned image file name")


def aligned_preset_name(preset_name: str | None, label: str) -> str:
    """``<preset>-a`` (classic ``ma--a`` for images taken without a preset)."""
    return f"{preset_name}-{label}" if preset_name else f"ma--{label}"


def versioned_name(name: str, version: int) -> str:
    """``name`` for version 0, else classic Leginon's ``name_vNN``."""
    return name if version == 0 else f"{name}_v{version:02d}"


def motioncorr_positions(shifts_px: Sequence[tuple[float, float]], ft_bin: float
                         ) -> list[tuple[float, float]]:
    """Shifts in classic's motioncorr convention: −(s − s_mid) / FtBin, middle frame n//2."""
    if not shifts_px:
        return []
    mid_x, mid_y = shifts_px[len(shifts_px) // 2]
    scale = float(ft_bin) if ft_bin else 1.0
    return [(-(x - mid_x) / scale + 0.0, -(y - mid_y) / scale + 0.0) for x, y in shifts_px]


def motioncorr_log(positions: Sequence[tuple[float, float]]) -> str:
    """``<img>_st_Log.txt`` in the motioncorr-1 format the web viewer parses."""
    count = len(positions)
    lines = [f"Sum Frame #000 - #{max(count - 1, 0):03d} "
             f"(Reference Frame #{count // 2:03d}):"]
    lines += [f"......Add Frame #{index:03d} with xy shift: {x:.5f} {y:.5f}"
              for index, (x, y) in enumerate(positions)]
    return "\n".join(lines) + "\n"


def frame_shift_stats(positions: Sequence[tuple[float, float]]
                      ) -> tuple[list[tuple[float, int]], float]:
    """Frame-to-frame drift: the three largest ``(value, index)`` and the median.

    Shift ``i`` is the distance from frame ``i`` to frame ``i+1``, in aligned pixels.
    """
    points = np.asarray(positions, dtype=float).reshape(-1, 2)
    if len(points) < 2:
        return [], 0.0
    steps = np.hypot(*np.diff(points, axis=0).T)
    order = np.argsort(-steps, kind="stable")[:3]
    return [(float(steps[i]), int(i)) for i in order], float(np.median(steps))


# ----------------------------------------------------------------------------- assembly

@dataclass(frozen=True)
class ImageMetadata:
    """The Leginon rows one exposure's motion correction depends on (plain dicts)."""

    image: dict[str, Any]
    session: dict[str, Any]
    camera: dict[str, Any]
    scope: dict[str, Any]
    preset: dict[str, Any] | None = None
    norm: dict[str, Any] | None = None
    norm_session: dict[str, Any] | None = None
    dark: dict[str, Any] | None = None
    dark_session: dict[str, Any] | None = None
    dark_camera: dict[str, Any] | None = None
    corrector_plan: dict[str, Any] | None = None
    pixel_calibrations: tuple[tuple[Any, float], ...] = ()

    @property
    def image_id(self) -> int:
        return int(self.image["id"])

    @property
    def leginon_shape(self) -> tuple[int, int]:
        """Rows × columns of the exposure in Leginon's orientation."""
        return int(self.camera["dimension_y"]), int(self.camera["dimension_x"])

    def norm_path(self) -> str | None:
        if not self.norm or not self.norm.get("image"):
            return None
        folder = (self.norm_session or self.session).get("image_path") or ""
        return f"{folder.rstrip('/')}/{plain_file_name(self.norm['image'], 'norm image')}"

    def dark_path(self) -> str | None:
        if not self.dark or not self.dark.get("image"):
            return None
        folder = (self.dark_session or self.session).get("image_path") or ""
        return f"{folder.rstrip('/')}/{plain_file_name(self.dark['image'], 'dark image')}"


@dataclass(frozen=True)
class ReferenceFiles:
    """Paths of the per-reference files in the run directory (written once per reference)."""

    gain: str | None = None
    dark: str | None = None
    defect_map: str | None = None
    fmintfile: str | None = None


def orientation(meta: ImageMetadata, force_cpu_flat: bool = False) -> tuple[int, int]:
    """``(RotGain, FlipGain)`` from the camera's frame rotate/flip (0 with --force_cpu_flat)."""
    if force_cpu_flat:
        return 0, 0
    return int(meta.camera.get("frame_rotate") or 0), int(meta.camera.get("frame_flip") or 0)


def defects_of(meta: ImageMetadata) -> tuple[tuple[int, ...], tuple[int, ...],
                                             tuple[tuple[int, int], ...]]:
    plan = meta.corrector_plan or {}
    return (parse_sequence(plan.get("bad_rows")), parse_sequence(plan.get("bad_cols")),
            parse_pixel_sequence(plan.get("bad_pixels")))


def raw_frame_count(meta: ImageMetadata) -> int:
    return int(meta.camera.get("nframes") or len(parse_sequence(meta.camera.get("use_frames"))))


class ExposureDose(NamedTuple):
    nraw: int  # raw frames of the exposure
    total: float | None  # e/Å², None when unknown
    raw: float  # per raw frame (classic's 0.03 when the total is unknown)


def exposure_dose(meta: ImageMetadata, options: MotionCorOptions) -> ExposureDose:
    """The exposure's raw frame count, total dose and dose per raw frame."""
    nraw = raw_frame_count(meta)
    total = calc_total_dose(options.totaldose, (meta.preset or {}).get("dose"))
    return ExposureDose(nraw, total, calc_raw_dose(total, nraw))


#: Resource limits on the MotionCor2 flags: beyond these a run allocates or loops
#: without end (``--Patchrows 1000``) instead of doing anything useful.
MAX_BIN = 16.0
MAX_PATCHES = 32
MAX_ITERATIONS = 100
MAX_GROUP = 100


def check_bin(value: float, flag: str = "--bin") -> None:
    """Fourier binning of the sums: from 1 (none) to :data:`MAX_BIN`."""
    if not 1.0 <= value <= MAX_BIN:
        raise UsageError(f"{flag} {value:g} must be between 1 and {MAX_BIN:g}")


def check_patches(cols: int, rows: int, flags: str = "--Patchcols/--Patchrows") -> None:
    """Local-alignment patches per axis: 0 (global only) to :data:`MAX_PATCHES`."""
    if not (0 <= cols <= MAX_PATCHES and 0 <= rows <= MAX_PATCHES):
        raise UsageError(f"{flags} {cols} {rows}: each must be between 0 and {MAX_PATCHES}")


def check_count(value: int, flag: str, low: int, high: int) -> None:
    """A whole-number flag within ``[low, high]``."""
    if not low <= value <= high:
        raise UsageError(f"{flag} {value} must be between {low} and {high}")


def make_parameters(meta: ImageMetadata, options: MotionCorOptions, *, input_path: str,
                    output_path: str, references: ReferenceFiles) -> MotionCorParameters:
    """One exposure's MotionCor2 parameters, as classic Appion computed them."""
    fmt = input_format(input_path)
    nraw, total, _ = exposure_dose(meta, options)
    intfile = uses_fmintfile(fmt, options.rendered_frame_size)
    rendered = options.rendered_frame_size if intfile else 1
    throw, trunc = calc_throw_trunc(nframes=nraw, start_frame=options.ddstartframe,
                                    nframe=options.ddnframe)
    rot_gain, flip_gain = orientation(meta, options.force_cpu_flat)
    binning = int(meta.camera.get("binning_x") or 1)
    pixel_size = calc_pixel_size(meta.pixel_calibrations, meta.image["def_timestamp"],
                                 binning)
    kv = meta.scope.get("high_tension")
    mask_center = ((options.mask_cent_col, options.mask_cent_row)
                   if options.mask_cent_row > 0 or options.mask_cent_col > 0 else None)
    return MotionCorParameters(
        input_path=input_path, input_format=fmt, output_path=output_path,
        gain_path=references.gain, dark_path=references.dark if references.gain else None,
        defect_map_path=references.defect_map,
        fmintfile_path=references.fmintfile if intfile else None,
        dose_weight=bool(options.doseweight),
        fm_dose=calc_fm_dose(total, nraw, rendered, intfile),
        pixel_size_a=pixel_size, kv=int(round(kv / 1000)) if kv else None,
        throw=throw, trunc=trunc, patch=(options.patch_cols, options.patch_rows),
        iterations=options.iterations, tolerance=options.tolerance,
        bfactor=(options.bft_global, options.bft_local),
        ft_bin=calc_ft_bin(options.bin, fmt, options.eer_sampling), group=options.nrw,
        mask_center=mask_center, mask_size=(options.mask_size_cols, options.mask_size_rows),
        rot_gain=rot_gain, flip_gain=flip_gain, eer_sampling=options.eer_sampling,
        rendered_frame_size=rendered,
        gpu_ids=tuple(int(gpu) for gpu in str(options.gpuids).replace(",", " ").split()))
