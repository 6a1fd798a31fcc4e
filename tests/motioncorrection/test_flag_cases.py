"""Classic parity: every production flag case through the real CLI in ``--dry-run``.

Each case holds the Leginon rows of a real exposure, the flags the classic web UI
sent, and the MotionCor2 flags classic Appion computed.  The rows go into the
test databases (both backends), the console script runs with those flags and
``--dry-run``, and its printed arguments must equal classic's, number for number.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

from appion.motioncorrection.engines.motioncor import args_as_flags

from .flag_cases import classic_argv, insert_case, load_cases, relocate

CASES = load_cases()
#: Per-reference files whose names are per-host in classic: compare the name's pattern.
REFERENCE_PREFIX = {"Gain": "norm-", "Dark": "dark-", "DefectMap": "defect-"}


def _by_session(cases):
    grouped = defaultdict(list)
    for case in cases:
        grouped[case["classic_flags"]["session"]].append(case)
    return grouped


def _check(printed: dict, case: dict, root) -> None:
    flags = args_as_flags(printed["args"])
    expected = case["expected_motioncor2_flags"]
    assert printed["engine"] == "motioncor2"
    assert set(flags) == set(expected), (set(flags) ^ set(expected))
    rundir = relocate(case["classic_flags"]["rundir"], root)
    for name, value in expected.items():
        if name in REFERENCE_PREFIX:
            assert os.path.dirname(flags[name]) == rundir
            assert os.path.basename(flags[name]).startswith(REFERENCE_PREFIX[name])
            assert flags[name].endswith(".mrc")
        elif value.startswith("/"):
            assert flags[name] == relocate(value, root), name
        else:
            assert flags[name] == value, name


def test_all_thirteen_cases_match_classic(db, cli, tmp_path):
    root = tmp_path / "site"
    for case in CASES:
        insert_case(case, root)
    checked = 0
    for cases in _by_session(CASES).values():
        argv = classic_argv(cases[0]["classic_flags"], root, db.projectid)
        done = cli(["makeDDAlignMotionCor2_UCSF.py", *argv, "--dry-run"], env=db.env)
        assert done.returncode == 0, done.stderr
        printed = {record["image_id"]: record
                   for record in map(json.loads, done.stdout.splitlines())}
        assert len(printed) == len(cases), done.stdout
        for case in cases:
            _check(printed[case["imgmetadata"]["imgdata"]["def_id"]], case, root)
            checked += 1
        rundir = relocate(cases[0]["classic_flags"]["rundir"], root)
        assert not os.path.exists(rundir), "--dry-run must write nothing"
    assert checked == len(CASES) == 13
