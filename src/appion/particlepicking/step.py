"""Particle picking as a controller step (see :mod:`appion.base.step`).

``prepare`` reads the micrographs' files and pixel sizes in bulk (no file is
written); ``run_task`` is :func:`appion.particlepicking.worker.run_task`; ``store``
writes the image's ``ApParticleData`` rows, idempotently
(:mod:`appion.particlepicking.store.results`).  Picking is the last step of a chain:
``store`` hands nothing on.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from appion.base.errors import AppionError
from appion.base.retrieve.micrographs import load_micrographs
from appion.base.step import RunContext, RunIds
from appion.particlepicking import worker
from appion.particlepicking.contract import PickOptions, PickResult, PickTask
from appion.particlepicking.engines import ENGINES
from appion.particlepicking.retrieve.summaries import (
    classic_pick_runs,
    pick_details,
    pick_summaries,
    picking_tables_exist,
)
from appion.particlepicking.store import results

log = logging.getLogger(__name__)


def _find_run_id(run: RunContext) -> int | None:
    found = results.find_run(run.runname, run.session["id"])
    return int(found["id"]) if found else None


class PickStep:
    """The particle-picking step of one run, built from its typed options."""

    name = "pick"
    run_task = staticmethod(worker.run_task)

    def __init__(self, options: PickOptions):
        self.options = options
        self._run_ids = RunIds(_find_run_id)

    def init_run(self, run: RunContext) -> None:
        """The run's parameter, path and ``ApSelectionRunData`` rows (nothing without
        ``writes_rows``)."""
        if not run.writes_rows:
            return
        self._run_ids.remember(run, results.save_run(
            runname=run.runname, rundir=str(run.rundir), session_id=run.session["id"],
            options=self.options))

    def done_image_ids(self, run: RunContext) -> set[int]:
        run_id = self._run_ids.get(run)
        return results.done_images(run_id, run.rundir) if run_id else set()

    def prepare(self, run: RunContext, image_ids: Sequence[int]) -> list[PickTask]:
        """One task per micrograph on disk; writes nothing."""
        infos = load_micrographs(image_ids)
        tasks = []
        for image_id in image_ids:
            info = infos.get(image_id)
            if info is None:
                continue
            if not os.path.isfile(info.path):
                log.info("image %s: %s not there yet", image_id, info.path)
                continue  # classic: skipped, not marked done
            if info.pixel_size_a is None:
                raise AppionError(f"image {info.filename} has no pixel size in the Leginon "
                                  "database; cannot convert --diam to pixels")
            tasks.append(PickTask(
                image_id=image_id, engine=self.options.engine, micrograph_path=info.path,
                pixel_size_a=info.pixel_size_a, options=self.options,
                output_dir=str(run.rundir), name=info.filename))
        return tasks

    def program_check(self) -> Callable[[], object] | None:
        """A picklable check of the engine's program (``None`` for an engine in Python)."""
        if not ENGINES.get_engine(self.options.engine).external:
            return None
        return functools.partial(worker.check_program, self.options.engine,
                                 self.options.executable)

    def dry_run_record(self, task: PickTask) -> dict[str, Any]:
        """The JSON line ``--dry-run`` prints for one pending image."""
        record: dict[str, Any] = {
            "image_id": task.image_id, "engine": task.engine,
            "micrograph": task.micrograph_path, "pixel_size_a": round(task.pixel_size_a, 4),
            "diameter_px": round(task.options.dog.diameter_a / task.pixel_size_a, 2)}
        if task.engine == "dog":
            record["dog"] = asdict(task.options.dog)
        else:
            record.update(model=task.options.topaz_model,
                          threshold=task.options.topaz_threshold, device=task.options.device)
        return record

    def store(self, run: RunContext, result: PickResult) -> list[int]:
        """The image's particles (``ApParticleData``); nothing for a following step."""
        if not run.writes_rows:
            return []
        run_id = self._run_ids.get_or_init(run, self.init_run)
        count = results.store_particles(run_id, run.rundir, result, self.options.label)
        log.info("image %d: %d particle(s) stored", result.image_id, count)
        return []

    # -- reports (appion.base.step.ReportingStep) -------------------------------

    def summaries(self, run: RunContext, image_ids: Sequence[int]
                  ) -> dict[int, dict[str, Any]]:
        """``{micrograph id: {"particles": count}}`` of the micrographs this run has
        picked (:func:`~appion.particlepicking.retrieve.summaries.pick_summaries`)."""
        if not image_ids or not picking_tables_exist():
            return {}
        run_id = self._run_ids.get(run)
        if run_id is None:
            return {}
        return pick_summaries(run_id, run.rundir, image_ids)

    def details(self, run: RunContext, image_id: int) -> dict[str, Any]:
        """Everything about one micrograph of this run: ``particles``, ``parameters``
        (:func:`~appion.particlepicking.retrieve.summaries.pick_details`); ``{}`` when
        the run has not picked it."""
        if not picking_tables_exist():
            return {}
        run_id = self._run_ids.get(run)
        if run_id is None:
            return {}
        return pick_details(run_id, run.rundir, image_id)

    def classic_runs(self, session_id: int) -> list[str]:
        """The session's picking runs (``ApSelectionRunData``), oldest first."""
        return classic_pick_runs(session_id)


__all__ = ["PickStep"]
