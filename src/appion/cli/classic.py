"""What every classic drop-in that runs one step shares.

``makeDDAlignMotionCor2_UCSF.py``, ``ctffind4.py`` and ``gctf.py`` each parse
classic Appion's script and loop flags plus their step's own, check them as
classic does, record the run (``prepare_run``), and then either print one JSON
line per pending image (``--dry-run``, which writes nothing) or hand the step to
the controller (:func:`appion.base.loop.run_pipeline`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from appion.cli.classic_options import (ClassicArgumentParser, add_loop_options,
                                             add_script_options, check_classic_options)
from appion.cli.entry import configure_logging


@dataclass(frozen=True)
class ClassicProgram:
    """One classic drop-in: its name, folder, step and what ``--dry-run`` prints."""

    prog: str
    procdir: str
    description: str
    step_module: str  # exposes make_step(options) and add_step_options(parser, ...)
    dry_run_help: str
    reprocess: bool = True  # classic DD loops drop --reprocess and --uncorrected
    step_option_kwargs: dict[str, Any] = field(default_factory=dict)
    adjust_options: Callable[[argparse.Namespace], None] | None = None


def _step_module(program: ClassicProgram):
    import importlib
    return importlib.import_module(program.step_module)


def build_parser(program: ClassicProgram) -> argparse.ArgumentParser:
    from appion.base.loop import add_runtime_options
    parser = ClassicArgumentParser(prog=program.prog, description=program.description)
    add_script_options(parser, procdir=program.procdir)
    add_loop_options(parser, reprocess=program.reprocess)
    _step_module(program).add_step_options(parser, **program.step_option_kwargs)
    parser.add_argument("--dry-run", dest="dry_run", action="store_true", default=False,
                        help=program.dry_run_help)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    add_runtime_options(parser)
    return parser


def print_dry_run(step, run) -> int:
    """One JSON line per pending image (``step.dry_run_record``); writes nothing."""
    from appion.base.loop.pending import pending_image_ids
    for task in step.prepare(run, pending_image_ids(step, run)):
        print(json.dumps(step.dry_run_record(task)), flush=True)
    return 0


def run_classic_program(program: ClassicProgram, argv: Sequence[str] | None) -> int:
    """Parse, check, record the run and process it; the job row ends ``D`` or ``E``
    (:func:`appion.base.run.job_guard`)."""
    from appion.base.cluster import check_cluster_programs
    from appion.base.loop import run_pipeline, runtime_settings
    from appion.base.run import job_guard, prepare_run
    parser = build_parser(program)
    options = parser.parse_args(argv)
    configure_logging(options.verbose, quiet=options.dry_run)
    check_classic_options(options)
    if program.adjust_options:
        program.adjust_options(options)
    settings = runtime_settings(options)  # flag errors before anything is created
    if options.dry_run:
        options.commit = False
    else:
        check_cluster_programs(settings.cluster)
    step = _step_module(program).make_step(options)
    with job_guard() as job:
        run = prepare_run(options, step_names=[step.name], parser=parser,
                          program=program.prog, job=job)
        if options.dry_run:
            return print_dry_run(step, run)
        return run_pipeline([step], run, settings=settings)


def make_main(program: ClassicProgram) -> Callable[[Sequence[str] | None], None]:
    """The console-script entry point of ``program``: one-line errors, exit status."""
    import sys

    from appion.cli.entry import run_entry_point

    def main(argv: Sequence[str] | None = None) -> None:
        sys.exit(run_entry_point(program.prog,
                                 lambda args: run_classic_program(program, args), argv))

    main.__doc__ = f"Run {program.prog} (console script)."
    return main
