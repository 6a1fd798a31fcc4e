"""CTF estimation as a controller step (see :mod:`appion.base.step`).

``prepare`` reads the micrographs' optics and earlier CTFs in bulk and applies
classic ``ctffind4.py`` / ``gctf.py`` rules (search centre, range, ``--bestdb``);
``run_task`` is :func:`appion.ctfestimation.worker.run_task`; ``store`` writes
``ApCtfData``.  The run's id and the spectrum box it stores are kept on the step.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from appion.base.errors import AppionError
from appion.base.step import RunContext, RunIds
from appion.ctfestimation import worker
from appion.ctfestimation.calc.internal import classic
from appion.ctfestimation.contract import (
    CtfOptions,
    CtfResult,
    CtfTask,
    GctfOptions,
    SearchParameters,
)
from appion.ctfestimation.engines import ENGINES
from appion.ctfestimation.retrieve import metadata
from appion.ctfestimation.retrieve.summaries import (
    classic_ctf_runs,
    ctf_details,
    ctf_summaries,
)
from appion.ctfestimation.store import results

log = logging.getLogger(__name__)


def params_row(options: CtfOptions, cs_mm: float | None) -> dict[str, Any]:
    """The run's ``ApCtfFind4ParamsData`` row, as classic ``ctffind4.py`` and ``gctf.py``
    store it (Gctf adds ``local_refine``; its other flags have no column)."""
    phase = {"shift_phase": options.phaseplate,
             "min_phase_shift": options.min_phase_shift_deg if options.phaseplate else None,
             "max_phase_shift": options.max_phase_shift_deg if options.phaseplate else None,
             "phase_search_step": options.phase_step_deg if options.phaseplate else None}
    row = {"ampcontrast": options.ampcontrast, "fieldsize": options.fieldsize,
           "cs": cs_mm, "bestdb": options.bestdb, "resmin": options.resmin,
           "defstep": options.defstep_um, **phase}
    if options.engine == "gctf":
        row["local_refine"] = bool((options.gctf or GctfOptions()).local_refine)
    return row


def search_for_image(options: CtfOptions, pixel_size_a: float, kv: float, cs_mm: float,
                     scope_defocus_m: float | None, prior: classic.PriorCtf | None
                     ) -> tuple[SearchParameters, float]:
    """Classic search parameters of one image, and its search centre (Å)."""
    center = classic.search_center_a(options.nominal_um, prior, scope_defocus_m)
    defocus_min, defocus_max = classic.defocus_range_a(center, options.defstep_um,
                                                       options.numstep)
    dast_um = options.dast_um * 1e-4 if options.dast_is_angstrom else options.dast_um
    choice = classic.apply_bestdb(prior if options.bestdb else None, options.ampcontrast,
                                  dast_um, options.resmin, options.resmax)
    resmax = max(choice.resmax, 2.05 * pixel_size_a)
    search = SearchParameters(
        pixel_size_a=pixel_size_a, kv=kv, cs_mm=cs_mm,
        amplitude_contrast=choice.amplitude_contrast, box=options.fieldsize,
        resmin_a=options.resmin, resmax_a=resmax, defocus_min_a=defocus_min,
        defocus_max_a=defocus_max, defocus_step_a=options.defstep_um * classic.UM_TO_A,
        expected_astigmatism_a=choice.expected_astigmatism_a,
        find_phase_shift=options.phaseplate,
        phase_min_rad=math.radians(options.min_phase_shift_deg),
        phase_max_rad=math.radians(options.max_phase_shift_deg),
        phase_step_rad=math.radians(options.phase_step_deg), exhaustive=options.exhaust)
    return search, center


def prior_from_row(row: dict[str, Any] | None) -> classic.PriorCtf | None:
    """An ``ApCtfData`` row as the prior estimate classic's search starts from."""
    if row is None or row.get("defocus1") is None or row.get("defocus2") is None:
        return None
    return classic.PriorCtf(defocus1_m=row["defocus1"], defocus2_m=row["defocus2"],
                            amplitude_contrast=row.get("amplitude_contrast"),
                            resolution_80_percent=row.get("resolution_80_percent"),
                            resolution_50_percent=row.get("resolution_50_percent"),
                            confidence=row.get("confidence"))


