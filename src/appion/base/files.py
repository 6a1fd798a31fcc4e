"""Files that appear complete or not at all.

Every writer goes through :func:`atomic_path`: the content is written to a hidden
sibling of the destination and renamed over it only when complete, so a reader
(the web viewer, a later step, a file watcher) never sees a partial file, and a
failure leaves no stray temporary behind.  The file gets the process's usual
permissions (umask), as any other output.

An output only ever replaces a regular file (or a symbolic link by a symbolic
link): a folder, a device, a FIFO or a socket at the destination, or a link where
a file is written, is refused with an :class:`~appion.base.errors.OutputError`.
A full disk, a read-only file system or a folder without write permission is an
``OutputError`` too (one line naming the folder), never a bad input.

Names that come from a database (Leginon's image file names) become paths only
through :func:`appion.base.calc.internal.names.plain_file_name`: a bare file
name, never a path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from appion.base.errors import InputFileError, OutputError, UsageError

#: ``errno`` values of a write that fails because of where it writes, not what it reads.
OUTPUT_ERRNOS = {errno.ENOSPC: "no space left on the device of {folder}; free space there",
                 errno.EDQUOT: "disk quota exceeded in {folder}; free space there",
                 errno.EROFS: "{folder} is on a read-only file system; give a writable "
                              "folder",
                 errno.EACCES: "no permission to write in {folder}; check its permissions",
                 errno.EPERM: "no permission to write in {folder}; check its permissions"}


def output_error(error: OSError, path: str | Path) -> OutputError | None:
    """The :class:`OutputError` that an ``OSError`` met while writing ``path`` means, or
    ``None`` when it is not about the output's folder (full, read-only, not writable)."""
    template = OUTPUT_ERRNOS.get(error.errno or 0)
    if template is None:
        return None
    folder = Path(path).parent if not Path(path).is_dir() else Path(path)
    return OutputError(f"cannot write {path}: " + template.format(folder=folder))


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def check_replaceable(path: str | Path, *, by_link: bool = False) -> None:
    """Refuse (:class:`OutputError`) to replace anything but a regular file, or a
    symbolic link when ``by_link`` (a link replaced by a link)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise output_error(error, path) or OutputError(
            f"cannot write {path}: {error.strerror}") from None
    if stat.S_ISREG(mode) or (by_link and stat.S_ISLNK(mode)):
        return
    raise OutputError(f"{path} exists and is {_kind(mode)}; an output only replaces a "
                      "regular file, so move it away or choose another name")


def check_output_file(path: str | Path, flag: str, inputs: Iterable[str | None] = ()) -> None:
    """A command line's output ``path`` (given by ``flag``): refused in one line when it
    is not a regular file or is one of ``inputs`` (the same file, however named)."""
    if os.path.isdir(path) or (os.path.lexists(path) and not os.path.isfile(path)):
        mode = os.lstat(path).st_mode
        raise UsageError(f"{flag} {path} is {_kind(mode)}, not a regular file; give a "
                         "file name")
    for source in inputs:
        if source and os.path.exists(path) and os.path.exists(source) \
                and os.path.samefile(path, source):
            raise UsageError(f"{flag} {path} is the input {source}; give another file name "
                             "so that the input is kept")


def _make_folder(folder: Path, path: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise output_error(error, path) or OutputError(
            f"cannot create the folder {folder}: {error.strerror}") from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` that becomes ``path`` only if the block succeeds."""
    path = Path(path)
    _make_folder(path.parent, path)
    check_replaceable(path, by_link=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    try:
        try:
            yield temporary
            check_replaceable(path, by_link=os.path.islink(temporary))
            os.replace(temporary, path)
        except OSError as error:
            translated = output_error(error, path)
            if translated is None:
                raise
            raise translated from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def write_text(path: str | Path, text: str) -> Path:
    """A UTF-8 text file."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """A file of ``data`` as given (an encoded image, …)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_jpeg(path: str | Path, pixels: np.ndarray, quality: int = 85) -> Path:
    """8-bit pixels (grey, or RGB in the last axis) as a JPEG file (imagecodecs)."""
    import imagecodecs
    return write_bytes(path, bytes(imagecodecs.jpeg8_encode(
        np.ascontiguousarray(pixels, dtype=np.uint8), level=quality)))


def write_png(path: str | Path, pixels: np.ndarray, level: int = 6) -> Path:
    """8-bit pixels (grey, or RGB in the last axis) as a PNG file (imagecodecs)."""
    import imagecodecs
    return write_bytes(path, bytes(imagecodecs.png_encode(
        np.ascontiguousarray(pixels, dtype=np.uint8), level=level)))


def write_mrc(path: str | Path, data: np.ndarray, pixel_size_a=None) -> Path:
    """An MRC file of ``data`` as given (its dtype sets the mode) with its pixel size in Å
    (a number, or the ``voxel_size`` record of another MRC file)."""
    import mrcfile
    with atomic_path(path) as temporary:
        with mrcfile.new(temporary, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data))
            if pixel_size_a is not None:
                mrc.voxel_size = pixel_size_a
    return Path(path)


def read_mrc(path: str | Path, what: str, advice: str = "check the file", *,
             dtype=np.float32) -> np.ndarray:
    """The data of an MRC file as ``dtype`` (``None``: as stored), read whole.

    The one MRC reader of Appion (movies stream through the motion step's movie
    reader).  An unreadable or malformed file is an
    :class:`~appion.base.errors.InputFileError`: ``"cannot read <what> <path>
    (<reason>); <advice>"``.
    """
    import mrcfile
    try:  # mapped and copied once (mrcfile.open would read it whole, then we copy again)
        with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
            data = mrc.data
            if data is None:
                raise ValueError("no image data")
            return np.array(data, dtype=dtype, copy=True)
    except (OSError, ValueError) as error:
        raise InputFileError(f"cannot read {what} {path} ({error}); {advice}") from None


def read_mrc_voxel_size(path: str | Path) -> float | None:
    """The pixel size (Å) in an MRC file's header; ``None`` when unset or unreadable."""
    import mrcfile
    try:
        with mrcfile.open(path, permissive=True, header_only=True) as mrc:
            size = float(mrc.voxel_size.x)
    except (OSError, ValueError):
        return None
    return size if size > 0 else None


def read_mrc_shape(path: str | Path) -> tuple[int, int] | None:
    """``(ny, nx)`` from an MRC file's header; ``None`` when unreadable."""
    import mrcfile
    try:
        with mrcfile.open(path, permissive=True, header_only=True) as mrc:
            return int(mrc.header.ny), int(mrc.header.nx)
    except (OSError, ValueError):
        return None
