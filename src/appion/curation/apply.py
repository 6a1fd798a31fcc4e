"""Curate a session: decide every exposure from the rules and record the decisions.

``curate`` is what ``appion curate`` runs and what a live service calls after each
poll: with the same rules as the session's newest curation, only decisions that
changed (a new exposure, a person's new keep/reject) are added to that curation's
run; with other rules a new curation run re-decides every exposure (retroactive).
"""

from __future__ import annotations

from dataclasses import dataclass

from appion.curation.calc import rules as R
from appion.curation.retrieve.decisions import (
    all_runs,
    curation_runs,
    manual_decisions,
    newest_keep,
)
from appion.curation.store import assessment
from appion.export.calc.exposure import Exposure


@dataclass(frozen=True)
class Outcome:
    """What a curation decided and wrote."""

    run_id: int | None
    new_run: bool
    kept: int
    rejected: int
    manual: int
    rows_written: int
    per_rule: tuple[tuple[R.Rule, int, int], ...]
    decisions: dict[int, bool]


def newest_rules(session_id: int) -> tuple[dict | None, tuple[R.Rule, ...] | None]:
    """The session's newest curation run and its rules (``None, None`` if none)."""
    runs = curation_runs(session_id)
    if not runs:
        return None, None
    run = runs[-1]
    return run, R.rules_from_text(run["name"][len(R.RUN_PREFIX):])


def decide_all(exposures: list[Exposure], rules: tuple[R.Rule, ...], session_id: int
               ) -> tuple[dict[int, bool], dict[int, bool | None], list[dict]]:
    """``(decisions, manual, attribute values)`` keyed by source image id."""
    manual = manual_decisions(session_id, {e.source_id: e.image_ids for e in exposures})
    values = [R.attributes(e) for e in exposures]
    decisions = {e.source_id: R.decide(v, rules, manual.get(e.source_id))
                 for e, v in zip(exposures, values)}
    return decisions, manual, values


def _changed_rows(session_id: int, exposures: list[Exposure], decisions: dict[int, bool]
                  ) -> list[tuple[int, bool]]:
    """Rows for the images whose classic assessment (the newest row over every run of the
    session, a person's included) is not the decision."""
    runs = [run["id"] for run in all_runs(session_id)]
    current = newest_keep(runs, {i for e in exposures for i in e.image_ids})
    return [(image, decisions[e.source_id]) for e in exposures for image in e.image_ids
            if image not in current or current[image] != decisions[e.source_id]]


def curate(session_id: int, exposures: list[Exposure], rules: tuple[R.Rule, ...], *,
           dry_run: bool = False) -> Outcome:
    """Decide every exposure; record a new curation run unless the rules are the newest
    run's (then only changed decisions are added to it)."""
    decisions, manual, values = decide_all(exposures, rules, session_id)
    run, current_rules = newest_rules(session_id)
    reuse = False
    run_id: int | None = None
    rows: list[tuple[int, bool]]
    if run is not None and set(current_rules or ()) == set(rules):
        reuse = True
        run_id, rows = run["id"], _changed_rows(session_id, exposures, decisions)
    else:
        rows = [(image, decisions[e.source_id]) for e in exposures for image in e.image_ids]
    written = 0
    if not dry_run and rows:
        if run_id is None:
            run_id = assessment.new_run(session_id, R.RUN_PREFIX + R.rules_to_text(rules))
        written = assessment.write_decisions(run_id, rows)
    kept = sum(decisions.values())
    return Outcome(run_id=run_id, new_run=not reuse and written > 0, kept=kept,
                   rejected=len(decisions) - kept,
                   manual=sum(value is not None for value in manual.values()),
                   rows_written=written, per_rule=tuple(R.summary(values, rules)),
                   decisions=decisions)


def record_manual(session_id: int, exposures: list[Exposure], keep: bool | None) -> int:
    """A person's keep (True), reject (False) or undo (None) of these exposures."""
    run_id = assessment.manual_run(session_id)
    return assessment.write_decisions(
        run_id, [(image, keep) for e in exposures for image in e.image_ids])
