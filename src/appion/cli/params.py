"""The classic ``ScriptParamValue`` usages of a parsed command line.

Computed at the command line and handed to :func:`appion.base.run.prepare_run` as
plain :class:`~appion.base.store.provenance.ParamUsage` values.
"""

from __future__ import annotations

import argparse
from typing import Any

from appion.base.store.provenance import ParamUsage


def _long_flag(action: argparse.Action) -> str:
    return next((flag for flag in action.option_strings if flag.startswith("--")),
                action.option_strings[0])


def _flag_usage(actions: list[argparse.Action], value: Any) -> str | None:
    """Usage of a flag without argument: the option whose constant is ``value``."""
    for action in actions:
        if action.nargs == 0 and getattr(action, "const", None) is not None \
                and action.const == value:
            return _long_flag(action)
    return None


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def param_usages(options: argparse.Namespace, parser: argparse.ArgumentParser | None = None
                 ) -> list[ParamUsage]:
    """The classic usage of every parameter set on the command line or by default.

    With the parser, usages use the real flags (``dest`` ``sessionname`` →
    ``--session=x``; ``commit`` False → ``--no-commit``).  Without it, ``--<dest>=value``
    and ``--<dest>`` for a true flag.  Parameters with no value or no flag are skipped,
    as classic does.
    """
    values = {name: value for name, value in sorted(vars(options).items())
              if value is not None and not name.startswith("_")}
    if parser is None:
        return [ParamUsage(name, _value_text(value),
                           f"--{name}" if value is True else f"--{name}={_value_text(value)}")
                for name, value in values.items() if value is not False]
    by_dest: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:  # argparse exposes no public list of actions
        if action.option_strings and action.dest != argparse.SUPPRESS \
                and not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            by_dest.setdefault(action.dest, []).append(action)
    usages = []
    for name, value in values.items():
        actions = by_dest.get(name)
        if not actions:
            continue
        if all(action.nargs == 0 for action in actions):
            usage = _flag_usage(actions, value)
        else:
            flag = _long_flag(next(action for action in actions if action.nargs != 0))
            usage = f"{flag}={_value_text(value)}"
        if usage is not None:
            usages.append(ParamUsage(name, _value_text(value), usage))
    return usages


__all__ = ["param_usages"]
