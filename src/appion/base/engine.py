"""The engine contract: each step's engines declare only what differs between them.

An engine turns one of its step's tasks into that step's result on a worker
(``run(task) -> result``), and never touches a database.  It declares its ``name``
(the value of the step's ``--engine`` flag), the ``program`` it drives (the usual
executable names; none for an engine written in Python), the option that names
another executable, and the oldest ``version_floor`` it supports; the finding and
version check of the program are inherited, as dask-jobqueue's cluster classes
inherit everything but what differs between schedulers.

Each step keeps its engines in one :class:`EngineRegistry`, which the step's flags
offer as choices, the controller's start-up check asks for their programs and the
worker asks for the engine of a task::

    ENGINES = EngineRegistry("motion correction", MotionCor2(), MotionCor3(), Builtin())
    ENGINES.get_engine(task.engine).run(task)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from appion.base.calc.external.programs import find_program
from appion.base.errors import EngineConfigError, UsageError

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")


class Engine(Generic[TaskT, ResultT]):
    """One way to run a step's task: a Python implementation or an external program."""

    #: The value of the step's ``--engine`` flag.
    name: ClassVar[str]
    #: The program's usual executable names, tried in order on ``PATH``; empty for an
    #: engine that runs in Python.
    program: ClassVar[tuple[str, ...]] = ()
    #: What the program is called in messages ("MotionCor2").
    label: ClassVar[str] = ""
    #: The flag that names another executable ("--motioncor-exe").
    executable_option: ClassVar[str] = ""
    #: The oldest supported version of the program, or ``None`` when any will do.
    version_floor: ClassVar[tuple[int, ...] | None] = None

    @property
    def external(self) -> bool:
        """Whether this engine drives an external program."""
        return bool(self.program)

    def find_program(self, executable: str | None = None) -> str | None:
        """The path of the program to run (``executable``, else the usual names), checked
        against :attr:`version_floor`; ``None`` for an engine that runs in Python.

        Raises :class:`~appion.base.errors.EngineConfigError` when it is missing or too old.
        """
        if not self.external:
            return None
        path = find_program([executable] if executable else list(self.program),
                            label=self.label or self.name, option=self.executable_option)
        self.check_version(path)
        return path

    def check_version(self, path: str) -> None:
        """Raise :class:`~appion.base.errors.EngineConfigError` when the program at
        ``path`` is older than :attr:`version_floor` (engines that can tell their
        version override :meth:`installed_version`)."""
        if self.version_floor is None:
            return
        version = self.installed_version(path)
        if version is not None and tuple(version) < tuple(self.version_floor):
            found = ".".join(map(str, version))
            floor = ".".join(map(str, self.version_floor))
            raise EngineConfigError(f"{path} is {self.label or self.name} {found}; version "
                                    f"{floor} or newer is needed; install it or choose "
                                    "another --engine")

    def installed_version(self, path: str) -> tuple[int, ...] | None:
        """The version of the program at ``path``; ``None`` when it cannot tell."""
        return None

    def run(self, task: TaskT) -> ResultT:
        """The result of ``task``, computed on a worker (files in, files and a frozen
        result out; no database)."""
        raise NotImplementedError(f"engine {self.name} does not run tasks")


class EngineRegistry(Mapping[str, "Engine[Any, Any]"]):
    """A step's engines by name, in the order its ``--engine`` flag lists them."""

    def __init__(self, step: str, *engines: Engine[Any, Any], flag: str = "--engine"):
        self.step = step
        self.flag = flag
        self._engines = {engine.name: engine for engine in engines}
        if len(self._engines) != len(engines):
            raise ValueError(f"two engines of {step} share a name")

    def __getitem__(self, name: str) -> Engine[Any, Any]:
        return self._engines[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._engines)

    def __len__(self) -> int:
        return len(self._engines)

    @property
    def names(self) -> Sequence[str]:
        return tuple(self._engines)

    def get_engine(self, name: str) -> Engine[Any, Any]:
        """The engine called ``name``; an unknown name is a one-line
        :class:`~appion.base.errors.UsageError` listing the choices."""
        try:
            return self._engines[name]
        except KeyError:
            raise UsageError(f"{self.flag} {name} is unknown for {self.step}; use one of "
                             f"{', '.join(self._engines)}") from None


__all__ = ["Engine", "EngineRegistry"]
