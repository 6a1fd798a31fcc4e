"""A stored frame trajectory as numbers: its positions and the drift along it.

``ApDDFrameTrajectoryData`` keeps ``pos_x``/``pos_y`` as the Python ``repr`` of a
sequence (classic sinedon's ``SEQ|``), in pixels of the aligned image;
``ApDDAlignStatsData.apix`` is that pixel's size in Å.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any


def parse_sequence(value: Any) -> list[float] | None:
    """A ``SEQ|`` column (``"[0.1, -0.2]"``, a list, ``None``) as floats; ``None`` when
    it holds no readable sequence of numbers."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if not isinstance(value, (list, tuple)):
        return None
    try:
        numbers = [float(item) for item in value]
    except (TypeError, ValueError):
        return None
    return numbers if all(math.isfinite(number) for number in numbers) else None


def trajectory_positions(pos_x: Any, pos_y: Any) -> list[tuple[float, float]] | None:
    """The trajectory's ``(x, y)`` positions, ``None`` when unreadable or of unequal length."""
    xs, ys = parse_sequence(pos_x), parse_sequence(pos_y)
    if xs is None or ys is None or len(xs) != len(ys):
        return None
    return list(zip(xs, ys))


def path_length(positions: Sequence[tuple[float, float]]) -> float:
    """The length of the path through ``positions`` (frame to frame), in their unit."""
    return sum(math.hypot(x1 - x0, y1 - y0)
               for (x0, y0), (x1, y1) in zip(positions, positions[1:]))


def total_drift_a(positions: Sequence[tuple[float, float]] | None,
                  apix: float | None) -> float | None:
    """The total drift in Å along the trajectory: its length in aligned pixels times
    the aligned pixel size ``apix`` (Å); ``None`` without either."""
    if positions is None or apix is None or not apix > 0 or not math.isfinite(apix):
        return None
    return path_length(positions) * float(apix)


__all__ = ["parse_sequence", "path_length", "total_drift_a", "trajectory_positions"]
