"""The CTF engines, by the name the ``--engine`` flag gives them."""

from __future__ import annotations

from typing import cast

from appion.base.engine import EngineRegistry
from appion.ctfestimation.engines.base import CtfEngine
from appion.ctfestimation.engines.builtin import Builtin
from appion.ctfestimation.engines.ctffind import Ctffind
from appion.ctfestimation.engines.gctf import Gctf

ENGINES = EngineRegistry("CTF estimation", Builtin(), Ctffind(), Gctf())


def get_engine(name: str) -> CtfEngine:
    """The CTF engine called ``name`` (a one-line UsageError when unknown)."""
    return cast(CtfEngine, ENGINES.get_engine(name))


__all__ = ["ENGINES", "get_engine"]
