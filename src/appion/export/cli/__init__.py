"""``appion export relion|cryosparc``: a session's exposures for RELION or cryoSPARC.

Reads only the classic tables; by default only the accepted exposures (classic
status not False: not hidden, trashed or rejected by an assessment), all of them
with ``--all``.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a session's micrographs, motion and CTF to RELION/cryoSPARC",
        description=__doc__.split("\n\n")[0])
    targets = parser.add_subparsers(dest="target", metavar="TARGET")
    for name, help_text in (("relion", "STAR files for RELION 3.1+ (and Bayesian polishing)"),
                            ("cryosparc", "a cryoSPARC .cs exposure dataset and STAR files")):
        target = targets.add_parser(name, help=help_text, description=help_text)
        _add_common(target)
        target.set_defaults(func=run_export, target=name)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", required=True, help="Leginon session name")
    parser.add_argument("--projectid", type=int, help="project (default: the session's)")
    parser.add_argument("--run", help="motion correction run name (default: the newest)")
    parser.add_argument("--ctf-run", help="CTF run name (default: the newest fit per image)")
    parser.add_argument("--pick-run", help="picking run name (default: the newest; "
                                           "coordinate files for its picks)")
    parser.add_argument("--out", required=True, help="export folder (created)")
    parser.add_argument("--all", action="store_true",
                        help="also export rejected, hidden and trashed exposures")
    parser.add_argument("--absolute", action="store_true",
                        help="absolute paths (default: relative to the export folder)")


def run_export(args: argparse.Namespace) -> int:
    from appion.base.errors import AppionError
    from appion.export.retrieve.exposures import load_exposures
    from appion.export.retrieve.session import open_session
    from appion.export.store import exports
    session = open_session(args.session, args.projectid)
    found = load_exposures(session, runname=args.run, ctf_runname=args.ctf_run,
                           pick_runname=args.pick_run)
    chosen = found if args.all else [e for e in found if e.status is not False]
    if not found:
        raise AppionError(f"the motion correction run of session {args.session} has no "
                          "aligned exposure yet; wait for it or choose another --run")
    if not chosen:
        raise AppionError(f"all {len(found)} aligned exposures of session {args.session} "
                          "are rejected; use --all or change the curation")
    write = exports.export_relion if args.target == "relion" else exports.export_cryosparc
    written = write(chosen, args.out, absolute=args.absolute)
    picks = (f", {written.particles} particles on {written.with_picks}" if written.with_picks
             else "")
    print(f"exported {written.micrographs} of {len(found)} exposures ({written.with_ctf} "
          f"with CTF{picks}) to {args.out}: " + ", ".join(written.files))
    return 0
