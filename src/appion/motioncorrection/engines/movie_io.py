"""Reading movies (MRC, TIFF, EER) and reference images, frame by frame.

A :class:`Movie` hands out frames in their stored integer type (uint8/uint16
counts stay small in memory); gain, dark and defects are applied later.  EER
movies are rendered here: raw frames are summed into the rendered frames an
FmIntFile (or a fixed group size) asks for, at EER sampling 1 (4K) or 2 (8K).
Frames decode in parallel threads (the TIFF codecs release the GIL).
A TIFF or EER file cut short (a strip past its end, a page chain that runs off it,
fewer EER frames than its metadata declares) is refused when opened; float MRC
frames are sampled for NaN/Inf as they are read.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import mrcfile
import numpy as np
import tifffile

from appion.base.calc.internal import validate
from appion.base.errors import InputFileError, InputNotReady
from appion.motioncorrection.calc.internal import params as P

MRC_MODES = (0, 1, 2, 6, 12)
_IMOD_STAMP = 1146047817  # IMOD marks mode-0 files whose bytes are unsigned


@dataclass(frozen=True)
class FmIntLine:
    """One FmIntFile line: ``raw_frames`` raw frames rendered ``group`` at a time."""

    raw_frames: int
    group: int
    dose_per_raw_frame: float


def parse_fmintfile(text: str, source: str = "FmIntFile") -> tuple[FmIntLine, ...]:
    """Parse MotionCor2's FmIntFile: lines of ``raw_frames group dose_per_raw_frame``."""
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            raw, group = int(fields[0]), int(fields[1])
            dose = float(fields[2]) if len(fields) > 2 else 0.0
        except (ValueError, IndexError):
            raise InputFileError(f"{source} line {number} is not 'frames group dose': "
                                 f"{line.strip()!r}") from None
        if raw <= 0 or group <= 0:
            raise InputFileError(f"{source} line {number} needs positive frame counts")
        lines.append(FmIntLine(raw, group, dose))
    if not lines:
        raise InputFileError(f"{source} has no 'frames group dose' lines")
    return tuple(lines)


def render_groups(n_raw: int, intfile: Sequence[FmIntLine] | None = None,
                  group: int = 1) -> tuple[tuple[range, float], ...]:
    """Raw-frame ranges of each rendered frame, with each rendered frame's dose.

    FmIntFile lines are consumed in order; a line's last partial group becomes a
    rendered frame of its own.  Lines beyond the movie are cut at its end, and raw
    frames the file does not mention are rendered with the last line's grouping,
    as MotionCor2 does.  Without a file, ``group`` raw frames make a rendered frame
    and the dose is per raw frame (1.0, to be scaled by the caller).
    """
    lines = list(intfile or [FmIntLine(n_raw, max(1, group), 1.0)])
    used = sum(line.raw_frames for line in lines)
    if used < n_raw:
        last = lines[-1]
        lines.append(FmIntLine(n_raw - used, last.group, last.dose_per_raw_frame))
    groups: list[tuple[range, float]] = []
    start = 0
    for line in lines:
        stop_line = min(n_raw, start + line.raw_frames)
        while start < stop_line:
            stop = min(stop_line, start + line.group)
            groups.append((range(start, stop), (stop - start) * line.dose_per_raw_frame))
            start = stop
        if start >= n_raw:
            break
    return tuple(groups)


