"""An ``ApCtfData`` row as a plain summary in Å and degrees.

Classic ``ApCtfData`` keeps defocus in metres, positive for underfocus, ``defocus1``
the smaller (:func:`appion.ctfestimation.calc.internal.classic.apply_ctfdata_convention`),
``angle_astigmatism`` in degrees; ``ctffind4_resolution`` is the fit's resolution in Å
(CTFFIND's column 7), absent on sites whose table predates it, where classic's
``resolution_50_percent`` (Å) is reported instead.
"""

from __future__ import annotations

import math
from typing import Any

from appion.ctfestimation.calc.internal.classic import A_TO_M


def _number(value: Any) -> float | None:
    """A finite float, else ``None`` (an absent column, NULL, NaN)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def defocus_a(metres: Any) -> float | None:
    """A stored defocus (m) in Å, as a positive number."""
    value = _number(metres)
    return None if value is None else round(abs(value) / A_TO_M, 1)


def fit_resolution(row: dict[str, Any]) -> tuple[float | None, str | None]:
    """``(resolution in Å, the column it came from)``: ``ctffind4_resolution``, else
    ``resolution_50_percent``; ``(None, None)`` without either."""
    for column in ("ctffind4_resolution", "resolution_50_percent"):
        value = _number(row.get(column))
        if value is not None and value > 0:
            return value, column
    return None, None


def ctf_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The summary of one ``ApCtfData`` row (every value ``None`` where not stored)."""
    resolution, source = fit_resolution(row)
    return {
        "defocus1_a": defocus_a(row.get("defocus1")),
        "defocus2_a": defocus_a(row.get("defocus2")),
        "astigmatism_angle_deg": _number(row.get("angle_astigmatism")),
        "resolution_a": resolution,
        "resolution_source": source,
        "cross_correlation": _number(row.get("cross_correlation")),
        "amplitude_contrast": _number(row.get("amplitude_contrast")),
        "confidence": _number(row.get("confidence")),
    }


__all__ = ["ctf_summary", "defocus_a", "fit_resolution"]
