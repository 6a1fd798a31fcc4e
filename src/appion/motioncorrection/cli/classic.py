"""``makeDDAlignMotionCor2_UCSF.py``: the classic drop-in for MotionCor2 motion correction.

Accepts every flag classic Appion's script accepted (including those SEMC's
refactor dropped), plus ``--engine builtin|motioncor2|motioncor3`` and
``--dry-run``, which prints for each pending image one JSON line
``{"image_id", "engine", "args"}`` (the MotionCor2 arguments) and writes nothing.
Otherwise the images run on the controller (:func:`appion.base.loop.run_pipeline`).
"""

from __future__ import annotations

import argparse

from appion.cli import classic as classic_step
from appion.cli.classic import ClassicProgram, make_main

PROG = "makeDDAlignMotionCor2_UCSF.py"


def _classic_forced_options(options: argparse.Namespace) -> None:
    options.keepstack = False  # classic forces it: the raw frames are never copied


PROGRAM = ClassicProgram(
    prog=PROG,
    procdir="makeDDAlignMotionCor2_UCSF",  # classic: the script's function name
    description="Align movie frames with MotionCor2 (or MotionCor3, or the built-in "
                "engine) and store the sums as classic Appion does.",
    step_module="appion.motioncorrection.step",
    dry_run_help="print each pending image's MotionCor2 arguments as JSON and write nothing",
    reprocess=False,
    adjust_options=_classic_forced_options,
)


def build_parser() -> argparse.ArgumentParser:
    return classic_step.build_parser(PROGRAM)


main = make_main(PROGRAM)

if __name__ == "__main__":
    main()