class Movie:
    """Frames of one movie; subclasses implement :meth:`read`."""

    path: str
    shape: tuple[int, int]  # (rows, columns) of one frame
    nframes: int
    dtype: np.dtype
    #: Per-frame dose for rendered (EER) movies: e/Å² when ``doses_absolute`` (from the
    #: FmIntFile), else in units of one full rendered frame.  None: all frames equal.
    doses: tuple[float, ...] | None = None
    doses_absolute: bool = False
    #: Whether reading a frame decodes it (TIFF, EER) rather than mapping the file (MRC).
    decoded_on_read: bool = True

    def read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def frames(self, indices: Sequence[int] | None = None, threads: int = 1
               ) -> Iterator[np.ndarray]:
        """Frames in order, decoded ``threads`` at a time with a bounded read-ahead."""
        order = list(range(self.nframes) if indices is None else indices)
        if threads <= 1:
            for index in order:
                yield self.read(index)
            return
        with ThreadPoolExecutor(threads) as pool:
            window = 2 * threads
            pending: list[Future[np.ndarray] | None] = [pool.submit(self.read, i)
                                                        for i in order[:window]]
            for position in range(len(order)):
                future = pending[position]
                assert future is not None  # each frame is consumed once, in order
                frame = future.result()
                ahead = position + window
                if ahead < len(order):
                    pending.append(pool.submit(self.read, order[ahead]))
                pending[position] = None  # let the frame go once consumed
                yield frame

    def close(self) -> None:
        pass

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _corrupt(self, index: int, error: Exception) -> InputFileError:
        return InputFileError(f"movie {self.path} is truncated or corrupt at frame {index + 1} "
                              f"({type(error).__name__}: {error}); re-copy it from the camera")

    def _check_sample(self, frame: np.ndarray, index: int) -> np.ndarray:
        """A float frame whose sampled rows hold no NaN/Inf (the sum is checked in full)."""
        if not validate.sample_is_finite(frame) and validate.count_non_finite(frame):
            raise validate.non_finite_error(f"movie {self.path} frame {index + 1}", frame,
                                            "re-copy it from the camera")
        return frame


#: The largest frame side any camera writes (Falcon 4 EER at 4× is 16384): a header
#: claiming more is damaged, and decoding it would exhaust memory.
MAX_FRAME_SIDE = 32768
MAX_FRAMES = 100_000


def check_frame_shape(path: str, rows: int, cols: int, nframes: int = 1) -> None:
    """Refuse a header whose frame size or count no camera writes (one line, not an
    allocation of tens of GiB)."""
    if not (0 < rows <= MAX_FRAME_SIDE and 0 < cols <= MAX_FRAME_SIDE):
        raise InputFileError(f"movie {path} claims frames of {cols}×{rows} pixels; its header "
                             f"is damaged (at most {MAX_FRAME_SIDE} per side): re-copy it")
    if not 0 < nframes <= MAX_FRAMES:
        raise InputFileError(f"movie {path} claims {nframes} frames; its header is damaged: "
                             "re-copy it from the camera")


def _check_mrc_header(path: str) -> None:
    try:
        with mrcfile.open(path, mode="r", permissive=True, header_only=True) as mrc:
            header = mrc.header
            cols, rows, nframes = int(header.nx), int(header.ny), int(header.nz)
    except (ValueError, OSError, OverflowError) as error:
        raise InputFileError(f"movie {path} is not a readable MRC file ({error}); "
                             "re-copy it from the camera") from None
    check_frame_shape(path, rows, cols, nframes)


class MrcMovie(Movie):
    """An MRC stack (modes 0, 1, 2, 6, 12), memory-mapped."""

    decoded_on_read = False

    def __init__(self, path: str):
        self.path = path
        _check_mrc_header(path)
        try:
            self._mrc = mrcfile.mmap(path, mode="r", permissive=False)
        except (ValueError, OverflowError) as error:
            raise InputFileError(f"movie {path} is not a complete MRC file ({error}); "
                                 "re-copy it from the camera") from None
        header = self._mrc.header
        mode = int(header.mode)
        if mode not in MRC_MODES:
            raise InputFileError(f"movie {path} has MRC mode {mode}; supported modes are "
                                 f"{', '.join(map(str, MRC_MODES))}")
        data = self._mrc.data
        if data.ndim == 2:
            data = data[np.newaxis]
        if mode == 0 and _imod_unsigned(header):
            data = data.view(np.uint8)
        self._data = data
        self.nframes, rows, cols = data.shape
        self.shape = (rows, cols)
        self.dtype = data.dtype
        self._floating = np.issubdtype(self.dtype, np.inexact)

    def read(self, index: int) -> np.ndarray:
        frame = np.array(self._data[index])
        return self._check_sample(frame, index) if self._floating else frame

    def close(self) -> None:
        self._mrc.close()


def _imod_unsigned(header) -> bool:
    try:
        return int(header.imodStamp) == _IMOD_STAMP and bool(int(header.imodFlags) & 1)
    except (AttributeError, ValueError):
        return False


