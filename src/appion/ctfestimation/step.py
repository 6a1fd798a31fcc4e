"""CTF estimation as a controller step (see :mod:`appion.base.step`).

``prepare`` reads the micrographs' optics and earlier CTFs in bulk and applies
classic ``ctffind4.py`` / ``gctf.py`` rules (search centre, range, ``--bestdb``).
``run_task`` runs the engine (``builtin``, ``ctffind4`` or ``gctf``), judges the
fit on the micrograph's own spectrum (classic ctfdisplay scores) and writes the
graph files into ``<rundir>/opimages``.  ``store`` writes ``ApCtfData``.
A micrograph with NaN/Inf pixels or one value everywhere, or a fit with a value
that is not finite or a defocus outside the search range, fails its image with one
line (:class:`InputFileError`, not retried): no row, no graphs.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from appion.base.calc.internal import validate
from appion.base.errors import AppionError, InputFileError, UsageError
from appion.base.files import atomic_path, write_mrc
from appion.base.step import RunContext, cached_run_id, run_id_or_init
from appion.ctfestimation.calc.internal import classic
from appion.ctfestimation.calc.internal.estimator import (CtfFit, Estimate, SearchParameters,
                                                          estimate_from_spectrum, evaluate_fit)
from appion.ctfestimation.calc.internal.scores import ctf_scores
from appion.ctfestimation.calc.internal.spectrum import fitting_box, power_spectrum
from appion.ctfestimation.calc.result import (CtfParameters, CtfResult, EngineOutput,
                                              GctfOptions)

log = logging.getLogger(__name__)

ENGINES = ("builtin", "ctffind4", "gctf")
RUN_ID_KEY = "ctf_acerun_id"
FIELDSIZE_KEY = "ctf_fieldsize_used"


@dataclass(frozen=True)
class CtfOptions:
    """The classic CTF flags of one run (µm where classic uses µm)."""

    engine: str = "ctffind4"
    executable: str | None = None
    ampcontrast: float = 0.07
    fieldsize: int = 1024
    nominal_um: float | None = None
    resmin: float = 50.0
    resmax: float = 15.0
    defstep_um: float = 0.1
    numstep: int = 25
    dast_um: float = 100.0
    phaseplate: bool = False
    min_phase_shift_deg: float = 10.0
    max_phase_shift_deg: float = 170.0
    phase_step_deg: float = 10.0
    bestdb: bool = False
    exhaust: bool = False
    reprocess: float | None = None
    gctf: GctfOptions | None = None
    dast_is_angstrom: bool = False  # Gctf's --dast is Gctf's --astm, in Å
    timeout_s: float = 600.0


@dataclass(frozen=True)
class CtfTask:
    """One micrograph to estimate: everything a worker needs, no database."""

    image_id: int
    engine: str
    params: CtfParameters
    defocus_init_a: float
    executable: str | None = None


def add_step_options(parser: argparse.ArgumentParser, *, pipeline: bool = False,
                     flavour: str = "ctffind4") -> None:
    """Classic ``ctffind4.py`` (or ``gctf.py``) flags plus the engine choice.

    In ``appion pipeline`` the engine flag is ``--ctf-engine`` (``--engine`` belongs
    to no step there); every other flag keeps its classic name.
    """
    gctf = flavour == "gctf"
    group = parser.add_argument_group(f"CTF estimation (classic {flavour}.py)")
    engine_flags = ["--ctf-engine"] if pipeline else ["--engine", "--ctf-engine"]
    group.add_argument(*engine_flags, dest="ctf_engine", choices=ENGINES,
                       default="gctf" if gctf else "ctffind4",
                       help="CTF engine (default: the classic program)")
    group.add_argument("--ctffind-exe", "--ctf-exe", dest="ctf_executable",
                       help="CTFFIND (ctffind, ctffind4, ctffind5) or Gctf executable name")
    group.add_argument("--ctf-timeout", dest="ctf_timeout", type=float, default=600.0,
                       help="seconds one micrograph may take")
    group.add_argument("--ampcontrast", dest="ampcontrast", type=float, default=0.07)
    group.add_argument("--fieldsize", dest="fieldsize", type=int, default=1024,
                       help="spectrum box size (pixels)")
    group.add_argument("--nominal", dest="nominal", type=float,
                       help="search centre (µm) instead of the best earlier estimate")
    group.add_argument("--resmin", dest="resmin", type=float, default=50.0)
    group.add_argument("--resmax", dest="resmax", type=float, default=4.0 if gctf else 15.0)
    group.add_argument("--defstep", dest="defstep", type=float, default=0.05 if gctf else 0.1,
                       help="defocus search step (µm)")
    group.add_argument("--numstep", dest="numstep", type=int, default=25)
    group.add_argument("--dast", dest="dast", type=float, default=1000.0 if gctf else 100.0,
                       help="expected astigmatism (Gctf: Å; ctffind4: µm)")
    group.add_argument("--bestdb", dest="bestdb", action="store_true", default=False)
    group.add_argument("--phaseplate", dest="phaseplate", action="store_true", default=False)
    group.add_argument("--exhaust", dest="exhaust", action="store_true", default=False)
    group.add_argument("--ddstackid", dest="ddstackid", type=int)
    group.add_argument("--num_frame_avg", dest="num_frame_avg", type=int, default=7)
    for flags, dest, default in ((("--minphaseshift", "--min_phase_shift"), "min_phase_shift", 10.0),
                                 (("--maxphaseshift", "--max_phase_shift"), "max_phase_shift", 170.0),
                                 (("--phasestep", "--phase_search_step"), "phase_search_step", 10.0)):
        group.add_argument(*flags, dest=dest, type=float, default=default, help="degrees")
    if gctf or pipeline:
        gctf_group = parser.add_argument_group("Gctf (classic gctf.py)")
        for flag, kind, default in (("--local_raster", int, 200), ("--local_radius", int, 1024),
                                    ("--local_boxsize", int, 512),
                                    ("--local_overlap", float, 0.5), ("--mdef_aveN", int, 1),
                                    ("--gpuid", int, 0)):
            if flag not in parser._option_string_actions:
                gctf_group.add_argument(flag, dest=flag.lstrip("-"), type=kind, default=default)
        for flag in ("--do_EPA", "--do_local_refine", "--do_Hres_ref"):
            gctf_group.add_argument(flag, dest=flag.lstrip("-"), action="store_true",
                                    default=False)
        gctf_group.add_argument("--fastmode", dest="fastmode", action="store_true", default=True)
        gctf_group.add_argument("--slowmode", dest="fastmode", action="store_false")
    if "--reprocess" not in parser._option_string_actions:
        group.add_argument("--reprocess", dest="reprocess", type=float,
                           help="process again images whose best CTF confidence is below this")


def ctf_options(options: argparse.Namespace) -> CtfOptions:
    """The CTF flags of a parsed command line, checked as classic checks them."""
    get = options.__dict__.get
    engine = get("ctf_engine") or "ctffind4"
    gctf = None
    if engine == "gctf" or get("do_EPA") is not None:
        gctf = GctfOptions(do_EPA=bool(get("do_EPA")), do_Hres_ref=bool(get("do_Hres_ref")),
                           mdef_aveN=int(get("mdef_aveN") or 1),
                           local_refine=bool(get("do_local_refine")),
                           local_radius=int(get("local_radius") or 1024),
                           local_boxsize=int(get("local_boxsize") or 512),
                           local_overlap=float(get("local_overlap") or 0.5),
                           local_raster=int(get("local_raster") or 200),
                           gpu_id=int(get("gpuid") or 0))
    if get("ddstackid"):
        raise UsageError("--ddstackid (CTF of frame stacks) is not supported; run on the "
                         "aligned sums instead (e.g. --preset enn-a-DW)")
    result = CtfOptions(
        engine=engine, executable=get("ctf_executable"), ampcontrast=options.ampcontrast,
        fieldsize=options.fieldsize, nominal_um=get("nominal"), resmin=options.resmin,
        resmax=options.resmax, defstep_um=options.defstep, numstep=options.numstep,
        dast_um=options.dast, phaseplate=options.phaseplate,
        min_phase_shift_deg=options.min_phase_shift, max_phase_shift_deg=options.max_phase_shift,
        phase_step_deg=options.phase_search_step, bestdb=options.bestdb,
        exhaust=options.exhaust, reprocess=get("reprocess"), gctf=gctf,
        dast_is_angstrom=get("procdir") == "gctf" or engine == "gctf",
        timeout_s=get("ctf_timeout") or 600.0)
    check_options(result)
    return result


def check_options(options: CtfOptions) -> None:
    """Classic ranges (ctffind4.py's for CTFFIND and the built-in engine)."""
    if options.engine not in ENGINES:
        raise UsageError(f"--engine {options.engine} is unknown; use one of {', '.join(ENGINES)}")
    if options.engine != "gctf":
        problem = classic.check_ctffind4_ranges(options.resmin, options.resmax,
                                                options.defstep_um)
        if problem:
            raise UsageError(problem)
    if not 0.0 <= options.ampcontrast < 0.5:
        raise UsageError(f"--ampcontrast {options.ampcontrast} must be in [0, 0.5)")
    if not 64 <= options.fieldsize <= 8192 or options.fieldsize % 2:
        raise UsageError(f"--fieldsize {options.fieldsize} must be even, from 64 to 8192")
    if not 1 <= options.numstep <= 1000:  # 2·numstep+1 defocus candidates per search
        raise UsageError(f"--numstep {options.numstep} must be between 1 and 1000")


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
    if row is None or row.get("defocus1") is None or row.get("defocus2") is None:
        return None
    return classic.PriorCtf(defocus1_m=row["defocus1"], defocus2_m=row["defocus2"],
                            amplitude_contrast=row.get("amplitude_contrast"),
                            resolution_80_percent=row.get("resolution_80_percent"),
                            resolution_50_percent=row.get("resolution_50_percent"),
                            confidence=row.get("confidence"))


class CtfStep:
    """The CTF-estimation step; ``make_step(options)`` builds one from the flags."""

    name = "ctf"

    def __init__(self, options: CtfOptions):
        check_options(options)
        self.options = options

    # -- controller -------------------------------------------------------------

    def _run_id(self, run: RunContext) -> int | None:
        from appion.ctfestimation.store.results import find_run

        def find() -> int | None:
            found = find_run(run.runname, run.session["id"])
            return int(found["id"]) if found else None
        return cached_run_id(run, RUN_ID_KEY, find)

    def init_run(self, run: RunContext) -> None:
        if not run.commit or getattr(run.options, "dry_run", False):
            return
        from appion.ctfestimation.store.results import run_fieldsize, save_run
        cs_mm = self._session_cs(run)
        run_id = save_run(runname=run.runname, rundir=str(run.rundir),
                          session_id=run.session["id"], params=params_row(self.options, cs_mm))
        run.extra[RUN_ID_KEY] = run_id
        run.extra[FIELDSIZE_KEY] = run_fieldsize(run_id) or self.options.fieldsize

    @staticmethod
    def _session_cs(run: RunContext) -> float | None:
        import sinedon
        scope = sinedon.get("ScopeEMData", {"session": run.session["id"]})
        tem = sinedon.get("InstrumentData", {"id": scope["tem"]}) if scope and scope.get("tem") else None
        return tem["cs"] * 1e3 if tem and tem.get("cs") is not None else None

    def done_image_ids(self, run: RunContext) -> set[int]:
        """Images this run stored; with ``--reprocess X`` also those whose best score is above X."""
        from appion.ctfestimation.store.results import done_images
        run_id = self._run_id(run)
        done = done_images(run_id) if run_id else set()
        if self.options.reprocess is not None:
            done |= self._good_enough(run)
        return done

    def _good_enough(self, run: RunContext) -> set[int]:
        import sinedon
        from appion.ctfestimation.retrieve.metadata import prior_ctfs
        image_ids = sinedon.ids("AcquisitionImageData", {"session": run.session["id"]})
        keep = set()
        for image_id, rows in prior_ctfs(image_ids).items():
            best = classic.best_prior(rows)
            score = classic.classic_confidence(best) if best and best.get("confidence") is not None else None
            if not classic.should_reprocess(score, self.options.reprocess):
                keep.add(image_id)
        return keep

    def prepare(self, run: RunContext, image_ids: list[int]) -> list[CtfTask]:
        from appion.ctfestimation.retrieve.metadata import load_ctf_metadata, prior_ctfs
        infos = load_ctf_metadata(image_ids)
        priors = prior_ctfs(image_ids) if (self.options.nominal_um is None
                                           or self.options.bestdb) else {}
        tasks = []
        for image_id in image_ids:
            info = infos.get(image_id)
            if info is None:
                continue
            if not os.path.isfile(info.path):
                log.info("image %s: %s not there yet", image_id, info.path)
                continue  # classic: skipped, not marked done
            missing = [name for name, value in (("pixel size", info.pixel_size_a),
                                                ("high tension", info.kv),
                                                ("Cs", info.cs_mm)) if value is None]
            if missing:
                raise AppionError(f"image {info.filename} has no {', '.join(missing)} in the "
                                  "Leginon database; cannot estimate its CTF")
            prior = prior_from_row(classic.best_prior(priors.get(image_id, [])))
            try:
                search, center = search_for_image(self.options, info.pixel_size_a, info.kv,
                                                  info.cs_mm, info.scope_defocus_m, prior)
                search.check()
            except ValueError as error:
                raise AppionError(f"image {info.filename}: {error}") from None
            params = CtfParameters(micrograph_path=info.path, output_dir=str(run.rundir),
                                   name=info.filename, search=search,
                                   gctf=self.options.gctf, timeout_s=self.options.timeout_s)
            tasks.append(CtfTask(image_id=image_id, engine=self.options.engine, params=params,
                                 defocus_init_a=center, executable=self.options.executable))
        return tasks

    def dry_run_record(self, task: CtfTask) -> dict[str, Any]:
        search = task.params.search
        return {"image_id": task.image_id, "engine": task.engine,
                "micrograph": task.params.micrograph_path,
                "defocus_init_a": round(task.defocus_init_a, 1),
                "search": {key: (round(value, 6) if isinstance(value, float) else value)
                           for key, value in search.__dict__.items()}}

    def store(self, run: RunContext, result: CtfResult) -> list[int]:
        if not run.commit:
            return []
        from appion.ctfestimation.store.results import record_fieldsize, store_ctf
        run_id = run_id_or_init(self._run_id, self.init_run, run)
        used = result.search.box
        if used < run.extra.get(FIELDSIZE_KEY, self.options.fieldsize):
            log.warning("--fieldsize %d is larger than the micrographs (image %d); the "
                        "spectrum uses %d-pixel tiles, stored as the run's fieldsize",
                        self.options.fieldsize, result.image_id, used)
            run.extra[FIELDSIZE_KEY] = used
            record_fieldsize(run_id, used)
        store_ctf(run_id, result)
        return []

    # -- worker -----------------------------------------------------------------

    def run_task(self, task: CtfTask) -> CtfResult:
        return run_ctf_task(task)


def read_micrograph(path: str) -> np.ndarray:
    """A 2D float32 micrograph (the first slice of a stack)."""
    import mrcfile
    try:
        with mrcfile.mmap(path, permissive=True, mode="r") as mrc:
            data = np.asarray(mrc.data, dtype=np.float32)
    except (OSError, ValueError) as error:
        raise InputFileError(f"cannot read micrograph {path}: {error}") from None
    if data is None or data.ndim not in (2, 3):
        raise InputFileError(f"micrograph {path} is not an image; check the file")
    image = data[0] if data.ndim == 3 else data
    validate.check_image(image, f"micrograph {path}",
                         "it has no CTF to estimate; check the motion correction that made it")
    return image


FIT_HINT = "no CTF is stored for it; check the micrograph"


def check_fit(fit: CtfFit, search: SearchParameters, name: str) -> None:
    """A fit with a NaN/Inf value or a defocus outside the search range is a failure.

    Both defoci must lie in ``[defocus_min, defocus_max]`` (one defocus step of slack,
    for an external engine's refinement); every other value must be finite.
    """
    for label, value in (("azimuth", fit.azimuth_deg), ("phase shift", fit.phase_shift_rad),
                         ("cross-correlation", fit.cross_correlation),
                         ("fit resolution", fit.fit_resolution_a)):
        validate.check_number(value, f"the CTF fit of {name}: {label}", FIT_HINT)
    for label, value in (("defocus 1", fit.defocus_1_a), ("defocus 2", fit.defocus_2_a)):
        validate.check_in_range(value, search.defocus_min_a, search.defocus_max_a,
                                f"the CTF fit of {name}: {label} (Å)", FIT_HINT,
                                tolerance=search.defocus_step_a)


def _link_input(task: CtfTask) -> CtfParameters:
    """Classic: the engine reads ``<rundir>/<name>.mrc``, a symlink to the micrograph."""
    link = Path(task.params.output_dir) / f"{task.params.name}.mrc"
    if os.path.realpath(link) != os.path.realpath(task.params.micrograph_path):
        with atomic_path(link) as temporary:
            os.symlink(os.path.abspath(task.params.micrograph_path), temporary)
    return replace(task.params, micrograph_path=link.name)


def _run_engine(task: CtfTask, amplitude: np.ndarray) -> tuple[EngineOutput | None, Estimate]:
    search = task.params.search
    if task.engine == "builtin":
        return None, estimate_from_spectrum(amplitude, search)
    params = _link_input(task)
    if task.engine == "ctffind4":
        from appion.ctfestimation.calc.external.ctffind import run_ctffind
        output = run_ctffind(params, task.executable)
    else:
        from appion.ctfestimation.calc.external.gctf import run_gctf
        output = run_gctf(params, task.executable)
    return output, evaluate_fit(amplitude, output.fit, search)


def fit_box_to_image(task: CtfTask, shape: tuple[int, ...]) -> CtfTask:
    """The task with its spectrum box shrunk to the largest fast size the image holds.

    The result carries the box actually used (``CtfResult.search.box``); the
    controller logs the change once and stores it as the run's ``fieldsize``.
    """
    search = task.params.search
    try:
        box = fitting_box(search.box, shape)
    except ValueError as error:
        raise InputFileError(f"micrograph {task.params.micrograph_path}: {error}") from None
    if box == search.box:
        return task
    return replace(task, params=replace(task.params, search=replace(search, box=box)))


def run_ctf_task(task: CtfTask) -> CtfResult:
    """Estimate one micrograph's CTF and write its graphs; no database."""
    from appion.ctfestimation.calc.internal import diagnostics

    started = time.monotonic()
    image = read_micrograph(task.params.micrograph_path)
    task = fit_box_to_image(task, image.shape)
    search = task.params.search
    amplitude = np.sqrt(power_spectrum(image, search.box))
    output, estimate = _run_engine(task, amplitude)
    fit = estimate.fit
    check_fit(fit, search, task.params.name)
    scores = ctf_scores(estimate.profile, search.resmin_a)

    opimages = task.params.opimages
    opimages.mkdir(parents=True, exist_ok=True)
    name = task.params.name
    pow_mrc = opimages / f"{name}-pow.mrc"
    comparison = diagnostics.fit_comparison(estimate.spectrum, fit, search)
    if output is not None and output.diagnostic_path and os.path.isfile(output.diagnostic_path):
        with atomic_path(pow_mrc) as temporary:
            shutil.move(output.diagnostic_path, temporary)
    else:
        write_mrc(pow_mrc, comparison.astype(np.float32), search.pixel_size_a)
    graph3 = diagnostics.write_image(comparison, opimages / f"{name}-pow.jpg")
    graph1 = diagnostics.write_image(diagnostics.centred_full_spectrum(estimate.spectrum),
                                     opimages / f"{name}-powerspec.jpg")
    graph4 = diagnostics.write_profile_plot(estimate.profile, fit, search,
                                            opimages / f"{name}-pow_avrot.png")
    graph2 = diagnostics.write_profile_plot(
        estimate.profile, fit, search, opimages / f"{name}-plots.png",
        resolutions={"80%": scores.resolution_80_percent, "50%": scores.resolution_50_percent})
    return CtfResult(
        image_id=task.image_id, engine=task.engine,
        engine_version=output.engine_version if output else "builtin",
        fit=fit, scores=scores, search=search, defocus_init_a=task.defocus_init_a,
        graph1=graph1.name, graph2=graph2.name, graph3=graph3.name, graph4=graph4.name,
        log_text=output.log_text if output else "", elapsed_s=time.monotonic() - started,
        tilt_axis_angle_deg=output.tilt_axis_angle_deg if output else None,
        tilt_angle_deg=output.tilt_angle_deg if output else None,
        sample_thickness_a=output.sample_thickness_a if output else None,
        local_star=Path(output.local_star).name if output and output.local_star else None)


def make_step(options: argparse.Namespace) -> CtfStep:
    """The CTF step configured by a parsed command line (drop-in or ``appion pipeline``)."""
    return CtfStep(ctf_options(options))
