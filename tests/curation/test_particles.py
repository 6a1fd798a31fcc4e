"""Curation by particle count: the picking run's ``ApParticleData`` per exposure; an
exposure picked with none counts 0, one not picked (yet) fails the threshold."""

from __future__ import annotations

import json

from tests.export.processed import SESSION, aligned_sums, appion, delete_picks, insert_picks


def _curate(processed, *args: str) -> dict:
    done = appion(["curate", "--session", SESSION, "--json", "--dry-run", *args],
                  processed.db)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_particle_count_thresholds_decide(curated_session, tmp_path):
    processed = curated_session
    sums = aligned_sums(processed.db)
    first, second, third = sorted(sums)
    run = insert_picks(processed.db, tmp_path / "dogrun", "dogrun",
                       {sums[first][0]: [(100 + 10 * i, 200, 0.5, 180.0) for i in range(5)]},
                       empty=(sums[second][0],))  # third: not picked
    written: list[int] = []
    try:
        both = _curate(processed, "--min-particles", "1", "--max-particles", "10")
        assert both["rules"] == [{"attribute": "particle_count", "min": 1.0, "max": 10.0,
                                  "passing": 1, "missing": 1}]
        assert both["decisions"] == {str(first): True, str(second): False,
                                     str(third): False}
        at_most = _curate(processed, "--max-particles", "3")
        assert at_most["decisions"] == {str(first): False, str(second): True,  # 0 <= 3
                                        str(third): False}  # not picked: fails
        rules = tmp_path / "rules.json"
        rules.write_text('{"particles": [5, null]}')
        from_file = _curate(processed, "--rules", str(rules))
        assert from_file["rules"][0]["attribute"] == "particle_count"
        assert from_file["decisions"] == {str(first): True, str(second): False,
                                          str(third): False}
        done = appion(["curate", "--session", SESSION, "--json", "--min-particles", "1",
                       "--pick-run", "dogrun"], processed.db)
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        written.append(outcome["run_id"])
        assert outcome["new_run"] and outcome["kept"] == 1
        import sinedon
        processed.db.setup()
        assert sinedon.get("ApAssessmentRunData", {"id": outcome["run_id"]})["name"] == \
            'appion-curate {"particle_count":[1.0,null]}'
    finally:
        delete_picks(processed.db, [run])
        import sinedon
        processed.db.setup()
        for run_id in written:  # leave the shared session's curation as it was
            sinedon.delete("ApAssessmentData", {"assessmentrun": run_id})
            sinedon.delete("ApAssessmentRunData", {"id": run_id})


def test_rules_accept_the_particles_alias():
    from appion.curation.calc.rules import Rule, rules_from_text, rules_to_text
    rules = rules_from_text('{"particles": [10, 500]}')
    assert rules == (Rule("particle_count", 10, 500),)
    assert rules_from_text(rules_to_text(rules)) == rules
    assert not rules[0].passes(None) and rules[0].passes(10) and not rules[0].passes(501)
