"""The built-in motion-correction engine: MotionCor2's job without the binary.

``run_builtin`` reads the movie twice (threads, small read-ahead) and never
holds all of its frames as floats at full size:

1. align: the frame sum (for hot pixels) and real-space binned copies of the
   gain-corrected frames are accumulated as frames arrive.  Defects found on the
   sum are then replaced in the binned copies (a bin holding a defect is
   replaced by its good neighbour bins), which are aligned (global, then
   patches when asked).
2. sum: frames are read again, last first; each is corrected in a worker
   thread while the previous one is shifted and added to the plain and
   dose-weighted sums (as a whole, or tile by tile on every thread).

Frames that cost decoding are kept from the first pass as decoded (a K3's counts
take one byte a pixel), when they fit in a quarter of the machine's memory:
decoding an LZW K3 frame takes longer than its share of the summing.  EER movies always
keep their rendered frames, which sum several raw frames each; memory-mapped MRC
frames are simply read again.

Outputs are float32 MRC files with the pixel size in the header, written under
a temporary name and renamed.

Numbers are checked where they enter and where results leave
(:mod:`appion.base.calc.internal.validate`): the gain must be finite and positive
on average, dark and defect map finite; float frames are sampled as they are
decoded and the frame sum is checked in full (NaN/Inf, or one value everywhere);
an aligned sum that is not finite or constant is refused before anything is written.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft
from threadpoolctl import threadpool_limits

import appion
from appion.base.calc.internal import validate
from appion.base.errors import EngineError, InputFileError
from appion.base.files import write_mrc
from appion.motioncorrection.calc.internal import alignment
from appion.motioncorrection.calc.internal import gain as gain_mod
from appion.motioncorrection.calc.internal.dose_weighting import (
    DoseAccumulator,
    frame_mid_exposures,
)
from appion.motioncorrection.calc.internal.params import input_flag, sum_to_leginon_orientation
from appion.motioncorrection.calc.internal.summation import GlobalSummer, TileSummer
from appion.motioncorrection.contract import MotionCorParameters, MotionCorResult
from appion.motioncorrection.engines.motioncor import dw_path
from appion.motioncorrection.engines.movie_io import Movie, open_movie, read_image

DEFAULT_PIXEL_SIZE_A = 1.0  # MotionCor2 without -PixSize


@dataclass(frozen=True)
class Alignment:
    """Where every frame's content went (input pixels), globally and locally."""

    shifts: np.ndarray  # (frames, 2) global x y, frame 0 = 0
    errors: tuple[float, ...]
    patches: alignment.PatchAlignment | None = None
    patch_scale: tuple[float, float] = (1.0, 1.0)  # input pixels per patch-grid pixel

    def shift_at(self, index: int, x: float, y: float) -> tuple[float, float]:
        """Total content displacement of frame ``index`` at input position (x, y)."""
        (dx, dy), = self.shifts_at(index, np.array([(x, y)], float))
        return float(dx), float(dy)

    def shifts_at(self, index: int, positions: np.ndarray) -> np.ndarray:
        """Displacements (n, 2) of frame ``index`` at input positions (n, 2) x y."""
        total = np.tile(self.shifts[index], (len(positions), 1)).astype(float)
        if self.patches is not None:
            scale = np.array(self.patch_scale)
            grid = positions / scale
            total += self.patches.model.evaluate(grid[:, 0], grid[:, 1], index) * scale
        return total


def run_builtin(params: MotionCorParameters, *, image_id: int = 0, device: str = "cpu",
                threads: int | None = None, leginon_orientation: bool = False
                ) -> MotionCorResult:
    """Motion-correct one movie as ``params`` says; see the module docstring.

    The sums are written in the frames' orientation, or with ``leginon_orientation``
    turned back to Leginon's as classic's ``organizeAlignedSum`` does (RotGain and
    FlipGain undone; the built-in engine writes EER sums like TIFF ones).
    """
    # the engine spreads its own work over ``threads``; BLAS threads (the peak
    # refinement's small matrix products) would only spin beside them
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_builtin(params, image_id=image_id, device=device, threads=threads,
                            leginon_orientation=leginon_orientation)


