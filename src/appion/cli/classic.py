"""The classic drop-ins that run one step, built from the step plug-ins.

``makeDDAlignMotionCor2_UCSF.py``, ``ctffind4.py`` and ``gctf.py`` each parse
classic Appion's script and loop flags plus their step's own, check them as
classic does, record the run (``prepare_run``), and then either print one JSON
line per pending image (``--dry-run``, which writes nothing) or hand the step to
the controller (:func:`appion.base.loop.run_pipeline`).  Which step serves a
program, and with which flags, is the step's plug-in's
:class:`~appion.base.plugins.ClassicProgram`
(:func:`appion.base.plugins.classic_program`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from appion.base.plugins import ClassicProgram, StepPlugin, classic_program
from appion.cli.classic_options import (
    ClassicArgumentParser,
    add_loop_options,
    add_script_options,
    run_inputs,
)
from appion.cli.entry import configure_logging, run_entry_point


def build_parser(plugin: StepPlugin, program: ClassicProgram) -> argparse.ArgumentParser:
    """Classic script and loop flags, the step's own, ``--dry-run``, ``-v``, runtime."""
    from appion.cli.runtime_options import add_runtime_options
    parser = ClassicArgumentParser(prog=program.prog, description=program.description)
    add_script_options(parser, procdir=program.procdir)
    add_loop_options(parser, reprocess=program.reprocess)
    plugin.add_options(parser, **program.option_kwargs)
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


def run_classic_program(prog: str, argv: Sequence[str] | None) -> int:
    """Parse, check, record the run and process it; the job row ends ``D`` or ``E``
    (:func:`appion.base.job.job_guard`)."""
    from appion.base.cluster import check_cluster_programs
    from appion.base.job import job_guard
    from appion.base.loop import run_pipeline
    from appion.base.run import prepare_run
    from appion.cli.runtime_options import runtime_settings
    plugin, program = classic_program(prog)
    parser = build_parser(plugin, program)
    options = parser.parse_args(argv)
    configure_logging(options.verbose, quiet=options.dry_run)
    if program.adjust_options:
        program.adjust_options(options)
    if options.dry_run:
        options.commit = False
    # flag errors before anything is created: classic's checks first, as classic does
    request, selection = run_inputs(options, parser)
    settings = runtime_settings(options)
    if not options.dry_run:
        check_cluster_programs(settings.cluster)
    step = plugin.make_step(options)
    with job_guard() as job:
        run = prepare_run(request, selection, step_names=[step.name], program=prog,
                          job=job)
        if options.dry_run:
            return print_dry_run(step, run)
        return run_pipeline([step], run, settings=settings)


def make_main(prog: str) -> Callable[[Sequence[str] | None], None]:
    """The console-script entry point of ``prog``: one-line errors, exit status."""

    def main(argv: Sequence[str] | None = None) -> None:
        sys.exit(run_entry_point(prog, lambda args: run_classic_program(prog, args), argv))

    main.__doc__ = f"Run {prog} (console script)."
    return main


makeddalign_main = make_main("makeDDAlignMotionCor2_UCSF.py")
ctffind4_main = make_main("ctffind4.py")
gctf_main = make_main("gctf.py")
dogpicker_main = make_main("dogPicker.py")

__all__ = ["build_parser", "ctffind4_main", "dogpicker_main", "gctf_main", "make_main",
           "makeddalign_main", "print_dry_run", "run_classic_program"]