class TiffMovie(Movie):
    """A multi-page TIFF (none, LZW, deflate; uint8/uint16), one page per frame."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._tif = tifffile.TiffFile(path)
            self._pages = list(self._tif.pages)
        except (tifffile.TiffFileError, ValueError, OSError, EOFError) as error:
            raise InputFileError(f"movie {path} is not a readable TIFF ({error}); "
                                 "re-copy it from the camera") from None
        check_complete(self._tif, self._pages, path)
        self._tif.filehandle.set_lock(True)  # pages decode in parallel threads
        first = self._pages[0]
        rows, cols = first.shape[-2:]
        check_frame_shape(path, rows, cols, len(self._pages))
        if first.ndim != 2 and not (first.ndim == 3 and first.shape[0] == 1):
            raise InputFileError(f"movie {path}: pages of shape {first.shape} are not "
                                 "single frames")
        self.shape = (rows, cols)
        self.nframes = len(self._pages)
        self.dtype = np.dtype(first.dtype)

    def read(self, index: int) -> np.ndarray:
        page = self._pages[index]
        if tuple(page.shape[-2:]) != self.shape:
            raise InputFileError(f"movie {self.path}: frame {index + 1} is "
                                 f"{page.shape[-1]}×{page.shape[-2]}, not "
                                 f"{self.shape[1]}×{self.shape[0]}")
        try:
            return page.asarray(maxworkers=1).reshape(self.shape)
        except Exception as error:  # any codec or I/O failure: a damaged file
            raise self._corrupt(index, error) from None

    def close(self) -> None:
        self._tif.close()


class EerMovie(Movie):
    """An EER movie rendered into frames of summed raw frames (uint8/uint16 counts)."""

    def __init__(self, path: str, *, sampling: int = 1,
                 intfile: Sequence[FmIntLine] | None = None, group: int = 1):
        if sampling not in (1, 2, 3):
            raise InputFileError(f"EER sampling must be 1, 2 or 3, not {sampling}")
        self.path = path
        try:
            self._tif = tifffile.TiffFile(path, superres=sampling - 1)
            self._pages = list(self._tif.pages)
        except (tifffile.TiffFileError, ValueError, OSError, EOFError) as error:
            raise InputFileError(f"movie {path} is not a readable EER file ({error}); "
                                 "re-copy it from the camera") from None
        if not self._tif.is_eer:
            raise InputFileError(f"movie {path} is a TIFF but not EER; use the TIFF input")
        check_complete(self._tif, self._pages, path)
        check_eer_frame_count(self._tif, len(self._pages), path)
        self._tif.filehandle.set_lock(True)
        rows, cols = self._pages[0].shape[-2:]
        self.shape = (rows, cols)
        check_frame_shape(path, *self.shape, len(self._pages))
        self.raw_frames = len(self._pages)
        self.groups = render_groups(self.raw_frames, intfile, group)
        self.nframes = len(self.groups)
        self.doses_absolute = bool(intfile) and any(g[1] > 0 for g in self.groups)
        if self.doses_absolute:
            self.doses = tuple(dose for _, dose in self.groups)
        else:
            size = intfile[0].group if intfile else max(1, group)
            self.doses = tuple(len(raw) / size for raw, _ in self.groups)
        largest = max(len(raw) for raw, _ in self.groups)
        self.dtype = np.dtype(np.uint8 if largest < 256 else np.uint16)

    def read(self, index: int) -> np.ndarray:
        raw, _ = self.groups[index]
        counts = np.zeros(self.shape, self.dtype)
        for raw_index in raw:
            try:
                electrons = self._pages[raw_index].asarray(maxworkers=1)
            except Exception as error:  # any codec or I/O failure: a damaged file
                raise self._corrupt(raw_index, error) from None
            np.add(counts, electrons.reshape(self.shape), out=counts, casting="unsafe")
        return counts

    def close(self) -> None:
        self._tif.close()


def check_complete(tif: tifffile.TiffFile, pages: Sequence, path: str) -> None:
    """Refuse a TIFF/EER file cut short: a strip past its end, or a page chain that breaks.

    tifffile stops quietly (with a logged error) at a page whose offset lies beyond
    the end of the file, so a movie cut in the middle of a frame reads as a shorter,
    valid movie.  The last page's link to the next one must be 0 (the end) and every
    strip must lie inside the file.  Headers only: no pixel is decoded.
    """
    size = tif.filehandle.size
    for number, page in enumerate(pages, start=1):
        ends = [offset + count for offset, count in zip(page.dataoffsets, page.databytecounts)]
        if not ends or max(ends) > size:
            raise InputFileError(f"movie {path} is truncated: frame {number}'s data ends past "
                                 f"the end of the file ({size} bytes); re-copy it from the "
                                 "camera")
    link = _next_page_link(tif)
    if link != 0:
        raise InputFileError(f"movie {path} is truncated after frame {len(pages)}: its pages "
                             f"go on past the end of the file ({size} bytes); re-copy it "
                             "from the camera")


def _next_page_link(tif: tifffile.TiffFile) -> int | None:
    """The offset stored after the last page (0 at a proper end; None when unreadable)."""
    position = tif.pages.next_page_offset
    if position is None:
        return None
    handle = tif.filehandle
    handle.seek(position)
    raw = handle.read(tif.tiff.offsetsize)
    if len(raw) < tif.tiff.offsetsize:
        return None
    return int(struct.unpack(tif.tiff.offsetformat, raw)[0])


def check_eer_frame_count(tif: tifffile.TiffFile, pages: int, path: str) -> None:
    """Refuse an EER file with fewer raw frames than its metadata's ``numberOfFrames``."""
    try:
        declared = int((tif.eer_metadata or {}).get("numberOfFrames") or 0)
    except (ValueError, TypeError, AttributeError, SyntaxError):
        return  # no usable count in the metadata: nothing to compare with
    if declared > pages:
        raise InputFileError(f"movie {path} is truncated: {pages} of the {declared} frames "
                             "its header declares; re-copy it from the camera")