def _run_builtin(params: MotionCorParameters, *, image_id: int, device: str,
                 threads: int | None, leginon_orientation: bool) -> MotionCorResult:
    started = time.perf_counter()
    if device != "cpu":
        raise EngineError(f"the built-in engine runs on the CPU only in this version, not on "
                          f"{device!r}; use --device cpu")
    threads = max(1, threads or os.cpu_count() or 1)
    _check_params(params)
    pixel_size = params.pixel_size_a or DEFAULT_PIXEL_SIZE_A
    with open_movie(params.input_path, params.input_format, eer_sampling=params.eer_sampling,
                    fmintfile_path=params.fmintfile_path,
                    rendered_frame_size=params.rendered_frame_size) as movie:
        log = _LogWriter(params)
        log.stack(movie)
        indices = _used_frames(movie, params)
        shape = movie.shape
        references = _references(params, shape, log)
        factor = alignment.align_bin(shape, pixel_size, params.bfactor[0], params.ft_bin)
        kept: list[np.ndarray] | None = [] if _keeps_frames(movie, len(indices)) else None
        frame_sum, binned = _first_pass(movie, indices, references, factor, threads, kept)
        check_frame_sum(frame_sum, movie.path, len(indices))
        correction = _correction(params, references, frame_sum, len(indices), log)
        del frame_sum
        small = (shape[0] // factor, shape[1] // factor)
        _replace_binned_defects(binned, shape, correction, factor)
        aligned = _align_binned(binned, small, factor, params, pixel_size, threads, log)
        del binned
        # the dose accumulator takes frames last first
        frames = _last_first(kept) if kept is not None else zip(
            range(len(indices) - 1, -1, -1), movie.frames(indices[::-1], threads))
        plain, weighted = _sum(frames, shape, correction, aligned,
                               _dose_weighting(params, movie, indices, pixel_size), threads)
    check_aligned_sums(plain, weighted, params.input_path)
    out_shape = _binned_shape(shape, params.ft_bin)
    out_pixel = pixel_size * shape[1] / out_shape[1]
    turn = _turn(params) if leginon_orientation else _as_is
    _write_mrc(params.output_path, turn(_bin(plain, out_shape, threads)), out_pixel)
    del plain
    dw_path = None
    if weighted is not None:
        dw_path = dose_weighted_path(params.output_path)
        _write_mrc(dw_path, turn(_bin(weighted, out_shape, threads)), out_pixel)
    elapsed = time.perf_counter() - started
    shifts = tuple((round(float(x), 4), round(float(y), 4)) for x, y in aligned.shifts)
    return MotionCorResult(
        image_id=image_id, engine="builtin", engine_version=appion.__version__,
        aligned_path=params.output_path, aligned_dw_path=dw_path, shifts_px=shifts,
        log_text=log.finish(aligned, params.output_path, dw_path, elapsed),
        ft_bin=float(params.ft_bin), elapsed_s=elapsed)


def _as_is(image: np.ndarray) -> np.ndarray:
    return image


def _turn(params: MotionCorParameters) -> Callable[[np.ndarray], np.ndarray]:
    """The turn from the frames' orientation to Leginon's, or none when there is none."""
    if not params.rot_gain % 4 and not params.flip_gain:
        return _as_is
    return lambda image: sum_to_leginon_orientation(image, params.rot_gain,
                                                    params.flip_gain, False)


def dose_weighted_path(output_path: str) -> str:
    """MotionCor2's name for the dose-weighted sum (``.mrc`` added to an output without one)."""
    weighted = dw_path(output_path)
    return weighted if os.path.splitext(output_path)[1] else f"{weighted}.mrc"


def check_frame_sum(frame_sum: np.ndarray, path: str, count: int) -> None:
    """The raw sum of a movie's frames: no NaN/Inf pixel, and not one value everywhere.

    Frames are sampled as they are decoded (:meth:`Movie.read`); this full check of
    the sum catches a single bad pixel in any frame, since NaN and Inf survive summing.
    """
    validate.check_image(frame_sum, f"movie {path}: the sum of its {count} frames",
                         "re-copy it from the camera")


def check_aligned_sums(plain: np.ndarray, weighted: np.ndarray | None, path: str) -> None:
    """A NaN, infinite or constant aligned sum is a failure, never written."""
    hint = "nothing was written; check the movie and its gain reference"
    validate.check_image(plain, f"the aligned sum of {path}", hint)
    if weighted is not None:
        validate.check_image(weighted, f"the dose-weighted sum of {path}", hint)


def _check_params(params: MotionCorParameters) -> None:
    if params.dose_weight and not (params.fm_dose and params.fm_dose > 0):
        raise InputFileError("dose weighting needs a dose per frame (-FmDose / --dose-per-frame)")
    if params.ft_bin < 1:
        raise InputFileError(f"FtBin must be at least 1, not {params.ft_bin}")
    if min(params.bfactor) <= 0:
        raise InputFileError(f"B-factors must be positive, not {params.bfactor}")
    folder = os.path.dirname(os.path.abspath(params.output_path))
    if not os.path.isdir(folder):
        raise InputFileError(f"output folder {folder} does not exist; create it first")


def _used_frames(movie: Movie, params: MotionCorParameters) -> list[int]:
    indices = list(range(params.throw, movie.nframes - params.trunc))
    if len(indices) < 2:
        raise InputFileError(f"movie {movie.path} has {movie.nframes} frames; after Throw "
                             f"{params.throw} and Trunc {params.trunc} fewer than 2 are left")
    return indices


def _references(params: MotionCorParameters, shape: tuple[int, int], log: _LogWriter
                ) -> gain_mod.FrameCorrection:
    """Gain and dark references in the frames' orientation (no defects yet)."""
    gain = dark = None
    orient = {"rot_gain": params.rot_gain, "flip_gain": params.flip_gain}
    if params.gain_path:
        image = gain_mod.check_gain(read_image(params.gain_path, "gain reference"),
                                    params.gain_path)
        gain = gain_mod.orient_reference(image, shape, what="gain reference",
                                         path=params.gain_path, **orient)
        log.line(f"Load gain refereince from\n   {params.gain_path}\nGain reference has been "
                 "loaded.\n")
    if params.dark_path:
        image = gain_mod.check_dark(read_image(params.dark_path, "dark reference"),
                                    params.dark_path)
        dark = gain_mod.orient_reference(image, shape, what="dark reference",
                                         path=params.dark_path, **orient)
        log.line(f"Load dark reference from\n   {params.dark_path}\nDark reference has been "
                 "loaded.\n")
    return gain_mod.FrameCorrection(gain=gain, dark=dark)


#: Decoded frames are kept for the summing pass while they take at most this share of
#: the machine's memory.
KEPT_FRAMES_MEMORY_SHARE = 0.25


def _keeps_frames(movie: Movie, count: int) -> bool:
    """Keep the decoded frames for the summing pass instead of decoding them again.

    Rendered EER frames are always kept (each sums several raw frames); compressed
    (TIFF) frames while they take at most :data:`KEPT_FRAMES_MEMORY_SHARE` of the
    memory; memory-mapped MRC frames are read again, which costs no decoding.
    """
    if getattr(movie, "raw_frames", movie.nframes) >= 2 * movie.nframes:
        return True
    if not movie.decoded_on_read:
        return False
    size = count * movie.shape[0] * movie.shape[1] * np.dtype(movie.dtype).itemsize
    return size <= KEPT_FRAMES_MEMORY_SHARE * _physical_memory()


def _physical_memory() -> int:
    """Bytes of memory of this machine (a large number where it cannot be told)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def _last_first(kept: list[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame) from the last kept frame to the first, releasing each one."""
    while kept:
        index = len(kept) - 1
        yield index, kept.pop()


def _first_pass(movie: Movie, indices: list[int], references: gain_mod.FrameCorrection,
                factor: int, threads: int, kept: list[np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The frames' float32 sum and their binned copies in an :func:`alignment.frame_stack`.

    The binned copies are gain- and dark-corrected, not yet defect-corrected.
    Decoded frames are appended to ``kept`` when it is given.
    """
    frame_sum: np.ndarray = np.zeros(movie.shape, _sum_type(movie.dtype, len(indices)))

    def summed() -> Iterator[np.ndarray]:
        for raw in movie.frames(indices, threads):
            if kept is not None:
                kept.append(raw)
            np.add(frame_sum, raw, out=frame_sum, casting="unsafe")
            yield raw

    stack = _binned_stack(summed(), len(indices), movie.shape, references, factor)
    return frame_sum.astype(np.float32, copy=False), stack


def _binned_stack(raws: Iterable[np.ndarray], count: int, shape: tuple[int, int],
                  references: gain_mod.FrameCorrection, factor: int) -> np.ndarray:
    """An :func:`alignment.frame_stack` of ``count`` raw frames, corrected and binned.

    ``references`` should carry no defects: they are replaced in the binned frames.
    """
    small = (shape[0] // factor, shape[1] // factor)
    stack = alignment.frame_stack(count, alignment.padded_shape(small))
    plain = references.gain is None and references.dark is None
    buffer = None if plain else np.empty(shape, np.float32)
    for index, raw in enumerate(raws):
        frame = raw if plain else gain_mod.correct_frame(raw, references, out=buffer)
        stack[index, :small[0], :small[1]] = alignment.bin_frame(frame, factor)
    return stack


def _sum_type(dtype: np.dtype, count: int) -> type:
    """uint16 sums uint8 counts exactly (and fast) up to 257 frames; else float32."""
    return np.uint16 if np.dtype(dtype) == np.uint8 and count * 255 <= 65535 else np.float32


def _correction(params: MotionCorParameters, references: gain_mod.FrameCorrection,
                frame_sum: np.ndarray, count: int, log: _LogWriter) -> gain_mod.FrameCorrection:
    """The references plus the defects: hot pixels of the corrected sum and the defect map."""
    corrected_sum = frame_sum
    if references.dark is not None:
        corrected_sum = corrected_sum - count * references.dark
    if references.gain is not None:
        corrected_sum = corrected_sum * references.gain
    hot = gain_mod.hot_pixels(corrected_sum)
    mask = hot.mask
    if params.defect_map_path:
        defect_map = gain_mod.check_defect_map(read_image(params.defect_map_path, "defect map"),
                                               params.defect_map_path)
        mask |= gain_mod.defect_mask_from_map(defect_map, frame_sum.shape,
                                              params.defect_map_path)
    log.hot_pixels(hot.mean, hot.std, int(mask.sum()))
    defects = gain_mod.defect_replacement(mask) if mask.any() else None
    return gain_mod.FrameCorrection(gain=references.gain, dark=references.dark,
                                    defects=defects)


def _replace_binned_defects(stack: np.ndarray, shape: tuple[int, int],
                            correction: gain_mod.FrameCorrection, factor: int) -> None:
    """Replace every bin holding a defective pixel by the mean of its good neighbour bins.

    ``shape`` is the full frame's; the binned frames sit in the stack's top-left corner.
    """
    if correction.defects is None:
        return
    small = (shape[0] // factor, shape[1] // factor)
    rows, cols, kept = alignment.binned_pixel(correction.defects.pixels, shape, factor, small)
    mask = np.zeros(small, bool)
    mask[rows[kept], cols[kept]] = True
    replacement = gain_mod.defect_replacement(mask, radius=1)
    for frame in stack:
        gain_mod.replace_defects(frame[:small[0], :small[1]], replacement)


def align_frames(raws: list[np.ndarray], correction: gain_mod.FrameCorrection,
                 params: MotionCorParameters, pixel_size: float, threads: int = 1,
                 log: _LogWriter | None = None) -> Alignment:
    """Global (and, with ``params.patch``, local) alignment of raw frames, input pixels."""
    shape = raws[0].shape
    factor = alignment.align_bin(shape, pixel_size, params.bfactor[0], params.ft_bin)
    small = (shape[0] // factor, shape[1] // factor)
    references = gain_mod.FrameCorrection(gain=correction.gain, dark=correction.dark)
    stack = _binned_stack(raws, len(raws), shape, references, factor)
    _replace_binned_defects(stack, shape, correction, factor)
    return _align_binned(stack, small, factor, params, pixel_size, threads,
                         log or _LogWriter(params))


def _align_binned(stack: np.ndarray, small: tuple[int, int], factor: int,
                  params: MotionCorParameters, pixel_size: float, threads: int,
                  log: _LogWriter) -> Alignment:
    """Align a frame stack of binned frames (spent: it becomes spectra) in input pixels."""
    padded = (stack.shape[1], stack.shape[2] - 2)
    spectra = alignment.to_spectra_in_place(stack, small, threads)
    scale = (float(factor), float(factor))
    small_pixel = pixel_size * factor
    weight = alignment.bfactor_filter(padded, small_pixel, params.bfactor[0])
    log.line("Full-frame alignment has been started.")
    result = alignment.align_stack(spectra, padded, weight, iterations=params.iterations,
                                   tolerance=params.tolerance, group=params.group, scale=scale,
                                   max_shift=min(small) / 3, threads=threads)
    shifts = result.shifts * np.array(scale)
    log.iterations(result.errors)
    cols, rows = params.patch
    if cols <= 0 or rows <= 0 or (cols == 1 and rows == 1):
        return Alignment(shifts, result.errors)
    frames = alignment.to_frames_in_place(spectra, padded, result.shifts, small, threads)
    patches = alignment.align_patches(frames, cols, rows, small_pixel, params.bfactor[1],
                                      iterations=params.iterations, tolerance=params.tolerance,
                                      group=params.group, scale=scale, threads=threads)
    aligned = Alignment(shifts, result.errors, patches, scale)
    log.patches(aligned)
    return aligned


def _dose_weighting(params: MotionCorParameters, movie: Movie, indices: list[int],
                    pixel_size: float) -> Callable[[tuple[int, int]], DoseAccumulator] | None:
    """A function (image shape -> DoseAccumulator) when dose weighting is on, else None."""
    if not params.dose_weight:
        return None
    fm_dose = params.fm_dose
    assert fm_dose is not None  # _check_params requires it with dose weighting
    if movie.doses is None:
        doses = [fm_dose] * movie.nframes
    elif movie.doses_absolute:
        doses = list(movie.doses)
    else:
        doses = [fm_dose * fraction for fraction in movie.doses]
    thrown = sum(doses[: indices[0]])
    mids = frame_mid_exposures([doses[i] for i in indices], pre_exposure=thrown)
    kv = float(params.kv or 300)
    return lambda shape: DoseAccumulator(shape, pixel_size, mids, kv)


def _pipelined(items: Iterable, produce: Callable, consume: Callable) -> None:
    """``consume(item, produce(item))`` for each item; the next is produced in a worker thread."""
    with ThreadPoolExecutor(1) as pool:
        pending: deque = deque()
        for item in items:
            pending.append((item, pool.submit(produce, item)))
            if len(pending) > 1:
                done, future = pending.popleft()
                consume(done, future.result())
        while pending:
            done, future = pending.popleft()
            consume(done, future.result())


def _sum(frames: Iterable[tuple[int, np.ndarray]], shape: tuple[int, int],
         correction: gain_mod.FrameCorrection, aligned: Alignment, dose_for, threads: int
         ) -> tuple[np.ndarray, np.ndarray | None]:
    """Plain and dose-weighted sums of (index, raw frame) pairs, which come last first.

    The next frame is corrected (and, for whole-frame shifts, transformed) in a worker
    thread while the previous one is added.
    """
    summer: GlobalSummer | TileSummer
    if aligned.patches is None:
        whole = summer = GlobalSummer(shape, dose_for, threads)

        def produce_whole(item: tuple[int, np.ndarray]
                          ) -> tuple[np.ndarray, tuple[float, float]]:
            index, raw = item
            buffer, view = whole.buffer()
            gain_mod.correct_frame(raw, correction, out=view)
            dx, dy = aligned.shifts[index]
            return whole.prepare(buffer, (dx, dy))

        _pipelined(frames, produce_whole, lambda item, prepared: whole.add(item[0], prepared))
    else:
        tiled = summer = TileSummer(shape, dose_for, threads)

        def produce_tiled(item: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            index, raw = item
            return (gain_mod.correct_frame(raw, correction),
                    aligned.shifts_at(index, tiled.centres))

        _pipelined(frames, produce_tiled,
                   lambda item, prepared: tiled.add(item[0], *prepared))
    sums = summer.sums()
    return sums.plain, sums.dose_weighted


def _binned_shape(shape: tuple[int, int], ft_bin: float) -> tuple[int, int]:
    if ft_bin <= 1:
        return shape
    rows, cols = (max(2, int(round(n / ft_bin / 2)) * 2) for n in shape)
    return rows, cols


def _bin(image: np.ndarray, out_shape: tuple[int, int], threads: int) -> np.ndarray:
    if tuple(out_shape) == image.shape:
        return image
    spectrum = scipy.fft.rfft2(image, workers=threads)
    cropped = alignment.fourier_crop(spectrum, image.shape, out_shape)
    return scipy.fft.irfft2(cropped, s=out_shape, workers=threads).astype(np.float32)


def _write_mrc(path: str, image: np.ndarray, pixel_size_a: float) -> None:
    """A float32 MRC, written atomically; a folder that cannot be written is one line."""
    try:
        write_mrc(path, np.asarray(image, dtype=np.float32), pixel_size_a)
    except OSError as error:
        raise InputFileError(f"cannot write {path} ({error.strerror}); check the folder") from None


class _LogWriter:
    """MotionCor2 1.6.4-style stdout, kept as text."""

    def __init__(self, params: MotionCorParameters):
        self.lines: list[str] = [f"Appion built-in motion correction {appion.__version__}", ""]
        fmt = params.input_format.lower()  # one open_movie accepts
        flag = input_flag("tiff" if fmt == "tif" else fmt)
        for name in ("-InMrc", "-InTiff", "-InEer"):
            self.lines.append(f"{name:<17}{params.input_path if name == flag else ''}")
        cols, rows = params.patch
        echo = [("-OutMrc", params.output_path), ("-Gain", params.gain_path or ""),
                ("-Dark", params.dark_path or ""), ("-DefectMap", params.defect_map_path or ""),
                ("-FmIntFile", params.fmintfile_path or ""),
                ("-EerSampling", params.eer_sampling), ("-Patch", f"{cols}  {rows}  0"),
                ("-Iter", params.iterations), ("-Tol", f"{params.tolerance:.2f}"),
                ("-Bft", f"{params.bfactor[0]:.2f} {params.bfactor[1]:.2f}"),
                ("-FtBin", f"{params.ft_bin:.2f}"),
                ("-FmDose", f"{params.fm_dose or 0:.2f}"),
                ("-PixSize", f"{params.pixel_size_a or 0:.2f}"), ("-kV", params.kv or 0),
                ("-Throw", params.throw), ("-Trunc", params.trunc),
                ("-Group", params.group), ("-RotGain", params.rot_gain),
                ("-FlipGain", params.flip_gain)]
        self.lines += [f"{name:<17}{value}" for name, value in echo]
        self.lines.append("")

    def line(self, text: str) -> None:
        self.lines.append(text)

    def stack(self, movie: Movie) -> None:
        rows, cols = movie.shape
        if hasattr(movie, "raw_frames"):
            self.lines.append(f"EER stack: {cols}  {rows}  {movie.raw_frames}")
            self.lines.append(f"Rendered stack: {cols}  {rows}  {movie.nframes}\n")
        else:
            self.lines.append(f"Stack: {cols}  {rows}  {movie.nframes}\n")

    def hot_pixels(self, mean: float, std: float, count: int) -> None:
        self.lines += ["Detect bad and hot pixels.", f"Mean & Std: {mean:8.2f} {std:8.2f}",
                       f"Hot pixel threshold: {mean + gain_mod.HOT_PIXEL_SIGMAS * std:8.2f}",
                       f"Bad and hot pixels replaced: {count}", ""]

    def iterations(self, errors: tuple[float, ...]) -> None:
        self.lines += [f"Iteration {number:2d}  Error: {error:9.3f}"
                       for number, error in enumerate(errors, start=1)]
        self.lines.append("")

    def patches(self, aligned: Alignment) -> None:
        patches = aligned.patches
        assert patches is not None  # logged only after a patch alignment
        sx, sy = aligned.patch_scale
        self.lines.append("Patch based alignment")
        for number, ((cx, cy), used) in enumerate(zip(patches.centres, patches.used)):
            self.lines.append(f"{number:3d} {cx * sx:9.2f} {cy * sy:9.2f}"
                              f"{'' if used else '   (rejected)'}")
        self.lines.append("")

    def finish(self, aligned: Alignment, output: str, dw_output: str | None,
               elapsed: float) -> str:
        self.lines += ["Full-frame alignment", "  Frame   x Shift   y Shift"]
        self.lines += [f"{number:5d} {x:10.3f} {y:10.3f}"
                       for number, (x, y) in enumerate(aligned.shifts, start=1)]
        self.lines += ["", f"Computation time: {elapsed:f} sec", "",
                       "Saving motion corrected images ......",
                       f"Corrected sum has been saved in:\n   {output}\n"]
        if dw_output:
            self.lines.append(f"Corrected sum has been saved in:\n   {dw_output}\n")
        self.lines += ["Motion corrected images saved.", "", f"Total time: {elapsed:f} sec", ""]
        return "\n".join(self.lines)
