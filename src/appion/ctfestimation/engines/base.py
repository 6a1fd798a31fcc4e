"""What the CTF engines share: a fit of the micrograph's amplitude spectrum.

Every engine answers :meth:`CtfEngine.estimate`: the engine's own output (``None``
for the built-in estimator) and the fit evaluated on the micrograph's own spectrum,
which the worker scores and draws the same way whichever engine ran.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from appion.base.engine import Engine
from appion.base.files import atomic_path
from appion.ctfestimation.calc.internal.estimator import Estimate, evaluate_fit
from appion.ctfestimation.contract import CtfTask, EngineOutput


class CtfEngine(Engine[CtfTask, EngineOutput]):
    """A CTF engine: a fit of one task's amplitude spectrum."""

    def estimate(self, task: CtfTask, amplitude: np.ndarray
                 ) -> tuple[EngineOutput | None, Estimate]:
        """The engine's own output (``None`` when it has none) and the evaluated fit."""
        raise NotImplementedError(f"engine {self.name} does not estimate")


class ExternalEngine(CtfEngine):
    """An engine that runs a program on the micrograph and reports its fit."""

    def estimate(self, task: CtfTask, amplitude: np.ndarray
                 ) -> tuple[EngineOutput | None, Estimate]:
        output = self.run(link_input(task))
        return output, evaluate_fit(amplitude, output.fit, task.search)


def link_input(task: CtfTask) -> CtfTask:
    """Classic: the program reads ``<rundir>/<name>.mrc``, a symlink to the micrograph."""
    link = Path(task.output_dir) / f"{task.name}.mrc"
    if os.path.realpath(link) != os.path.realpath(task.micrograph_path):
        with atomic_path(link) as temporary:
            os.symlink(os.path.abspath(task.micrograph_path), temporary)
    return replace(task, micrograph_path=link.name)


__all__ = ["CtfEngine", "ExternalEngine", "link_input"]
