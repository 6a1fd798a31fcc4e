"""Steps plug in through the ``appion.steps`` entry-point group.

A step's distribution declares, in its ``pyproject.toml``::

    [project.entry-points."appion.steps"]
    motioncor = "appion.motioncorrection.cli:PLUGIN"

and the object named there is a :class:`StepPlugin`: the step's name, its flags, how
the flags become the step (through the step's typed options), the ``appion``
subcommands it adds and the classic drop-ins it serves.  ``appion pipeline --steps``,
``appion --help`` and the classic console scripts find steps here, so a new step
plugs in without an edit of ``appion.base`` or ``appion.cli``.

The plug-in object lives in the step's command-line package and imports the rest
of the step only when a step is built, so listing the steps stays cheap.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from appion.base.errors import UsageError
from appion.base.step import Step

if TYPE_CHECKING:  # the plug-in's own command line; base never parses flags
    from argparse import Namespace

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "appion.steps"


@dataclass(frozen=True)
class ClassicProgram:
    """A classic console script (``makeDDAlignMotionCor2_UCSF.py``) that runs one step."""

    prog: str
    procdir: str  # classic's processing folder under the session's appion path
    description: str
    dry_run_help: str
    reprocess: bool = True  # classic DD loops drop --reprocess and --uncorrected
    #: keyword arguments of the step's ``add_options`` for this program
    option_kwargs: dict[str, Any] = field(default_factory=dict)
    #: classic's forced values, applied to the parsed flags before the step is built
    adjust_options: Callable[[Namespace], None] | None = None


@dataclass(frozen=True)
class StepPlugin:
    """What ``appion`` needs to know of a step to offer it on the command line.

    ``add_options(parser, pipeline=..., **option_kwargs)`` adds the step's flags
    (``pipeline=True`` in ``appion pipeline``, where flags shared by several steps,
    such as ``--engine``, get step-specific names); ``make_step(namespace)`` turns
    the parsed flags into the step's typed options and builds the step (a one-line
    :class:`~appion.base.errors.UsageError` for bad values); ``add_commands``
    (optional) adds the ``appion`` subcommands named in ``commands``.
    """

    name: str
    summary: str
    add_options: Callable[..., None]
    make_step: Callable[[Namespace], Step]
    add_commands: Callable[[Any], None] | None = None
    #: the ``appion`` subcommands ``add_commands`` adds (so that running one of them
    #: imports only its step)
    commands: tuple[str, ...] = ()
    classic_programs: tuple[ClassicProgram, ...] = ()


@functools.cache
def step_plugins() -> dict[str, StepPlugin]:
    """Every installed step, by name, in entry-point order."""
    found: dict[str, StepPlugin] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in found:
            continue  # the first installation of a name wins
        plugin = point.load()
        if not isinstance(plugin, StepPlugin) or plugin.name != point.name:
            raise TypeError(f"entry point {point.name} = {point.value} of group "
                            f"{ENTRY_POINT_GROUP} is not a StepPlugin named {point.name}")
        found[point.name] = plugin
    return found


def step_plugin(name: str) -> StepPlugin:
    """The installed step called ``name``; a one-line error naming the others."""
    plugins = step_plugins()
    if name not in plugins:
        raise UsageError(f"unknown step {name!r}; choose from {', '.join(plugins)}, "
                         "e.g. --steps motioncor,ctf")
    return plugins[name]


def classic_program(prog: str) -> tuple[StepPlugin, ClassicProgram]:
    """The step serving the classic console script ``prog``, and its description."""
    for plugin in step_plugins().values():
        for program in plugin.classic_programs:
            if program.prog == prog:
                return plugin, program
    raise UsageError(f"no installed step serves {prog}; reinstall appion")


__all__ = ["ENTRY_POINT_GROUP", "ClassicProgram", "StepPlugin", "classic_program",
           "step_plugin", "step_plugins"]
