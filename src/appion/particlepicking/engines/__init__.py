"""The particle-picking engines, by the name the ``--engine`` flag gives them."""

from __future__ import annotations

from appion.base.engine import EngineRegistry
from appion.particlepicking.engines.dog import Dog
from appion.particlepicking.engines.topaz import Topaz

ENGINES = EngineRegistry("particle picking", Dog(), Topaz(), flag="--engine")

__all__ = ["ENGINES"]
