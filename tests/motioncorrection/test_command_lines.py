"""Every classic command line the production web UI sent parses (runJob.py's own flags aside)."""

from __future__ import annotations

import shlex
from pathlib import Path

from appion.cli.classic import build_parser as classic_parser
from appion.motioncorrection.cli import MAKEDDALIGN, PLUGIN

LINES = Path(__file__).parent.parent / "data" / "classic-command-lines.txt"
DROPPED_BY_REFACTOR = ["--mrclist=a,b", "--limit=3", "--startimgid=1", "--endimgid=9",
                       "--no-continue", "--ddnframe=20", "--no-keepstack", "--best-images",
                       "--shuffle", "--reverse", "--no-wait", "--no-commit", "--parallel",
                       "--jobid=4", "--jobtype=makeddrawframestack", "--expid=3",
                       "--doseweight", "--engine=motioncor3", "--dry-run"]


def build_parser():
    return classic_parser(PLUGIN, MAKEDDALIGN)


def classic_argv(line: str) -> list[str]:
    words = shlex.split(line)
    return words[words.index("makeDDAlignMotionCor2_UCSF.py") + 1:]


def test_every_production_command_line_parses():
    parser = build_parser()
    lines = [line for line in LINES.read_text().splitlines() if line.strip()]
    assert len(lines) == 45
    for line in lines:
        options = parser.parse_args(classic_argv(line))
        assert options.align and options.doseweight and options.mc_engine == "motioncor2"
        assert options.Bft_local == 100 and options.rundir.endswith(options.runname)


def test_flags_the_refactor_dropped_are_accepted():
    options = build_parser().parse_args(["--session=s"] + DROPPED_BY_REFACTOR)
    assert options.limit == 3 and options.nframe == 20 and not options.keepstack
    assert options.mc_engine == "motioncor3" and options.dry_run and not options.commit