def missing_optics(info: metadata.CtfImageInfo) -> list[str]:
    """The optics Leginon did not record for an image."""
    return [name for name, value in (("pixel size", info.pixel_size_a),
                                     ("high tension", info.kv), ("Cs", info.cs_mm))
            if value is None]


def _find_run_id(run: RunContext) -> int | None:
    found = results.find_run(run.runname, run.session["id"])
    return int(found["id"]) if found else None


class CtfStep:
    """The CTF-estimation step of one run, built from its typed options."""

    name = "ctf"
    run_task = staticmethod(worker.run_task)

    def __init__(self, options: CtfOptions):
        self.options = options
        self._run_ids = RunIds(_find_run_id)
        self._fieldsize_used: dict[tuple[str, int], int] = {}

    def init_run(self, run: RunContext) -> None:
        """The run's parameter and ``ApAceRunData`` rows (nothing without ``writes_rows``).

        The parameter row holds the microscope's Cs, which a session knows only from its
        first exposure: before it, nothing is written, and the first result's store
        writes the rows (:meth:`RunIds.get_or_init`), as classic writes them with its
        first image.  Written earlier with no Cs, the same command started again later
        would be refused as a run with other parameters.
        """
        if not run.writes_rows:
            return
        cs_mm = metadata.session_cs_mm(run.session["id"])
        if cs_mm is None:
            return
        run_id = results.save_run(runname=run.runname, rundir=str(run.rundir),
                                  session_id=run.session["id"],
                                  params=params_row(self.options, cs_mm))
        self._run_ids.remember(run, run_id)
        stored = results.run_fieldsize(run_id)
        self._fieldsize_used[RunIds.key(run)] = stored or self.options.fieldsize

    def done_image_ids(self, run: RunContext) -> set[int]:
        """Images this run stored; with ``--reprocess X`` also those whose best score is above X."""
        run_id = self._run_ids.get(run)
        done = results.done_images(run_id) if run_id else set()
        if self.options.reprocess is not None:
            done |= self._good_enough(run)
        return done

    def _good_enough(self, run: RunContext) -> set[int]:
        image_ids = metadata.session_image_ids(run.session["id"])
        keep = set()
        for image_id, rows in metadata.prior_ctfs(image_ids).items():
            best = classic.best_prior(rows)
            score = (classic.classic_confidence(best)
                     if best and best.get("confidence") is not None else None)
            if not classic.should_reprocess(score, self.options.reprocess):
                keep.add(image_id)
        return keep

    def prepare(self, run: RunContext, image_ids: Sequence[int]) -> list[CtfTask]:
        """One task per micrograph on disk, with its classic search; writes nothing."""
        infos = metadata.load_ctf_metadata(image_ids)
        priors = (metadata.prior_ctfs(image_ids)
                  if self.options.nominal_um is None or self.options.bestdb else {})
        tasks = []
        for image_id in image_ids:
            info = infos.get(image_id)
            if info is None:
                continue
            if not os.path.isfile(info.path):
                log.info("image %s: %s not there yet", image_id, info.path)
                continue  # classic: skipped, not marked done
            prior = prior_from_row(classic.best_prior(priors.get(image_id, [])))
            tasks.append(self._task(run, info, prior))
        return tasks

    def _task(self, run: RunContext, info: metadata.CtfImageInfo,
              prior: classic.PriorCtf | None) -> CtfTask:
        missing = missing_optics(info)
        if missing:
            raise AppionError(f"image {info.filename} has no {', '.join(missing)} in the "
                              "Leginon database; cannot estimate its CTF")
        pixel_size_a, kv, cs_mm = info.pixel_size_a, info.kv, info.cs_mm
        assert pixel_size_a is not None and kv is not None and cs_mm is not None  # not missing
        try:
            search, center = search_for_image(self.options, pixel_size_a, kv, cs_mm,
                                              info.scope_defocus_m, prior)
            search.check()
        except ValueError as error:
            raise AppionError(f"image {info.filename}: {error}") from None
        return CtfTask(image_id=info.image_id, engine=self.options.engine,
                       micrograph_path=info.path, output_dir=str(run.rundir),
                       name=info.filename, search=search, defocus_init_a=center,
                       executable=self.options.executable, gctf=self.options.gctf,
                       timeout_s=self.options.timeout_s)

    def program_check(self) -> Callable[[], object] | None:
        """A picklable check of the engine's program (``None`` for the built-in engine)."""
        if not ENGINES.get_engine(self.options.engine).external:
            return None
        return functools.partial(worker.check_program, self.options.engine,
                                 self.options.executable)

    def dry_run_record(self, task: CtfTask) -> dict[str, Any]:
        """The JSON line ``--dry-run`` prints for one pending image."""
        return {"image_id": task.image_id, "engine": task.engine,
                "micrograph": task.micrograph_path,
                "defocus_init_a": round(task.defocus_init_a, 1),
                "search": {key: (round(value, 6) if isinstance(value, float) else value)
                           for key, value in task.search.__dict__.items()}}

    def store(self, run: RunContext, result: CtfResult) -> list[int]:
        """The image's ``ApCtfData`` row; a smaller spectrum box than asked becomes the
        run's stored fieldsize.  The same micrograph goes on to a following step."""
        if not run.writes_rows:
            return []
        run_id = self._run_ids.get_or_init(run, self.init_run)
        self._note_box(run, run_id, result)
        results.store_ctf(run_id, result)
        return [result.image_id]

    def _note_box(self, run: RunContext, run_id: int, result: CtfResult) -> None:
        used = result.search.box
        key = RunIds.key(run)
        if used < self._fieldsize_used.get(key, self.options.fieldsize):
            log.warning("--fieldsize %d is larger than the micrographs (image %d); the "
                        "spectrum uses %d-pixel tiles, stored as the run's fieldsize",
                        self.options.fieldsize, result.image_id, used)
            self._fieldsize_used[key] = used
            results.record_fieldsize(run_id, used)

    # -- reports (appion.base.step.ReportingStep) -------------------------------

    def summaries(self, run: RunContext, image_ids: Sequence[int]
                  ) -> dict[int, dict[str, Any]]:
        """``{micrograph id: {defocus1_a, defocus2_a, astigmatism_angle_deg, resolution_a,
        resolution_source, cross_correlation, amplitude_contrast, confidence}}`` of the
        micrographs this run has a CTF for, with ``spectrum_path`` and ``profile_path``
        (absolute) where the worker-made files exist
        (:func:`~appion.ctfestimation.retrieve.summaries.ctf_summaries`)."""
        run_id = self._run_ids.get(run)
        if run_id is None or not image_ids:
            return {}
        return ctf_summaries(run_id, image_ids, rundir=run.rundir)

    def details(self, run: RunContext, image_id: int) -> dict[str, Any]:
        """Everything about one micrograph of this run: ``profile``, ``files``,
        ``parameters`` (:func:`~appion.ctfestimation.retrieve.summaries.ctf_details`);
        ``{}`` when the run has no CTF of it."""
        run_id = self._run_ids.get(run)
        if run_id is None:
            return {}
        return ctf_details(run_id, image_id, rundir=run.rundir,
                           image_path=run.session.get("image_path"))

    def classic_runs(self, session_id: int) -> list[str]:
        """The session's CTF runs (``ApAceRunData``), oldest first."""
        return classic_ctf_runs(session_id)


__all__ = ["CtfStep", "params_row", "prior_from_row", "search_for_image"]
