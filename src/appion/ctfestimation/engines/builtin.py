"""The built-in engine: the pure NumPy estimator of :mod:`..calc.internal.estimator`."""

from __future__ import annotations

import numpy as np

from appion.ctfestimation.calc.internal.estimator import (
    Estimate,
    estimate_from_spectrum,
)
from appion.ctfestimation.contract import CtfTask, EngineOutput
from appion.ctfestimation.engines.base import CtfEngine


class Builtin(CtfEngine):
    """CTFFIND's method in NumPy/SciPy, no external program."""

    name = "builtin"

    def estimate(self, task: CtfTask, amplitude: np.ndarray
                 ) -> tuple[EngineOutput | None, Estimate]:
        return None, estimate_from_spectrum(amplitude, task.search)


__all__ = ["Builtin"]
