"""``appion curate``: keep the good exposures of a session by thresholds, retroactively.

Decisions are classic assessment rows (``ApAssessmentRunData``/``ApAssessmentData``,
one run per curation), so myamiweb and classic ``--no-rejects``/``--best-images``
honour them.  A person's keep/reject (``--keep``/``--reject``, myamiweb, the viewer's
hide/trash/exemplar) always wins over a threshold.  Nothing is deleted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: flag -> (attribute, which bound(s)): "max", "min" or "range"
THRESHOLD_FLAGS = {
    "max_total_drift": ("total_drift", "max", "Å, accumulated frame-to-frame motion"),
    "max_early_drift": ("early_drift", "max", "Å, motion in the first 4 e/Å²"),
    "max_frame_shift": ("max_frame_shift", "max", "Å, largest frame-to-frame shift"),
    "defocus": ("mean_defocus", "range", "µm, mean defocus MIN MAX"),
    "max_astigmatism": ("astigmatism", "max", "Å, |defocus2 - defocus1|"),
    "astigmatism_angle": ("astigmatism_angle", "range", "degrees MIN MAX"),
    "max_ctf_resolution": ("ctf_resolution", "max", "Å, CTF fit resolution (RELION "
                                                    "on-the-fly keeps 6)"),
    "min_ctf_confidence": ("ctf_confidence", "min", "classic CTF confidence"),
    "ice_thickness": ("ice_thickness", "range", "nm MIN MAX, where Leginon measured it"),
    "min_particles": ("particle_count", "min", "particles the picking run found (not "
                                               "picked yet: fails)"),
    "max_particles": ("particle_count", "max", "particles the picking run found (not "
                                               "picked yet: fails)"),
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "curate", help="keep or reject exposures by thresholds (classic assessment rows)",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--session", required=True, help="Leginon session name")
    parser.add_argument("--projectid", type=int, help="project (default: the session's)")
    parser.add_argument("--run", help="motion correction run name (default: the newest)")
    parser.add_argument("--ctf-run", help="CTF run name (default: the newest fit per image)")
    parser.add_argument("--pick-run", help="picking run name for --min/--max-particles "
                                           "(default: the newest)")
    for flag, (_, kind, help_text) in THRESHOLD_FLAGS.items():
        parser.add_argument("--" + flag.replace("_", "-"), type=float,
                            nargs=2 if kind == "range" else None,
                            metavar=("MIN", "MAX") if kind == "range" else "X", help=help_text)
    parser.add_argument("--rules", help='thresholds as JSON {"attribute": [min, max]} '
                                        "(a file); flags given add to it")
    parser.add_argument("--update", action="store_true",
                        help="apply the newest curation's thresholds again (new exposures, "
                             "new manual decisions)")
    parser.add_argument("--keep", nargs="+", default=[], metavar="IMAGE",
                        help="a person keeps these exposures (wins over thresholds)")
    parser.add_argument("--reject", nargs="+", default=[], metavar="IMAGE",
                        help="a person rejects these exposures (wins over thresholds)")
    parser.add_argument("--undecide", nargs="+", default=[], metavar="IMAGE",
                        help="withdraw a person's keep/reject: the thresholds decide again")
    parser.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run_curate)


def rules_from_args(args: argparse.Namespace) -> tuple:
    """The rules given by ``--rules`` and the threshold flags (flags win)."""
    from appion.base.errors import InputFileError, UsageError
    from appion.curation.calc.rules import Rule, rules_from_text
    rules = {}
    if args.rules:
        try:
            text = Path(args.rules).read_text(encoding="utf-8")
        except OSError as error:
            raise InputFileError(f"--rules {args.rules} cannot be read ({error.strerror}); "
                                 "give a JSON file") from None
        try:
            rules = {rule.attribute: rule for rule in rules_from_text(text)}
        except ValueError as error:
            raise UsageError(f"--rules {args.rules}: {error}") from None
    flagged: set[str] = set()
    for flag, (attribute, kind, _) in THRESHOLD_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        low, high = (value if kind == "range" else
                     (value, None) if kind == "min" else (None, value))
        if attribute in flagged:  # --min-X and --max-X make one range
            earlier = rules[attribute]
            low = earlier.low if low is None else low
            high = earlier.high if high is None else high
        flagged.add(attribute)
        try:
            rules[attribute] = Rule(attribute, low, high)
        except ValueError as error:
            raise UsageError(f"--{flag.replace('_', '-')}: {error}") from None
    return tuple(rules.values())


def _by_name(exposures: list, names: list[str]) -> list:
    from appion.base.errors import UsageError
    chosen = []
    for name in names:
        name = name.removesuffix(".mrc")
        found = [e for e in exposures if name == e.name or name in
                 (Path(e.aligned_path).stem, Path(e.aligned_dw_path or "").stem)]
        if not found:
            raise UsageError(f"image {name} is not an aligned exposure of this session's "
                             "motion run; check the name (without folder)")
        chosen += found
    return chosen


def _manual(args: argparse.Namespace, session_id: int, exposures: list) -> int:
    from appion.curation.apply import record_manual
    written = 0
    for names, keep in ((args.keep, True), (args.reject, False), (args.undecide, None)):
        if names:
            written += record_manual(session_id, _by_name(exposures, names), keep)
    return written


def _report(outcome, total: int, as_json: bool, manual_rows: int) -> None:
    if as_json:
        print(json.dumps({
            "run_id": outcome.run_id, "new_run": outcome.new_run, "exposures": total,
            "kept": outcome.kept, "rejected": outcome.rejected, "manual": outcome.manual,
            "rows_written": outcome.rows_written, "manual_rows": manual_rows,
            "rules": [{"attribute": r.attribute, "min": r.low, "max": r.high,
                       "passing": passing, "missing": missing}
                      for r, passing, missing in outcome.per_rule],
            "decisions": {str(k): v for k, v in outcome.decisions.items()}}))
        return
    for rule, passing, missing in outcome.per_rule:
        extra = f" ({missing} without a value)" if missing else ""
        print(f"{rule.describe():<40} {passing:>6} of {total} pass{extra}")
    print(f"kept {outcome.kept}, rejected {outcome.rejected} of {total} exposures "
          f"({outcome.manual} decided by a person); {outcome.rows_written} assessment "
          f"row(s) written" + (f" in new run {outcome.run_id}" if outcome.new_run else ""))


def run_curate(args: argparse.Namespace) -> int:
    from appion.base.errors import UsageError
    from appion.curation.apply import curate, newest_rules
    from appion.export.retrieve.exposures import load_exposures
    from appion.export.retrieve.session import open_session
    session = open_session(args.session, args.projectid)
    exposures = load_exposures(session, runname=args.run, ctf_runname=args.ctf_run,
                               pick_runname=args.pick_run)
    rules: tuple | None = rules_from_args(args)
    manual_rows = 0 if args.dry_run else _manual(args, session["id"], exposures)
    if not rules:
        _, rules = newest_rules(session["id"])
        if rules is None:
            if manual_rows:
                print(f"{manual_rows} manual assessment row(s) written; no curation yet")
                return 0
            raise UsageError("no thresholds given and no earlier curation in this session; "
                             "give thresholds (e.g. --max-ctf-resolution 6) or --rules")
    elif args.update:
        raise UsageError("--update reapplies the newest curation; give it without thresholds")
    outcome = curate(session["id"], exposures, rules, dry_run=args.dry_run)
    _report(outcome, len(exposures), args.json, manual_rows)
    return 0