def open_movie(path: str, input_format: str, *, eer_sampling: int = 1,
               fmintfile_path: str | None = None, rendered_frame_size: int = 1) -> Movie:
    """Open a movie for frame-by-frame reading; a missing or damaged file is one clear error."""
    if os.path.isdir(path):
        raise InputFileError(f"movie {path} is a folder, not a movie file; check the path")
    if not os.path.isfile(path):
        raise InputNotReady(f"movie {path} does not exist; check the path")
    fmt = input_format.lower()
    if fmt == "mrc":
        return MrcMovie(path)
    if fmt in ("tif", "tiff"):
        return TiffMovie(path)
    if fmt == "eer":
        intfile = None
        if fmintfile_path:
            if not os.path.isfile(fmintfile_path):
                raise InputFileError(f"FmIntFile {fmintfile_path} does not exist")
            with open(fmintfile_path) as handle:
                intfile = parse_fmintfile(handle.read(), fmintfile_path)
        return EerMovie(path, sampling=eer_sampling, intfile=intfile, group=rendered_frame_size)
    raise InputFileError(f"movie format {input_format!r} is not one of mrc, tiff, eer")


def movie_format(path: str) -> str:
    """The input format implied by a file name (:func:`params.input_format`), or one line."""
    try:
        return P.input_format(path)
    except ValueError:
        raise InputFileError(f"cannot tell the format of {path} from its name; "
                             "use .mrc, .mrcs, .tif, .tiff or .eer") from None


def read_image(path: str, what: str) -> np.ndarray:
    """A single 2-D reference image (gain, dark, defect map) from MRC or TIFF, as float32."""
    if not os.path.isfile(path):
        raise InputFileError(f"{what} {path} does not exist; check the path")
    lower = path.lower()
    try:
        if lower.endswith((".tif", ".tiff")):
            image = tifffile.imread(path, key=0)
        else:
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                image = np.array(mrc.data)
    except Exception as error:  # unreadable reference: one line naming it
        raise InputFileError(f"{what} {path} cannot be read ({type(error).__name__}: "
                             f"{error}); check the file") from None
    image = np.squeeze(image)
    if image.ndim != 2:
        raise InputFileError(f"{what} {path} is not a single 2-D image (shape {image.shape})")
    return image.astype(np.float32, copy=False)

