"""The ``appion`` command: one entry point with subcommands.

The application's own commands live in modules exposing ``register(subparsers)``,
which adds a parser and sets ``func`` to a callable taking the parsed arguments and
returning an exit status; each installed step plug-in
(:func:`appion.base.plugins.step_plugins`) adds its own commands with
``add_commands(subparsers)``.  Heavy imports stay inside those callables so that
``appion --help`` and ``appion --version`` are fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import appion
from appion.cli.entry import configure_logging, run_entry_point

#: The application's commands listed before the steps' own in ``--help``.
LEADING_MODULES = ("appion.cli.db", "appion.simulation.cli")
#: The application's commands listed after the steps' own.
TRAILING_MODULES = ("appion.cli.pipeline", "appion.cli.serve", "appion.cli.status",
                    "appion.cli.demo",
                    "appion.curation.cli", "appion.export.cli")
#: Every module that registers an application command.
SUBCOMMAND_MODULES = LEADING_MODULES + TRAILING_MODULES


def _register(subparsers, module_names: Sequence[str]) -> None:
    for module_name in module_names:
        importlib.import_module(module_name).register(subparsers)


def _add_step_commands(subparsers) -> None:
    from appion.base.plugins import step_plugin
    from appion.cli.pipeline import installed_steps
    for name in installed_steps():
        plugin = step_plugin(name)
        if plugin.add_commands is not None:
            plugin.add_commands(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appion",
        description="Near-real-time cryo-EM preprocessing: motion correction, CTF "
                    "estimation and particle picking, recorded in the classic Appion "
                    "tables.")
    parser.add_argument("--version", action="version", version=f"appion {appion.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register(subparsers, LEADING_MODULES)
    _add_step_commands(subparsers)
    _register(subparsers, TRAILING_MODULES)
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
