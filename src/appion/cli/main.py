"""The ``appion`` command: one entry point with subcommands.

Each subcommand lives in its step's ``cli`` package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed arguments and returning an exit status.  Heavy imports stay
inside those callables so that ``appion --help`` and ``appion --version`` are fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import appion
from appion.cli.entry import configure_logging, run_entry_point

#: Modules that register subcommands, in the order ``--help`` lists them.
SUBCOMMAND_MODULES = (
    "appion.cli.db",
    "appion.simulation.cli",
    "appion.motioncorrection.cli.standalone",
    "appion.ctfestimation.cli.standalone",
    "appion.cli.pipeline",
    "appion.cli.status",
    "appion.cli.demo",
    "appion.curation.cli",
    "appion.export.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appion",
        description="Near-real-time cryo-EM preprocessing: motion correction and CTF "
                    "estimation, recorded in the classic Appion tables.")
    parser.add_argument("--version", action="version", version=f"appion {appion.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # a step that has not landed yet
        module.register(subparsers)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    configure_logging(args.verbose, args.quiet)
    return args.func(args)


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run_entry_point("appion", _main, argv))


if __name__ == "__main__":
    main()
