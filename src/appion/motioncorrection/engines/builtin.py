"""The built-in engine: Appion's own motion correction, on the CPU (no external program)."""

from __future__ import annotations

from appion.base.engine import Engine
from appion.motioncorrection.contract import MotionCorParameters, MotionCorResult, MotionCorTask
from appion.motioncorrection.engines.builtin_engine import run_builtin
from appion.motioncorrection.engines.motioncor import check_inputs


class Builtin(Engine[MotionCorTask, MotionCorResult]):
    """MotionCor2's job in Python (:mod:`appion.motioncorrection.engines.builtin_engine`)."""

    name = "builtin"
    label = "the built-in engine"

    def run(self, task: MotionCorTask) -> MotionCorResult:
        """The task's sums, written once in Leginon's orientation."""
        check_inputs(task.params)
        return self.correct(task.params, image_id=task.image_id, leginon_orientation=True)

    def correct(self, params: MotionCorParameters, *, image_id: int = 0, device: str = "cpu",
                threads: int | None = None, leginon_orientation: bool = False
                ) -> MotionCorResult:
        """One movie as ``params`` says (``appion motioncor`` keeps the frames' orientation)."""
        return run_builtin(params, image_id=image_id, device=device, threads=threads,
                           leginon_orientation=leginon_orientation)
