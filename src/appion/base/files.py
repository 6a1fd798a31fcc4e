"""Files that appear complete or not at all.

Every writer goes through :func:`atomic_path`: the content is written to a hidden
sibling of the destination and renamed over it only when complete, so a reader
(the web viewer, a later step, a file watcher) never sees a partial file, and a
failure leaves no stray temporary behind.  The file gets the process's usual
permissions (umask), as any other output.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` that becomes ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def write_text(path: str | Path, text: str) -> Path:
    """A UTF-8 text file."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


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
