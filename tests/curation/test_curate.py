"""``appion curate`` on a processed session: thresholds decide, changing them re-decides
every exposure, a person's keep/reject survives, nothing is deleted, and classic
``--no-rejects`` and the exports honour the decisions."""

from __future__ import annotations

import json

import starfile

from tests.conftest import run_cli
from tests.export.processed import SESSION, appion


def _curate(processed, *args: str) -> dict:
    done = appion(["curate", "--session", SESSION, "--json", *args], processed.db)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _drifts(processed) -> dict[int, float]:
    from appion.base.retrieve.session import session_by_name
    from appion.curation.calc.rules import attributes
    from appion.export.retrieve.exposures import load_exposures
    processed.db.setup()
    exposures = load_exposures(session_by_name(SESSION))
    return {e.source_id: attributes(e)["total_drift"] for e in exposures}


def _dry_run(processed, program: list[str], rundir: str, *flags: str) -> set[int]:
    runname = rundir
    done = run_cli([*program, f"--session={SESSION}", f"--projectid={processed.db.projectid}",
                    f"--rundir={processed.root / rundir}", f"--runname={runname}",
                    "--dry-run", "--no-wait", *flags], env=processed.db.env)
    assert done.returncode == 0, done.stderr
    return {json.loads(line)["image_id"] for line in done.stdout.splitlines()
            if line.startswith("{")}


def _aligned_of(processed) -> dict[int, set[int]]:
    import sinedon
    processed.db.setup()
    found: dict[int, set[int]] = {}
    for pair in sinedon.filter("ApDDAlignImagePairData"):
        found.setdefault(pair["source"], set()).add(pair["result"])
    return found


def _count(model: str, processed) -> int:
    import sinedon
    processed.db.setup()
    return sinedon.count(model)


def test_thresholds_decide_retroactively_and_a_person_wins(curated_session):
    processed = curated_session
    drift = _drifts(processed)
    ordered = sorted(drift, key=drift.get)  # sources, least drift first
    middle = (drift[ordered[0]] + drift[ordered[1]]) / 2

    first = _curate(processed, "--max-total-drift", f"{middle:.4f}")
    assert first["new_run"] and first["kept"] == 1 and first["rejected"] == 2
    assert first["rules"][0]["passing"] == 1
    assert {int(k) for k, keep in first["decisions"].items() if keep} == {ordered[0]}
    rows = _count("ApAssessmentData", processed)
    assert rows == 3 * len(drift)  # the movie's image and both aligned sums

    same = _curate(processed, "--max-total-drift", f"{middle:.4f}")
    assert not same["new_run"] and same["rows_written"] == 0

    loose = _curate(processed, "--max-total-drift", f"{drift[ordered[-1]] + 1:.4f}")
    assert loose["new_run"] and loose["kept"] == 3  # retroactive: every exposure again
    assert _count("ApAssessmentRunData", processed) == 2
    assert _count("ApAssessmentData", processed) == 2 * rows  # nothing deleted

    name = lambda source: _name(processed, source)  # noqa: E731
    manual = _curate(processed, "--reject", name(ordered[0]))
    assert manual["decisions"][str(ordered[0])] is False and manual["manual"] == 1
    strict = _curate(processed, "--max-total-drift", f"{middle:.4f}", "--keep",
                     name(ordered[-1]))
    assert strict["decisions"][str(ordered[0])] is False  # passes, but a person rejected it
    assert strict["decisions"][str(ordered[-1])] is True  # fails, but a person kept it
    assert strict["decisions"][str(ordered[1])] is False
    assert strict["manual"] == 2


def _name(processed, source_id: int) -> str:
    import sinedon
    processed.db.setup()
    return sinedon.get("AcquisitionImageData", {"id": source_id})["filename"]


def test_classic_no_rejects_and_exports_follow_the_curation(curated_session, tmp_path):
    processed = curated_session
    drift = _drifts(processed)
    ordered = sorted(drift, key=drift.get)
    middle = (drift[ordered[0]] + drift[ordered[1]]) / 2
    _curate(processed, "--max-total-drift", f"{middle:.4f}", "--undecide",
            *(_name(processed, source) for source in ordered))
    aligned = _aligned_of(processed)
    rejected = set(ordered[1:])

    motion = ["makeDDAlignMotionCor2_UCSF.py", "--preset=enn"]
    assert _dry_run(processed, motion, "dry1") == set(drift)  # classic: rejects processed
    assert _dry_run(processed, motion, "dry2", "--no-rejects") == set(drift) - rejected
    assert _dry_run(processed, motion, "dry4", "--best-images") == set(drift) - rejected
    ctf = ["ctffind4.py", "--preset=enn-a"]
    chosen = _dry_run(processed, ctf, "dry3", "--no-rejects")
    assert chosen and chosen <= {image for source in drift.keys() - rejected
                                 for image in aligned[source]}

    out = tmp_path / "relion"
    done = appion(["export", "relion", "--session", SESSION, "--out", str(out)],
                  processed.db)
    assert done.returncode == 0, done.stderr
    assert len(starfile.read(out / "corrected_micrographs.star")["micrographs"]) == 1
    done = appion(["export", "relion", "--session", SESSION, "--all", "--out",
                   str(tmp_path / "all")], processed.db)
    assert done.returncode == 0, done.stderr
    assert len(starfile.read(tmp_path / "all" / "corrected_micrographs.star")["micrographs"]) == 3


def test_curate_errors_are_one_line(curated_session):
    processed = curated_session
    done = appion(["curate", "--session", SESSION, "--defocus", "3", "1"], processed.db)
    assert done.returncode != 0 and "above maximum" in done.stderr
    assert "Traceback" not in done.stderr
    done = appion(["curate", "--session", SESSION, "--reject", "no_such_image"], processed.db)
    assert done.returncode != 0 and "no_such_image" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
