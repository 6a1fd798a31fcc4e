"""``appion pipeline``: motion correction and CTF estimation, chained, as images land.

    appion pipeline --projectid 1 --session 24nov26a --preset enn \\
        --steps motioncor,ctf --motioncor-engine builtin --ctf-engine builtin \\
        [--cluster slurm ...]

Takes the classic loop flags (``--session``, ``--preset``, ``--no-wait``,
``--limit``, ``--no-rejects`` …), the runtime flags (``--cluster``, ``--scheduler``,
workers, retries, timeouts) and each chosen step's own flags.  Steps are the
installed plug-ins of the ``appion.steps`` entry-point group
(:func:`appion.base.plugins.step_plugins`): each adds its flags
(``add_options(parser, pipeline=True)``, so that flags shared by several steps, such
as the engine, get step-specific names) and builds its step from the parsed flags
(``make_step``).

Its job rows (``ApAppionJobData``) have jobtype ``appionpipeline`` unless
``--jobtype`` says otherwise: one run does what classic's web runs as two jobs
(``makeddrawframestack`` and ``ctfestimate``), so it is counted as neither.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from appion.base.errors import UsageError
from appion.base.plugins import step_plugin, step_plugins
from appion.cli.classic_options import (
    ClassicArgumentParser,
    add_loop_options,
    add_script_options,
    run_inputs,
)

DEFAULT_STEPS = "motioncor,ctf"
PROCDIR = "pipeline"
#: The program name of its runs (``ScriptProgramName``; jobtype ``appionpipeline``).
PROGRAM = "appion-pipeline"


def installed_steps() -> list[str]:
    """The installed steps' names: the default chain's first, in chain order, then the
    others in entry-point order."""
    default = DEFAULT_STEPS.split(",")
    names = list(step_plugins())
    return ([name for name in default if name in names]
            + [name for name in names if name not in default])


def step_names(text: str | None) -> list[str]:
    """``"motioncor,ctf"`` -> ``["motioncor", "ctf"]``, checked against the installed
    steps."""
    names = [part.strip() for part in (text or DEFAULT_STEPS).split(",") if part.strip()]
    installed = installed_steps()
    unknown = [name for name in names if name not in installed]
    if unknown or not names:
        raise UsageError(f"unknown step {unknown[0] if unknown else '(none)'!r} in --steps; "
                         f"choose from {', '.join(installed)}, e.g. --steps motioncor,ctf")
    if len(set(names)) != len(names):
        raise UsageError(f"--steps {text} names a step twice")
    return names


def make_steps(names: Sequence[str], options: argparse.Namespace) -> list:
    """The step objects, built by each plug-in from the parsed options."""
    return [step_plugin(name).make_step(options) for name in names]


def _peek_steps(args: Sequence[str]) -> str | None:
    """The value of the last ``--steps`` (argparse keeps the last one too)."""
    found = None
    for index, arg in enumerate(args):
        if arg == "--steps" and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith("--steps="):
            found = arg.split("=", 1)[1]
    return found


class _PipelineParser(argparse.ArgumentParser):
    """Adds the chosen steps' own flags before parsing, so ``--help`` shows them."""

    _steps_added = False

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if not self._steps_added:
            self._steps_added = True
            try:
                names = step_names(_peek_steps(args))
            except UsageError:
                names = []  # reported after parsing, with the other errors
            added = []
            for name in names:
                add_options = step_plugin(name).add_options
                if add_options not in added:  # steps sharing their flags add them once
                    added.append(add_options)
                    add_options(self, pipeline=True)
        return super().parse_known_args(args, namespace)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pipeline", help="process a session as it is collected (motion correction, CTF, picking)",
        description=__doc__.split("\n\n")[0], conflict_handler="resolve")
    parser.__class__ = _PipelineParser
    parser.add_argument("--steps", default=DEFAULT_STEPS, metavar="LIST",
                        help=f"comma-separated chain of steps (default {DEFAULT_STEPS}; "
                             f"available: {', '.join(installed_steps())})")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true", default=False,
                        help="print the images the first step would process, as JSON "
                             "lines, and write nothing")
    add_pipeline_run_options(parser)
    parser.set_defaults(func=lambda options: run_command(options, parser))


def add_pipeline_run_options(parser: argparse.ArgumentParser) -> None:
    """The run flags of ``appion pipeline``: classic script options (run directory under
    :data:`PROCDIR`), classic loop options and the runtime options."""
    add_script_options(parser, procdir=PROCDIR)
    add_loop_options(parser)
    from appion.cli.runtime_options import add_runtime_options
    add_runtime_options(parser)


def parse_pipeline_options(args: Sequence[str], *, prog: str = "appion-pipeline"
                           ) -> argparse.Namespace:
    """``args`` parsed with :func:`add_pipeline_run_options` alone (no ``--steps`` or
    step flags), for callers that build the steps themselves (tests, benchmarks)."""
    parser = ClassicArgumentParser(prog=prog)
    add_pipeline_run_options(parser)
    return parser.parse_args(list(args))


def run_command(options: argparse.Namespace, parser: argparse.ArgumentParser | None = None
                ) -> int:
    """Record the run (jobtype ``appionpipeline`` unless ``--jobtype``) and process it;
    the job row ends ``D`` or ``E`` (:func:`appion.base.job.job_guard`)."""
    from appion.base.cluster import check_cluster_programs
    from appion.base.job import job_guard
    from appion.base.loop import run_pipeline
    from appion.base.run import prepare_run
    from appion.cli.runtime_options import runtime_settings
    names = step_names(options.steps)
    settings = runtime_settings(options)  # flag errors before anything is created
    if options.dry_run:
        options.commit = False
    else:
        check_cluster_programs(settings.cluster)
    request, selection = run_inputs(options, parser)
    with job_guard() as job:
        run = prepare_run(request, selection, step_names=names, program=PROGRAM, job=job)
        steps = make_steps(names, options)
        if options.dry_run:
            return print_pending(steps[0], run)
        return run_pipeline(steps, run, settings=settings)


def print_pending(step, run) -> int:
    """``--dry-run``: one JSON line per image the first step would process now."""
    from appion.base.loop.pending import pending_image_ids
    for image_id in pending_image_ids(step, run):
        print(json.dumps({"step": step.name, "image_id": image_id,
                          "session": run.session.get("name"), "runname": run.runname}))
    return 0
