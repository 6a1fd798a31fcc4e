"""The particle-picking step's plug-in: its flags, ``appion pick`` and ``dogPicker.py``.

Importing this module is cheap (argparse and :mod:`appion.base.plugins`); the
step's options, engines and controller are imported when a step is built.
"""

from __future__ import annotations

import argparse
from typing import Any

from appion.base.plugins import ClassicProgram, StepPlugin
from appion.base.step import Step


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False) -> None:
    """Classic ``dogPicker.py`` flags plus the engine choice."""
    from appion.particlepicking.cli import options
    options.add_options(parser, pipeline=pipeline)


def make_step(namespace: argparse.Namespace) -> Step:
    """The picking step configured by a parsed command line."""
    from appion.particlepicking.cli import options
    step: Step = options.make_step(namespace)
    return step


def add_commands(subparsers: Any) -> None:
    """``appion pick``: one micrograph, no database."""
    from appion.particlepicking.cli import standalone
    standalone.register(subparsers)


#: ``dogPicker.py``: classic particleLoop2's processing folder ``extract``.
DOGPICKER = ClassicProgram(
    prog="dogPicker.py", procdir="extract",
    description="Pick particles with a difference of Gaussians (or Topaz) and store them "
                "as classic Appion does.",
    dry_run_help="print each pending image's picking parameters as JSON and write nothing")

PLUGIN = StepPlugin(
    name="pick",
    summary="particle picking (DoG, Topaz), stored as ApParticleData",
    add_options=add_options, make_step=make_step, add_commands=add_commands, commands=("pick",),
    classic_programs=(DOGPICKER,))

__all__ = ["DOGPICKER", "PLUGIN", "add_commands", "add_options", "make_step"]
