"""Curation rules: thresholds on an exposure's attributes, and the decision they make.

Pure.  An exposure passes when every threshold passes; a person's manual keep or
reject always wins over the thresholds.  An attribute that is missing fails its
threshold (no CTF cannot pass a CTF threshold), except ice thickness, which
Leginon measures only on some exposures.  So an exposure the picking run has not
picked (yet) fails a particle-count threshold; one picked with no particle counts 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from appion.export.calc.exposure import (
    Exposure,
    accumulated_motion_a,
    frame_steps,
    max_frame_shift_a,
)

#: attribute -> (unit, whether a missing value passes)
ATTRIBUTES = {
    "total_drift": ("Å", False),
    "early_drift": ("Å", False),
    "max_frame_shift": ("Å", False),
    "mean_defocus": ("µm", False),
    "astigmatism": ("Å", False),
    "astigmatism_angle": ("°", False),
    "ctf_resolution": ("Å", False),
    "ctf_confidence": ("", False),
    "ice_thickness": ("nm", True),
    "particle_count": ("", False),
}

#: Other names accepted in ``--rules`` JSON for an attribute.
ALIASES: dict[str, str] = {"particles": "particle_count"}

#: Prefix of the ``ApAssessmentRunData`` names that curation writes.
RUN_PREFIX = "appion-curate "


@dataclass(frozen=True)
class Rule:
    """``low <= attribute <= high`` (either bound may be ``None``)."""

    attribute: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTES:
            raise ValueError(f"unknown curation attribute {self.attribute!r}; use one of "
                             + ", ".join(ATTRIBUTES))
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"{self.attribute}: minimum {self.low:g} is above maximum "
                             f"{self.high:g}")

    def passes(self, value: float | None) -> bool:
        if value is None:
            return ATTRIBUTES[self.attribute][1]
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def describe(self) -> str:
        unit = ATTRIBUTES[self.attribute][0]
        if self.low is not None and self.high is not None:
            return f"{self.low:g} ≤ {self.attribute} ≤ {self.high:g} {unit}".rstrip()
        if self.high is not None:
            return f"{self.attribute} ≤ {self.high:g} {unit}".rstrip()
        return f"{self.attribute} ≥ {self.low:g} {unit}".rstrip()


def attributes(exposure: Exposure) -> dict[str, float | None]:
    """The curated attributes of one exposure, in the units of :data:`ATTRIBUTES`
    (``particle_count``: the picking run's particles, ``None`` when not picked)."""
    motion = accumulated_motion_a(exposure)
    ctf = exposure.ctf
    values: dict[str, float | None] = {
        "total_drift": motion[0] if motion else None,
        "early_drift": motion[1] if motion else None,
        "max_frame_shift": max_frame_shift_a(exposure) if frame_steps(exposure.positions)
        else None,
        "ice_thickness": exposure.ice_thickness, "particle_count": exposure.particle_count}
    if ctf is None:
        values.update(mean_defocus=None, astigmatism=None, astigmatism_angle=None,
                      ctf_resolution=None, ctf_confidence=None)
        return values
    values.update(
        mean_defocus=(abs(ctf.defocus1_m) + abs(ctf.defocus2_m)) / 2 * 1e6,
        astigmatism=abs(abs(ctf.defocus2_m) - abs(ctf.defocus1_m)) * 1e10,
        astigmatism_angle=ctf.angle_astigmatism_deg, ctf_resolution=ctf.resolution_a,
        ctf_confidence=ctf.confidence)
    return values


def failed_rules(values: dict[str, float | None], rules: tuple[Rule, ...]) -> list[Rule]:
    return [rule for rule in rules if not rule.passes(values.get(rule.attribute))]


def decide(values: dict[str, float | None], rules: tuple[Rule, ...],
           manual: bool | None) -> bool:
    """Keep (True) or reject: a manual decision wins, else every rule must pass."""
    if manual is not None:
        return manual
    return not failed_rules(values, rules)


def summary(all_values: list[dict[str, float | None]], rules: tuple[Rule, ...]
            ) -> list[tuple[Rule, int, int]]:
    """``(rule, passing, missing)`` per rule, over every exposure."""
    return [(rule, sum(rule.passes(v.get(rule.attribute)) for v in all_values),
             sum(v.get(rule.attribute) is None for v in all_values)) for rule in rules]


def rules_to_text(rules: tuple[Rule, ...]) -> str:
    """The rules as the compact JSON kept in the assessment run's name."""
    return json.dumps({rule.attribute: [rule.low, rule.high] for rule in rules},
                      separators=(",", ":"), ensure_ascii=False)


def rules_from_text(text: str) -> tuple[Rule, ...]:
    """The inverse of :func:`rules_to_text` (also reads a ``--rules`` file)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"curation rules are not JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ValueError('curation rules must be a JSON object {"attribute": [min, max]}')
    return tuple(_rule(ALIASES.get(str(name), str(name)), bounds)
                 for name, bounds in data.items())


def _rule(attribute: str, bounds) -> Rule:
    low, high = (list(bounds) + [None, None])[:2]
    return Rule(attribute, low, high)
