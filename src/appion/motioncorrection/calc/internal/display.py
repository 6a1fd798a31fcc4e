"""The names of a motion correction's files in the run directory, and what an exposure
page shows of it (pure).

The worker writes the aligned sum as ``<rundir>/<image>_c.mrc`` and, next to it, a
thumbnail ``<image>_c.thumb.jpg`` (longest side :data:`THUMBNAIL_PX`) and a preview
``<image>_c.preview.jpg`` (:data:`PREVIEW_PX`) of it; the controller finds them again
from the exposure's stored file name and the run directory with the same functions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from appion.base.calc.internal.names import plain_file_name

#: Longest side (pixels) of the thumbnail and of the preview of an aligned sum.
THUMBNAIL_PX = 256
PREVIEW_PX = 1024
THUMBNAIL_SUFFIX = ".thumb.jpg"
PREVIEW_SUFFIX = ".preview.jpg"


def aligned_output_path(rundir: str, image_name: str) -> str:
    """``<rundir>/<image>_c.mrc``: where the engine writes an exposure's aligned sum."""
    name = plain_file_name(image_name, "image file name")
    return os.path.join(str(rundir), f"{name}_c.mrc")


def st_log_path(rundir: str, image_name: str) -> str:
    """``<rundir>/<image>_st_Log.txt``: the classic motioncorr log of an exposure."""
    name = plain_file_name(image_name, "image file name")
    return os.path.join(str(rundir), f"{name}_st_Log.txt")


def display_paths(aligned_path: str) -> tuple[str, str]:
    """``(thumbnail, preview)`` of the aligned sum ``aligned_path`` (its ``.mrc`` replaced)."""
    root = aligned_path[:-4] if aligned_path.lower().endswith(".mrc") else aligned_path
    return root + THUMBNAIL_SUFFIX, root + PREVIEW_SUFFIX


def trajectory_a(positions: Sequence[tuple[float, float]] | None, apix: float | None
                 ) -> list[list[float]] | None:
    """A stored trajectory (aligned pixels) as ``[[x, y], ...]`` in Å; ``None`` without
    positions or a usable pixel size."""
    if positions is None or apix is None or not (math.isfinite(apix) and apix > 0):
        return None
    return [[round(x * apix, 3), round(y * apix, 3)] for x, y in positions]


__all__ = ["PREVIEW_PX", "PREVIEW_SUFFIX", "THUMBNAIL_PX", "THUMBNAIL_SUFFIX",
           "aligned_output_path", "display_paths", "st_log_path", "trajectory_a"]
