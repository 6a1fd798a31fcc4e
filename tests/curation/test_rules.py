"""Curation rules and decisions (pure)."""

from __future__ import annotations

import pytest

from appion.curation.calc.rules import Rule, decide, rules_from_text, rules_to_text, summary


def test_a_rule_bounds_and_missing_values():
    assert Rule("ctf_resolution", high=6.0).passes(5.9)
    assert not Rule("ctf_resolution", high=6.0).passes(6.1)
    assert not Rule("ctf_resolution", high=6.0).passes(None)  # no CTF cannot pass
    assert Rule("ice_thickness", 10.0, 50.0).passes(None)  # not measured: not a reason
    assert not Rule("ice_thickness", 10.0, 50.0).passes(60.0)
    with pytest.raises(ValueError, match="unknown curation attribute"):
        Rule("sharpness", high=1.0)
    with pytest.raises(ValueError, match="above maximum"):
        Rule("mean_defocus", 3.0, 1.0)


def test_a_person_wins_over_thresholds():
    rules = (Rule("total_drift", high=10.0),)
    assert decide({"total_drift": 20.0}, rules, manual=True) is True
    assert decide({"total_drift": 1.0}, rules, manual=False) is False
    assert decide({"total_drift": 1.0}, rules, manual=None) is True
    assert decide({"total_drift": 20.0}, rules, manual=None) is False


def test_rules_round_trip_and_summary():
    rules = (Rule("total_drift", high=10.0), Rule("mean_defocus", 0.8, 3.0))
    assert rules_from_text(rules_to_text(rules)) == rules
    values = [{"total_drift": 5.0, "mean_defocus": 1.0},
              {"total_drift": 15.0, "mean_defocus": None}]
    assert summary(values, rules) == [(rules[0], 1, 0), (rules[1], 1, 1)]
    with pytest.raises(ValueError, match="not JSON"):
        rules_from_text("{total_drift")
