"""Classic ``ctffind4.py`` / ``gctf.py`` semantics as pure functions.

Units follow classic Appion: the flags ``--nominal``, ``--defstep`` and ``--dast``
are in µm, the search itself in Å, and ``ApCtfData`` stores defocus in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from appion.ctfestimation.calc.internal.estimator import wrap_angle_deg

UM_TO_A = 1e4
A_TO_M = 1e-10
#: Classic ``ctffind4_resolution`` for an infinite (unfitted) spacing.
INFINITE_RESOLUTION = 100000.0


@dataclass(frozen=True)
class PriorCtf:
    """The best earlier estimate of an image (or its aligned siblings), from ApCtfData."""

    defocus1_m: float
    defocus2_m: float
    amplitude_contrast: float | None
    resolution_80_percent: float | None
    resolution_50_percent: float | None
    confidence: float | None


def check_ctffind4_ranges(resmin: float, resmax: float, defstep_um: float) -> str | None:
    """Classic ``ctffind4.py`` range checks; the problem in one line, or ``None``."""
    if not 10.0 <= resmin <= 50.0:
        return f"--resmin {resmin} must be between 10 and 50 Å"
    if resmax > 15.0 or resmax > resmin:
        return f"--resmax {resmax} must be at most 15 Å and at most --resmin ({resmin})"
    if not 0.0001 <= defstep_um <= 2.0:
        return (f"--defstep {defstep_um} must be between 0.0001 and 2 µm "
                "(it is in µm, e.g. 0.1)")
    return None


def search_center_a(nominal_um: float | None, prior: PriorCtf | None,
                    scope_defocus_m: float | None) -> float:
    """Classic ``bestdef``: --nominal, else the best prior's smaller defocus, else the scope's."""
    if nominal_um:
        return abs(nominal_um) * UM_TO_A
    if prior is not None:
        return min(abs(prior.defocus1_m), abs(prior.defocus2_m)) / A_TO_M
    if scope_defocus_m:
        return abs(scope_defocus_m) / A_TO_M
    raise ValueError("no nominal defocus, prior estimate or scope defocus to centre on")


def defocus_range_a(center_a: float, defstep_um: float, numstep: int) -> tuple[float, float]:
    """Classic range ``bestdef ∓ defstep·numstep`` (Å); a negative minimum becomes one step."""
    half_width = defstep_um * UM_TO_A * numstep
    defocus_min = center_a - half_width
    if defocus_min < 0:
        defocus_min = defstep_um * UM_TO_A
    return defocus_min, center_a + half_width


@dataclass(frozen=True)
class BestdbChoice:
    amplitude_contrast: float
    expected_astigmatism_a: float
    resmax: float


def apply_bestdb(prior: PriorCtf | None, amplitude_contrast: float, dast_um: float,
                 resmin: float, resmax: float) -> BestdbChoice:
    """Classic ``--bestdb``: reuse the prior's amplitude contrast, astigmatism and resolution.

    Without a prior (or without ``--bestdb``, when the caller passes ``None``) the
    flags are used as given: the expected astigmatism is ``dast`` in Å.
    """
    expected = dast_um * UM_TO_A
    if prior is None:
        return BestdbChoice(amplitude_contrast, expected, resmax)
    if prior.amplitude_contrast and prior.amplitude_contrast > 0:
        amplitude_contrast = prior.amplitude_contrast
    astigmatism = abs(prior.defocus1_m - prior.defocus2_m) / A_TO_M
    expected = astigmatism if astigmatism >= 10.0 else expected
    if prior.resolution_80_percent and prior.resolution_50_percent:
        combined = (prior.resolution_80_percent * prior.resolution_50_percent * resmax) ** (1 / 3)
        if combined < 0.9 * resmin:
            resmax = combined
    return BestdbChoice(amplitude_contrast, expected, resmax)


def ctffind_columns_to_ctfdata(columns: tuple[float, ...]) -> dict[str, float]:
    """Classic parse of CTFFIND's output row into ApCtfData values (before validation).

    ``defocus2`` = column 2, ``defocus1`` = column 3 (metres), angle = column 4 + 90,
    phase = column 5 (rad), cross correlation = column 6, resolution = column 7.
    """
    _, defocus_1, defocus_2, azimuth, phase, correlation, resolution = columns[:7]
    return {
        "defocus1": defocus_2 * A_TO_M,
        "defocus2": defocus_1 * A_TO_M,
        "angle_astigmatism": azimuth + 90.0,
        "extra_phase_shift": phase,
        "cross_correlation": correlation,
        "confidence": correlation,
        "confidence_d": math.sqrt(abs(correlation)),
        "ctffind4_resolution": (INFINITE_RESOLUTION if not math.isfinite(resolution)
                                else resolution),
    }


def apply_ctfdata_convention(values: dict[str, Any]) -> dict[str, Any]:
    """``ctfinsert``: positive defoci, ``|defocus1| <= |defocus2|`` (a swap adds 90°), the
    angle in (−90, 90]."""
    result = dict(values)
    defocus_1, defocus_2 = abs(result["defocus1"]), abs(result["defocus2"])
    angle = result["angle_astigmatism"]
    if defocus_1 > defocus_2:
        defocus_1, defocus_2 = defocus_2, defocus_1
        angle += 90.0
    result.update(defocus1=defocus_1, defocus2=defocus_2, angle_astigmatism=wrap_angle_deg(angle))
    return result


def classic_confidence(values: dict[str, Any]) -> float:
    """``confidence`` = the maximum of the fit's and ctfdisplay's scores."""
    scores = [values.get(key) for key in ("confidence", "confidence_d", "confidence_5_peak",
                                          "confidence_30_10")]
    return max(float(score) for score in scores if score is not None)


def ctffind_fit_to_ctfdata(defocus_1_a: float, defocus_2_a: float, azimuth_deg: float,
                           phase_shift_rad: float, cross_correlation: float,
                           fit_resolution_a: float) -> dict[str, float]:
    """Any engine's fit in CTFFIND's convention, mapped to ApCtfData as classic does."""
    values = ctffind_columns_to_ctfdata((1.0, defocus_1_a, defocus_2_a, azimuth_deg,
                                         phase_shift_rad, cross_correlation, fit_resolution_a))
    return apply_ctfdata_convention(values)


def ctfdata_to_ctffind_fit(row: dict[str, Any]) -> tuple[float, float, float]:
    """ApCtfData (metres, Appion angle) back to CTFFIND's (defocus 1, defocus 2, azimuth) in Å."""
    defocus1_a, defocus2_a = abs(row["defocus1"]) / A_TO_M, abs(row["defocus2"]) / A_TO_M
    # defocus1 is along angle_astigmatism; CTFFIND puts the larger one first.
    if defocus1_a >= defocus2_a:
        return defocus1_a, defocus2_a, wrap_angle_deg(row["angle_astigmatism"])
    return defocus2_a, defocus1_a, wrap_angle_deg(row["angle_astigmatism"] + 90.0)


def should_reprocess(best_confidence: float | None, threshold: float | None) -> bool:
    """Classic ``--reprocess X``: process again only when the best score is not above X.

    Images with no CTF are always processed; without ``--reprocess`` a done image
    is not.
    """
    if best_confidence is None:
        return True
    if threshold is None:
        return False
    return best_confidence <= threshold


def best_prior(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``getBestCtfByResolution``: highest 1/res80 among rows, else the highest confidence."""
    with_resolution = [row for row in rows if row.get("resolution_80_percent")]
    if with_resolution:
        return min(with_resolution, key=lambda row: (row["resolution_80_percent"], -row["id"]))
    with_confidence = [row for row in rows if row.get("confidence") is not None]
    if with_confidence:
        return max(with_confidence, key=lambda row: (row["confidence"], row["id"]))
    return None
