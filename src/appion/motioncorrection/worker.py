"""Motion correction on a worker: one task in, sums and logs on disk, a result out.

:func:`run_task` writes the exposure's missing reference files (gain link, dark,
defect map, FmIntFile: each once per reference, atomically, so that workers
sharing a reference may race), runs the task's engine, which writes the sums in
Leginon's orientation, writes the classic ``_st_Log.txt`` and, for ``appion serve``'s
pages, a thumbnail and a preview JPEG of the aligned (non-weighted) sum, whichever
engine made it (:func:`write_display_images`).  Nothing here reaches a database.
"""

from __future__ import annotations

import os

import numpy as np

from appion.base.calc.internal.images import display_images
from appion.base.errors import InputFileError, InputNotReady
from appion.base.files import atomic_path, read_mrc, write_jpeg, write_mrc, write_text
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.calc.internal.display import (
    PREVIEW_PX,
    THUMBNAIL_PX,
    display_paths,
)
from appion.motioncorrection.contract import MotionCorResult, MotionCorTask, ReferencePlan
from appion.motioncorrection.engines import ENGINES


def check_program(engine: str, executable: str | None = None) -> str | None:
    """Once per run, before any movie: ``engine``'s program is there and supported."""
    return ENGINES.get_engine(engine).find_program(executable)


def run_task(task: MotionCorTask) -> MotionCorResult:
    """Run the engine on one exposure; write its references first and its logs after."""
    if task.error:
        raise (InputNotReady if task.frames_missing else InputFileError)(task.error)
    write_references(task.references)
    result = ENGINES.get_engine(task.engine).run(task)
    positions = P.motioncorr_positions(result.shifts_px, result.ft_bin)
    write_text(task.st_log_path, P.motioncorr_log(positions))
    if result.log_path is None and result.log_text:
        write_text(task.raw_log_path, result.log_text)
    write_display_images(result.aligned_path, task.params.output_path)
    return result


def write_display_images(aligned_path: str, named_after: str | None = None
                         ) -> tuple[str, str]:
    """The thumbnail and the preview of the aligned sum at ``aligned_path``, contrast
    stretched, named after ``named_after`` (default: the sum itself,
    :func:`~appion.motioncorrection.calc.internal.display.display_paths`); their paths."""
    data = read_mrc(aligned_path, "aligned sum", "check the motion correction's output")
    image = data[0] if data.ndim == 3 else data
    thumbnail_path, preview_path = display_paths(named_after or aligned_path)
    preview, thumbnail = display_images(image, (PREVIEW_PX, THUMBNAIL_PX))
    write_jpeg(preview_path, preview)
    write_jpeg(thumbnail_path, thumbnail)
    return thumbnail_path, preview_path


def write_references(plan: ReferencePlan) -> None:
    """Write whichever reference files of ``plan`` do not exist yet (InputFileError for a
    bad reference)."""
    if plan.gain_path and not os.path.exists(plan.gain_path):
        _link_gain(plan.gain_path, plan.gain_source)
    if plan.dark_path and not os.path.exists(plan.dark_path):
        write_mrc(plan.dark_path, P.dark_per_frame(_dark(plan), plan.dark_nframes, plan.shape))
    if plan.defect_map_path and not os.path.exists(plan.defect_map_path):
        mask = P.defect_map(plan.shape, plan.bad_rows, plan.bad_cols, plan.bad_pixels,
                            plan.rot_gain, plan.flip_gain)
        write_mrc(plan.defect_map_path, mask)
    if plan.fmintfile_path and not os.path.exists(plan.fmintfile_path):
        write_text(plan.fmintfile_path, plan.fmintfile_text)


def _link_gain(path: str, source: str | None) -> None:
    if not source or not os.path.isfile(source):
        raise InputFileError(f"gain reference {source} is missing; check the norm "
                             "reference of the session")
    with atomic_path(path) as temporary:
        os.symlink(os.path.abspath(source), temporary)


def _dark(plan: ReferencePlan) -> np.ndarray | None:
    """The dark reference image, or ``None`` (zeros) when the exposure has none."""
    if plan.dark_problem:
        raise InputFileError(plan.dark_problem)
    if not plan.dark_source:
        return None
    if not os.path.isfile(plan.dark_source):
        raise InputFileError(f"dark reference {plan.dark_source} is missing; check "
                             "the dark reference of the session")
    return read_mrc(plan.dark_source, "dark reference")


__all__ = ["check_program", "run_task", "write_display_images", "write_references"]
