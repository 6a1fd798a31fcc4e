"""Motion correction as a controller step (see :mod:`appion.base.step`).

``prepare`` reads the images' Leginon metadata in bulk and computes, with classic
Appion's rules, each exposure's :class:`MotionCorParameters` and the plan of its
per-reference files (gain, dark, defect map, FmIntFile); it writes nothing.  The
task runs on a worker (:func:`appion.motioncorrection.worker.run_task`) with the
chosen engine (``motioncor2`` by default, as classic; ``motioncor3``; ``builtin``).
``store`` records everything classic Appion recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from appion.base.calc.internal.names import plain_file_name
from appion.base.step import RunContext, RunIds
from appion.motioncorrection import worker
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.calc.internal.display import aligned_output_path
from appion.motioncorrection.calc.internal.references import reference_files, reference_plan
from appion.motioncorrection.contract import (
    MotionCorParameters,
    MotionCorResult,
    MotionCorStepOptions,
    MotionCorTask,
)
from appion.motioncorrection.engines import ENGINES
from appion.motioncorrection.engines.motioncor import build_args
from appion.motioncorrection.retrieve.metadata import find_frames_file, load_image_metadata
from appion.motioncorrection.retrieve.summaries import (
    classic_motion_runs,
    motion_details,
    motion_summaries,
)
from appion.motioncorrection.store.results import done_sources, find_run, save_run, store_aligned


class MotionCorrectionStep:
    """The motion-correction step, built from its typed options."""

    name = "motioncor"
    run_task = staticmethod(worker.run_task)

    def __init__(self, options: MotionCorStepOptions):
        self.options = options
        self._run_ids = RunIds(lambda run: find_run(
            runname=run.runname, rundir=str(run.rundir), session_id=run.session["id"]))
        self._metadata: dict[int, P.ImageMetadata] = {}  # prepared, not yet stored

    # -- run --------------------------------------------------------------------

    def init_run(self, run: RunContext) -> None:
        if not run.writes_rows:
            return
        self._run_ids.remember(run, save_run(
            runname=run.runname, rundir=str(run.rundir), session_id=run.session["id"],
            preset_name=self.options.preset, bin_factor=self.options.motioncor.bin,
            engine=self.options.engine))

    def done_image_ids(self, run: RunContext) -> set[int]:
        run_id = self._run_ids.get(run)
        return done_sources(run_id) if run_id else set()

    def program_check(self) -> Callable[[], object] | None:
        """The worker-side check of the engine's program; none for the built-in engine."""
        if not ENGINES.get_engine(self.options.engine).external:
            return None
        return functools.partial(worker.check_program, self.options.engine,
                                 self.options.executable)

    # -- images -----------------------------------------------------------------

    def prepare(self, run: RunContext, image_ids: Sequence[int]) -> list[MotionCorTask]:
        metadata = load_image_metadata(image_ids)
        tasks = []
        for image_id in image_ids:
            meta = metadata.get(image_id)
            if meta is not None:
                tasks.append(self._task(run, meta))
                self._metadata[image_id] = meta
        return tasks

    def _task(self, run: RunContext, meta: P.ImageMetadata) -> MotionCorTask:
        rundir = str(run.rundir)
        name = plain_file_name(meta.image["filename"], "image file name")
        frame_path = self.options.framepath or meta.session.get("frame_path") or ""
        input_path = find_frames_file(frame_path, name)
        error = None
        frames_missing = input_path is None
        if input_path is None:
            input_path = P.frames_candidates(frame_path, name)[0]
            error = (f"frames file of {name} is missing: none of "
                     f"{frame_path}/{name}.frames.{{mrc,tif,eer}} exists; check the "
                     "session's frame path (or --framepath)")
        plan = reference_plan(meta, self.options.motioncor, rundir, P.input_format(input_path))
        params = P.make_parameters(
            meta, self.options.motioncor, input_path=input_path,
            output_path=aligned_output_path(rundir, name),
            references=reference_files(plan))
        return MotionCorTask(
            image_id=meta.image_id, engine=self.options.engine, params=params,
            image_name=name, rundir=rundir, executable=self.options.executable,
            timeout_s=self.options.timeout_s, error=error, frames_missing=frames_missing,
            references=plan)

    def dry_run_record(self, task: MotionCorTask) -> dict[str, Any]:
        """The JSON line ``--dry-run`` prints for one pending image."""
        record: dict[str, Any] = {"image_id": task.image_id, "engine": task.engine,
                                  "args": build_args(task.params)}
        if task.error:
            record["error"] = task.error
        return record

    def store(self, run: RunContext, result: MotionCorResult) -> list[int]:
        if not run.writes_rows:
            return []
        run_id = self._run_ids.get_or_init(run, self.init_run)
        meta = self._metadata.pop(result.image_id, None)
        if meta is None:  # prepared before a restart
            meta = load_image_metadata([result.image_id])[result.image_id]
        binning = int(meta.camera.get("binning_x") or 1)
        pixel = P.calc_pixel_size(meta.pixel_calibrations, meta.image["def_timestamp"],
                                  binning)
        aligned = store_aligned(
            meta, ddstackrun_id=run_id, aligned_path=result.aligned_path,
            aligned_dw_path=result.aligned_dw_path, shifts_px=result.shifts_px,
            ft_bin=result.ft_bin, bin_factor=self.options.motioncor.bin,
            label=self.options.label, trim=self.options.trim,
            apix=pixel * result.ft_bin if pixel else None)
        return [aligned[-1] if self.options.hand_on_dw else aligned[0]]

    # -- reports (appion.base.step.ReportingStep) -------------------------------

    def summaries(self, run: RunContext, image_ids: Sequence[int]
                  ) -> dict[int, dict[str, Any]]:
        """``{exposure id: {aligned_image_id, aligned_filename, drift_total_a, frames}}``
        of the exposures this run has stored, with ``thumbnail_path`` and
        ``preview_path`` (absolute) where the worker-made images exist
        (:func:`~appion.motioncorrection.retrieve.summaries.motion_summaries`)."""
        run_id = self._run_ids.get(run)
        if run_id is None or not image_ids:
            return {}
        return motion_summaries(run_id, image_ids, prefer_dw=self.options.hand_on_dw,
                                rundir=run.rundir)

    def details(self, run: RunContext, image_id: int) -> dict[str, Any]:
        """Everything about one exposure of this run: ``trajectory_a``, ``files``,
        ``parameters`` (:func:`~appion.motioncorrection.retrieve.summaries.
        motion_details`); ``{}`` when the run has not stored it."""
        run_id = self._run_ids.get(run)
        if run_id is None:
            return {}
        return motion_details(run_id, image_id, rundir=run.rundir,
                              image_path=run.session.get("image_path"))

    def classic_runs(self, session_id: int) -> list[str]:
        """The session's motion-correction runs (``ApDDStackRunData``), oldest first."""
        return classic_motion_runs(session_id)


__all__ = ["MotionCorParameters", "MotionCorTask", "MotionCorrectionStep"]
