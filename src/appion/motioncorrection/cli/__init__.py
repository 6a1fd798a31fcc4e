"""The motion-correction step's plug-in (entry point ``appion.steps: motioncor``).

Importing this module is cheap: the flags, the step and the ``appion motioncor``
command are imported only when ``appion`` asks for them.
"""

from __future__ import annotations

import argparse
from typing import Any

from appion.base.plugins import ClassicProgram, StepPlugin


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False) -> None:
    """The step's flags (see :func:`appion.motioncorrection.cli.options.add_options`)."""
    from appion.motioncorrection.cli import options
    options.add_options(parser, pipeline=pipeline)


def make_step(namespace: argparse.Namespace) -> Any:
    """The step for parsed flags (a one-line UsageError for bad values)."""
    from appion.motioncorrection.cli import options
    return options.make_step(namespace)


def add_commands(subparsers: Any) -> None:
    """``appion motioncor``: one movie with the built-in engine, no database."""
    from appion.motioncorrection.cli import standalone
    standalone.register(subparsers)


def _classic_forced_options(namespace: argparse.Namespace) -> None:
    namespace.keepstack = False  # classic forces it: the raw frames are never copied


MAKEDDALIGN = ClassicProgram(
    prog="makeDDAlignMotionCor2_UCSF.py",
    procdir="makeDDAlignMotionCor2_UCSF",  # classic: the script's function name
    description="Align movie frames with MotionCor2 (or MotionCor3, or the built-in "
                "engine) and store the sums as classic Appion does.",
    dry_run_help="print each pending image's MotionCor2 arguments as JSON and write nothing",
    reprocess=False,
    adjust_options=_classic_forced_options,
)

PLUGIN = StepPlugin(
    name="motioncor",
    summary="align movie frames (MotionCor2, MotionCor3 or the built-in engine)",
    add_options=add_options,
    make_step=make_step,
    add_commands=add_commands, commands=("motioncor",),
    classic_programs=(MAKEDDALIGN,),
)

__all__ = ["MAKEDDALIGN", "PLUGIN", "add_commands", "add_options", "make_step"]
