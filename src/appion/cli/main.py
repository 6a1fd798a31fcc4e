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

#: The application's commands listed before the steps' own in ``--help``, and their modules.
LEADING_COMMANDS = {"db": "appion.cli.db", "simulate": "appion.simulation.cli"}
#: The application's commands listed after the steps' own.
TRAILING_COMMANDS = {"pipeline": "appion.cli.pipeline", "serve": "appion.cli.serve",
                     "status": "appion.cli.status", "demo": "appion.cli.demo",
                     "curate": "appion.curation.cli", "export": "appion.export.cli"}


def _register(subparsers, commands: dict[str, str], wanted: str | None) -> None:
    for command, module_name in commands.items():
        if wanted in (None, command):
            importlib.import_module(module_name).register(subparsers)


def _add_step_commands(subparsers, wanted: str | None) -> None:
    from appion.base.plugins import step_plugin
    from appion.cli.pipeline import installed_steps
    for name in installed_steps():
        plugin = step_plugin(name)
        if plugin.add_commands is not None and wanted in (None, *plugin.commands):
            plugin.add_commands(subparsers)


def _known_commands() -> set[str]:
    from appion.base.plugins import step_plugins
    steps = {command for plugin in step_plugins().values() for command in plugin.commands}
    return set(LEADING_COMMANDS) | set(TRAILING_COMMANDS) | steps


def command_name(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` runs, when it names one (the first word not an option)."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in _known_commands() else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``appion`` parser; with ``command``, only that subcommand's module is imported
    (a command's start-up then costs only what it uses)."""
    parser = argparse.ArgumentParser(
        prog="appion",
        description="Near-real-time cryo-EM preprocessing: motion correction, CTF "
                    "estimation and particle picking, recorded in the classic Appion "
                    "tables.")
    parser.add_argument("--version", action="version", version=f"appion {appion.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register(subparsers, LEADING_COMMANDS, command)
    _add_step_commands(subparsers, command)
    _register(subparsers, TRAILING_COMMANDS, command)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_name(words))
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    configure_logging(args.verbose, args.quiet)
    return args.func(args)


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run_entry_point("appion", _main, argv))


if __name__ == "__main__":
    main()
