"""The CTF step's plug-in: its flags, the ``appion ctf`` command and the classic drop-ins.

Importing this module is cheap (argparse and :mod:`appion.base.plugins`); the
step's options, engines and controller are imported when a step is built.
"""

from __future__ import annotations

import argparse
from typing import Any

from appion.base.plugins import ClassicProgram, StepPlugin
from appion.base.step import Step


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False,
                flavour: str = "ctffind4") -> None:
    """Classic ``ctffind4.py`` (or ``gctf.py``) flags plus the engine choice."""
    from appion.ctfestimation.cli import options
    options.add_options(parser, pipeline=pipeline, flavour=flavour)


def make_step(namespace: argparse.Namespace) -> Step:
    """The CTF step configured by a parsed command line."""
    from appion.ctfestimation.cli import options
    return options.make_step(namespace)


def add_commands(subparsers: Any) -> None:
    """``appion ctf``: one micrograph, built-in engine, no database."""
    from appion.ctfestimation.cli import standalone
    standalone.register(subparsers)


def _classic(prog: str, procdir: str, flavour: str, program_name: str) -> ClassicProgram:
    return ClassicProgram(
        prog=prog, procdir=procdir,
        description=f"Estimate the CTF of micrographs with {program_name} (or the built-in "
                    "estimator) and store it as classic Appion does.",
        dry_run_help="print each pending image's CTF search as JSON and write nothing",
        option_kwargs={"flavour": flavour})


#: ``ctffind4.py``: classic's processing folder ``ctf``.
CTFFIND4 = _classic("ctffind4.py", "ctf", "ctffind4", "CTFFIND 4/5")
#: ``gctf.py``: classic's processing folder ``gctf``, Gctf's own flags.
GCTF = _classic("gctf.py", "gctf", "gctf", "Gctf")

PLUGIN = StepPlugin(
    name="ctf",
    summary="CTF estimation (built-in, CTFFIND 4/5 or Gctf), stored as ApCtfData",
    add_options=add_options, make_step=make_step, add_commands=add_commands, commands=("ctf",),
    classic_programs=(CTFFIND4, GCTF))

__all__ = ["CTFFIND4", "GCTF", "PLUGIN", "add_commands", "add_options", "make_step"]
