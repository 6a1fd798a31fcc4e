"""The CTF step on a Dask worker: one micrograph in, graph files and a result out.

:func:`run_task` reads the micrograph (:func:`appion.base.files.read_mrc`), runs the
task's engine (``builtin``, ``ctffind4`` or ``gctf``, from :data:`.engines.ENGINES`),
judges the fit on the micrograph's own spectrum (classic ctfdisplay scores) and writes
the graph files into ``<rundir>/opimages``, with, for ``appion serve``'s pages, the
spectrum image and the 1D profile of the fit (:func:`write_display_files`).  A
micrograph with NaN/Inf pixels or one value everywhere, or a fit with a value that is
not finite or a defocus outside the search range, fails its image with one line
(:class:`InputFileError`, not retried).  This module never imports ``sinedon`` or Django.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from appion.base.calc.internal import validate
from appion.base.errors import InputFileError
from appion.base.files import atomic_path, read_mrc, write_mrc, write_png, write_text
from appion.ctfestimation import output
from appion.ctfestimation.calc.internal import diagnostics, display
from appion.ctfestimation.calc.internal.estimator import Estimate
from appion.ctfestimation.calc.internal.scores import ctf_scores
from appion.ctfestimation.calc.internal.spectrum import fitting_box, power_spectrum
from appion.ctfestimation.contract import (
    CtfFit,
    CtfResult,
    CtfScores,
    CtfTask,
    EngineOutput,
    SearchParameters,
)
from appion.ctfestimation.engines import get_engine

FIT_HINT = "no CTF is stored for it; check the micrograph"


def check_program(engine: str, executable: str | None) -> str | None:
    """The path of ``engine``'s program (``None`` for the built-in engine); an
    :class:`~appion.base.errors.EngineConfigError` when it is missing or too old."""
    return get_engine(engine).find_program(executable)


def read_micrograph(path: str) -> np.ndarray:
    """A 2D float32 micrograph (the first slice of a stack), checked for garbage."""
    data = read_mrc(path, "micrograph")
    if data.ndim not in (2, 3):
        raise InputFileError(f"micrograph {path} is not an image; check the file")
    image = data[0] if data.ndim == 3 else data
    validate.check_image(image, f"micrograph {path}",
                         "it has no CTF to estimate; check the motion correction that made it")
    return image


def fitting_search(search: SearchParameters, shape: tuple[int, ...]) -> SearchParameters:
    """``search`` with its box shrunk to the largest fast size an image of ``shape``
    holds; ``ValueError`` when the image holds none."""
    box = fitting_box(search.box, shape)
    return search if box == search.box else replace(search, box=box)


def fit_box_to_image(task: CtfTask, shape: tuple[int, ...]) -> CtfTask:
    """The task with its spectrum box shrunk to the largest fast size the image holds.

    The result carries the box actually used (``CtfResult.search.box``); the
    controller logs the change once and stores it as the run's ``fieldsize``.
    """
    try:
        search = fitting_search(task.search, shape)
    except ValueError as error:
        raise InputFileError(f"micrograph {task.micrograph_path}: {error}") from None
    return task if search is task.search else replace(task, search=search)


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


def amplitude_spectrum(image: np.ndarray, box: int) -> np.ndarray:
    """The square root of the micrograph's power spectrum on the ``box`` grid."""
    return np.sqrt(power_spectrum(image, box))


def estimate_task(task: CtfTask, image: np.ndarray
                  ) -> tuple[CtfTask, EngineOutput | None, Estimate]:
    """The task as run (its box fitted to the image), the engine's own output and the
    checked fit on the micrograph's own spectrum."""
    task = fit_box_to_image(task, image.shape)
    engine_output, estimate = get_engine(task.engine).estimate(
        task, amplitude_spectrum(image, task.search.box))
    check_fit(estimate.fit, task.search, task.name)
    return task, engine_output, estimate


