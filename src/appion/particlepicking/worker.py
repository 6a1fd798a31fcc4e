"""The picking step on a Dask worker: one micrograph in, its particles out.

:func:`run_task` runs the task's engine (``dog`` or ``topaz``, from
:data:`.engines.ENGINES`), which reads the micrograph once and fails its image with
one line when it is not a usable image (NaN/Inf pixels, one value everywhere), and
checks the engine's answer: every particle finite and on the
micrograph.  It writes nothing itself (an engine may write diagnostics under the
task's ``output_dir``).  This module never imports ``sinedon`` or Django.
"""

from __future__ import annotations

import math

from appion.base.errors import AppionError
from appion.base.files import read_mrc_shape
from appion.particlepicking.contract import PickResult, PickTask
from appion.particlepicking.engines import ENGINES
from appion.particlepicking.engines.micrograph import PICK_HINT, read_micrograph


def check_program(engine: str, executable: str | None) -> str | None:
    """The path of ``engine``'s program (``None`` for an engine in Python); an
    :class:`~appion.base.errors.EngineConfigError` when it is missing or too old."""
    return ENGINES.get_engine(engine).find_program(executable)


def check_result(result: PickResult, task: PickTask, shape: tuple[int, ...]) -> PickResult:
    """The engine's answer, refused (one line, not retried) when a particle is not finite
    or lies off the micrograph, or the answer is for another image."""
    if result.image_id != task.image_id:
        raise AppionError(f"the {task.engine} engine answered for image {result.image_id} "
                          f"instead of {task.image_id}")
    height, width = shape[-2], shape[-1]
    for pick in result.picks:
        values = (pick.x, pick.y, pick.score, pick.diameter_a)
        if not all(math.isfinite(value) for value in values):
            raise AppionError(f"the {task.engine} engine gave a particle of {task.name} with "
                              f"a value that is not finite ({values}); {PICK_HINT}")
        if not (0 <= pick.x < width and 0 <= pick.y < height):
            raise AppionError(f"the {task.engine} engine gave a particle of {task.name} at "
                              f"({pick.x:.1f}, {pick.y:.1f}), off the {width}×{height} "
                              f"micrograph; {PICK_HINT}")
    return result


def run_task(task: PickTask) -> PickResult:
    """Pick one micrograph with its task's engine; no database."""
    result = ENGINES.get_engine(task.engine).run(task)
    shape = read_mrc_shape(task.micrograph_path)
    if shape is None:  # read by the engine a moment ago: the file went away since
        raise AppionError(f"micrograph {task.micrograph_path} cannot be read any more; "
                          "check the file system")
    return check_result(result, task, shape)


__all__ = ["check_program", "check_result", "read_micrograph", "run_task"]
