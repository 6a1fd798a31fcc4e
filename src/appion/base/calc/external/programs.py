"""Finding the external programs the engines drive (MotionCor2, CTFFIND, Gctf)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from appion.base.errors import EngineConfigError


def find_program(candidates: Sequence[str], *, label: str, option: str) -> str:
    """The full path of the first of ``candidates`` found on ``PATH``.

    ``label`` names the program in the error ("CTFFIND"), ``option`` is the flag
    that chooses another executable ("--ctffind-exe").  A missing program is an
    :class:`~appion.base.errors.EngineConfigError`: no image is worth retrying.
    """
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    wanted = " / ".join(candidates)
    raise EngineConfigError(f"{label} executable {wanted} not found on PATH; install it, "
                            f"give its name with {option}, or use --engine builtin")