def run_task(task: CtfTask) -> CtfResult:
    """Estimate one micrograph's CTF and write its graphs; no database."""
    started = time.monotonic()
    image = read_micrograph(task.micrograph_path)
    task, engine_output, estimate = estimate_task(task, image)
    scores = ctf_scores(estimate.profile, task.search.resmin_a)
    graphs = write_graphs(task, estimate, scores, engine_output)
    write_display_files(task, estimate)
    return make_result(task, estimate.fit, scores, graphs, engine_output,
                       time.monotonic() - started)


def write_graphs(task: CtfTask, estimate: Estimate, scores: CtfScores,
                 engine_output: EngineOutput | None) -> tuple[str, str, str, str]:
    """Classic graph1..graph4 (and ``-pow.mrc``) in ``<rundir>/opimages``; their names."""
    opimages = task.opimages
    opimages.mkdir(parents=True, exist_ok=True)
    name, search, fit = task.name, task.search, estimate.fit
    comparison = diagnostics.fit_comparison(estimate.spectrum, fit, search)
    write_power_mrc(opimages / f"{name}-pow.mrc", comparison, search, engine_output)
    graph3 = output.write_image(comparison, opimages / f"{name}-pow.jpg")
    graph1 = output.write_image(diagnostics.centred_full_spectrum(estimate.spectrum),
                                opimages / f"{name}-powerspec.jpg")
    graph4 = output.write_profile_plot(estimate.profile, fit, search,
                                       opimages / f"{name}-pow_avrot.png")
    graph2 = output.write_profile_plot(
        estimate.profile, fit, search, opimages / f"{name}-plots.png",
        resolutions={"80%": scores.resolution_80_percent, "50%": scores.resolution_50_percent})
    return graph1.name, graph2.name, graph3.name, graph4.name


def write_display_files(task: CtfTask, estimate: Estimate) -> tuple[str, str]:
    """``<name>.spectrum.png`` and ``<name>.profile.json`` in ``<rundir>/opimages``
    (:mod:`~appion.ctfestimation.calc.internal.display`), of the spectrum and the fit
    the worker has already; their paths."""
    spectrum_path, profile_path = display.display_paths(task.output_dir, task.name)
    write_png(spectrum_path, display.spectrum_pixels(estimate.spectrum, estimate.fit,
                                                     estimate.parameters))
    record = display.profile_record(estimate.profile, estimate.fit)
    write_text(profile_path, json.dumps(record, allow_nan=False, separators=(",", ":")))
    return spectrum_path, profile_path


def write_power_mrc(path: Path, comparison: np.ndarray, search: SearchParameters,
                    engine_output: EngineOutput | None) -> None:
    """The engine's own diagnostic moved to ``path``, else the fit comparison as MRC."""
    diagnostic = engine_output.diagnostic_path if engine_output else None
    if diagnostic and os.path.isfile(diagnostic):
        with atomic_path(path) as temporary:
            shutil.move(diagnostic, temporary)
    else:
        write_mrc(path, comparison.astype(np.float32), search.pixel_size_a)


def make_result(task: CtfTask, fit: CtfFit, scores: CtfScores, graphs: tuple[str, ...],
                engine_output: EngineOutput | None, elapsed_s: float) -> CtfResult:
    """The frozen result the controller stores."""
    out = engine_output
    graph1, graph2, graph3, graph4 = graphs
    return CtfResult(
        image_id=task.image_id, engine=task.engine,
        engine_version=out.engine_version if out else "builtin",
        fit=fit, scores=scores, search=task.search, defocus_init_a=task.defocus_init_a,
        graph1=graph1, graph2=graph2, graph3=graph3, graph4=graph4,
        log_text=out.log_text if out else "", elapsed_s=elapsed_s,
        tilt_axis_angle_deg=out.tilt_axis_angle_deg if out else None,
        tilt_angle_deg=out.tilt_angle_deg if out else None,
        sample_thickness_a=out.sample_thickness_a if out else None,
        local_star=Path(out.local_star).name if out and out.local_star else None)


__all__ = ["check_fit", "check_program", "estimate_task", "fit_box_to_image",
           "fitting_search", "read_micrograph", "run_task", "write_display_files",
           "write_graphs"]
