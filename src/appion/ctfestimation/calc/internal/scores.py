"""Classic ``ctfdisplay`` quality scores, computed from an equiphase 1D profile.

* ``confidence_30_10``: Pearson correlation of the observed profile with the fitted
  ``sin²(chi)`` between 1/30 and 1/10 Å⁻¹;
* ``confidence_5_peak``: the same correlation from the first fitted Thon ring to the
  fifth (chi from (n+½)π to (n+5½)π, starting at the low-resolution limit);
* ``resolution_80_percent`` / ``resolution_50_percent``: the spacing (Å) out to which
  the local ring-by-ring correlation stays above 0.8 / 0.5 (100 when it never is).
"""

from __future__ import annotations

import math

import numpy as np

from appion.ctfestimation.calc.internal.estimator import Profile1D
from appion.ctfestimation.calc.internal.spectrum import pearson
from appion.ctfestimation.contract import CtfScores

#: Classic value stored when a resolution cannot be found.
NOT_FOUND_RESOLUTION_A = 100.0


def band_correlation(profile: Profile1D, low_a: float, high_a: float) -> float:
    """Correlation of observed and model between ``1/low_a`` and ``1/high_a`` Å⁻¹."""
    s = profile.spatial_frequency
    keep = (s >= 1.0 / low_a) & (s <= 1.0 / high_a) & (profile.counts > 0)
    if keep.sum() < 5:
        return 0.0
    return pearson(profile.observed[keep], profile.model[keep], profile.counts[keep])


def five_peak_correlation(profile: Profile1D, resmin_a: float) -> float:
    """Correlation over the first five Thon rings beyond the low-resolution limit."""
    s, chi_1d = profile.spatial_frequency, profile.chi
    start = int(np.searchsorted(s, 1.0 / resmin_a))
    if start >= s.size:
        return 0.0
    first_peak = math.ceil(chi_1d[start] / math.pi - 0.5) + 0.5
    keep = ((chi_1d >= first_peak * math.pi) & (chi_1d <= (first_peak + 5.0) * math.pi)
            & (np.arange(s.size) >= start) & (profile.counts > 0))
    if keep.sum() < 5:
        return 0.0
    return pearson(profile.observed[keep], profile.model[keep], profile.counts[keep])


def resolution_at(profile: Profile1D, threshold: float, resmin_a: float) -> float:
    """Spacing (Å) out to which the local correlation stays at or above ``threshold``."""
    s = profile.spatial_frequency
    start = int(np.searchsorted(s, 1.0 / resmin_a))
    goodness = profile.goodness[start:]
    if goodness.size == 0 or goodness[0] < threshold:
        return NOT_FOUND_RESOLUTION_A
    below = np.nonzero(goodness < threshold)[0]
    last = start + (int(below[0]) - 1 if below.size else goodness.size - 1)
    return 1.0 / float(s[last]) if s[last] > 0 else NOT_FOUND_RESOLUTION_A


def ctf_scores(profile: Profile1D, resmin_a: float) -> CtfScores:
    """All ctfdisplay scores of one fit."""
    return CtfScores(
        confidence_30_10=band_correlation(profile, 30.0, 10.0),
        confidence_5_peak=five_peak_correlation(profile, resmin_a),
        resolution_80_percent=resolution_at(profile, 0.8, resmin_a),
        resolution_50_percent=resolution_at(profile, 0.5, resmin_a),
    )
