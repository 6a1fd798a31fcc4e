"""The motion-correction engines, by the name the ``--engine`` flag gives them."""

from __future__ import annotations

from appion.base.engine import EngineRegistry
from appion.motioncorrection.engines.builtin import Builtin
from appion.motioncorrection.engines.motioncor import MotionCor2, MotionCor3

#: In the order ``--engine`` lists them.
ENGINES = EngineRegistry("motion correction", Builtin(), MotionCor2(), MotionCor3())

__all__ = ["ENGINES"]
