"""CTF estimation accuracy and speed per image: the built-in estimator against the truth of
synthetic micrographs (and CTFFIND's, side by side, when ``CTFFIND_BIN`` names a CTFFIND
executable).  Prints one JSON object.

    python benchmarks/ctf.py [--size 4096] [--box 512]
    CTFFIND_BIN=/path/to/ctffind python benchmarks/ctf.py

``cases``: CTF-filtered noise of ``--size`` pixels (1 Å/px): ``easy`` (clean, 1.5 µm),
``high_defocus_astigmatic`` (2.4 µm, 2000 Å astigmatism) and
``low_defocus_very_low_contrast`` (0.6 µm, signal-to-noise 0.02); and
``ctffind_5_0_2_reference``, the 2048² micrograph (0.9 Å/px) that CTFFIND 5.0.2 was
run on for ``tests/ctfestimation/data/ctffind-5.0.2``, with CTFFIND's recorded answer.
``k3_small``: the simulator's 1024×720 K3 micrographs (0.826 Å/px, 50 e/Å², B 40 Å²)
searched as classic ``ctffind4.py`` searches (scope defocus ∓ 2.5 µm, ``--dast``
100 µm), to 15 Å (the classic default) and to 5 Å, with the classic ``--fieldsize``
1024 shrunk to 720.  ``worker``: one warm worker's whole task on the ``easy``
micrograph (read, spectrum, fit, scores, graphs), split by stage.  ``whole_process``:
``appion ctf`` run as a command on each noise case (start-up included), and a whole
CTFFIND run on it when ``CTFFIND_BIN`` is set; best of three.

Errors are signed, fit − truth: mean defocus and astigmatism (defocus 1 − defocus 2) in
Å, azimuth in degrees.  ``ratios`` are built-in / CTFFIND (absolute errors, seconds).
``APPION_BENCH_QUICK=1`` runs 1024-pixel noise images.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from appion.base.files import write_mrc  # noqa: E402
from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise  # noqa: E402
from appion.ctfestimation.calc.internal.estimator import (  # noqa: E402
    estimate_ctf,
    estimate_from_spectrum,
    wrap_angle_deg,
)
from appion.ctfestimation.calc.internal.spectrum import fitting_box, power_spectrum  # noqa: E402
from appion.ctfestimation.contract import CtfFit, SearchParameters  # noqa: E402

#: name: (defocus 1, defocus 2, azimuth, signal-to-noise, B-factor)
CASES = {
    "easy": (15000.0, 14000.0, 30.0, 1.0, 80.0),
    "high_defocus_astigmatic": (25000.0, 23000.0, -50.0, 0.5, 100.0),
    "low_defocus_very_low_contrast": (6000.0, 5900.0, 10.0, 0.02, 80.0),
}
NOISE_SEARCH = SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, box=512, resmin_a=30.0,
                                resmax_a=4.0, defocus_min_a=3000.0, defocus_max_a=50000.0,
                                expected_astigmatism_a=1000.0)

#: The micrograph of tests/ctfestimation/data/ctffind-5.0.2: ctf_filtered_noise((2048, 2048), 0.9,
#: 21000, 20100, 33°, seed=1), searched as below; CTFFIND 5.0.2's answer from its summary.
REFERENCE_TRUTH = (21000.0, 20100.0, 33.0)
REFERENCE_SEARCH = SearchParameters(pixel_size_a=0.9, kv=300.0, cs_mm=2.7, box=512,
                                    resmin_a=30.0, resmax_a=5.0, defocus_min_a=5000.0,
                                    defocus_max_a=50000.0, defocus_step_a=100.0,
                                    expected_astigmatism_a=1000.0)
RECORDED_CTFFIND = {"version": "5.0.2", "defocus_1_a": 20995.408203,
                    "defocus_2_a": 20098.816406, "azimuth_deg": 32.714908,
                    "fit_resolution_a": 2.531449}

#: Simulated K3 exposures: (defocus 1, defocus 2, azimuth) in Å and degrees.
K3_SMALL = [(10985.0, 10321.0, 26.2), (19172.0, 18798.0, 103.9), (27112.0, 26834.0, 40.9)]


def errors(fit: CtfFit, truth: tuple[float, float, float]) -> dict[str, float]:
    """Signed errors of a fit against the truth (defocus 1, defocus 2, azimuth)."""
    defocus_1, defocus_2, azimuth = truth
    return {
        "mean_defocus_error_a": round(0.5 * (fit.defocus_1_a + fit.defocus_2_a)
                                      - 0.5 * (defocus_1 + defocus_2), 2),
        "astigmatism_error_a": round((fit.defocus_1_a - fit.defocus_2_a)
                                     - (defocus_1 - defocus_2), 2),
        "azimuth_error_deg": round(wrap_angle_deg(fit.azimuth_deg - azimuth), 2),
        "fit_resolution_a": round(fit.fit_resolution_a, 2),
    }


def ratios(builtin: dict, ctffind: dict) -> dict[str, float | None]:
    """Built-in / CTFFIND for the absolute errors and the seconds (None where CTFFIND's is 0)."""
    keys = ("mean_defocus_error_a", "astigmatism_error_a", "azimuth_error_deg", "seconds")
    return {key: (round(abs(builtin[key]) / abs(ctffind[key]), 3) if ctffind.get(key) else None)
            for key in keys if key in builtin and key in ctffind}


def run_builtin(image: np.ndarray, params: SearchParameters,
                truth: tuple[float, float, float]) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    fit = estimate_ctf(image, params).fit
    return {"seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3), **errors(fit, truth)}


def run_ctffind(image: np.ndarray, params: SearchParameters, truth: tuple[float, float, float],
                executable: str, workdir: str) -> dict:
    """CTFFIND through the project's engine on the same micrograph and search."""
    from appion.ctfestimation.contract import engine_task
    from appion.ctfestimation.engines.ctffind import run_ctffind as run_engine
    write_mrc(os.path.join(workdir, "bench.mrc"), np.asarray(image, dtype=np.float32),
              params.pixel_size_a)
    started = time.perf_counter()
    output = run_engine(engine_task("bench.mrc", workdir, "bench", params), executable)
    return {"seconds": round(time.perf_counter() - started, 3), "version": output.engine_version,
            **errors(output.fit, truth)}


def compare(image: np.ndarray, params: SearchParameters, truth: tuple[float, float, float],
            ctffind: str | None, workdir: str) -> dict:
    """The built-in estimator's entry, and CTFFIND's with the ratios when it is given."""
    entry = {"builtin": run_builtin(image, params, truth)}
    if ctffind:
        entry["ctffind"] = run_ctffind(image, params, truth, ctffind, workdir)
        entry["ratios"] = ratios(entry["builtin"], entry["ctffind"])
    return entry


def noise_cases(size: int, box: int, ctffind: str | None, workdir: str) -> dict:
    results = {}
    params = replace(NOISE_SEARCH, box=box)
    for name, (defocus_1, defocus_2, azimuth, snr, bfactor) in CASES.items():
        image = ctf_filtered_noise((size, size), params.pixel_size_a, defocus_1, defocus_2,
                                   azimuth, signal_to_noise=snr, bfactor_a2=bfactor, seed=1)
        results[name] = compare(image, params, (defocus_1, defocus_2, azimuth), ctffind, workdir)
    return results


def reference_case(ctffind: str | None, workdir: str) -> dict:
    """The micrograph CTFFIND 5.0.2 was run on, with its recorded answer (and a live one)."""
    image = ctf_filtered_noise((2048, 2048), REFERENCE_SEARCH.pixel_size_a, *REFERENCE_TRUTH,
                               seed=1)
    entry = compare(image, REFERENCE_SEARCH, REFERENCE_TRUTH, ctffind, workdir)
    recorded = CtfFit(RECORDED_CTFFIND["defocus_1_a"], RECORDED_CTFFIND["defocus_2_a"],
                      RECORDED_CTFFIND["azimuth_deg"], 0.0, 0.0,
                      RECORDED_CTFFIND["fit_resolution_a"])
    entry["ctffind_recorded"] = {"version": RECORDED_CTFFIND["version"],
                                 **errors(recorded, REFERENCE_TRUTH)}
    entry["ratios_to_recorded"] = ratios(entry["builtin"], entry["ctffind_recorded"])
    return entry


def k3_small(ctffind: str | None, workdir: str) -> dict:
    from appion.simulation.calc import CtfParameters, make_micrograph
    images = [make_micrograph((720, 1024), 0.826,
                              CtfParameters(d1, d2, azimuth, bfactor_a2=40.0),
                              seed=1, dose=50.0) for d1, d2, azimuth in K3_SMALL]
    results = {}
    for resmax in (15.0, 5.0):
        for truth, image in zip(K3_SMALL, images):
            centre = 0.5 * (truth[0] + truth[1])
            params = SearchParameters(pixel_size_a=0.826, kv=300.0, cs_mm=2.7,
                                      box=fitting_box(1024, image.shape), resmin_a=50.0,
                                      resmax_a=resmax, defocus_min_a=max(centre - 25000, 1000),
                                      defocus_max_a=centre + 25000, defocus_step_a=1000.0,
                                      expected_astigmatism_a=1e6)
            results[f"{centre / 1e4:.2f}um_to_{resmax:g}A"] = compare(image, params, truth,
                                                                      ctffind, workdir)
    return results


def warm_worker(size: int, box: int, workdir: str, repeats: int = 3) -> dict:
    """A worker's whole task (``run_ctf_task``) on the easy micrograph, after one warm-up.

    The stages are timed apart on the same micrograph: ``spectrum`` (power spectrum),
    ``fit`` (search and refinement), and ``rest`` (reading the file, scores and the
    four graphs: the task minus the two); best of ``repeats``, in wall-clock and in
    processor seconds (``cpu_``, less disturbed by other work on a shared machine).
    """
    from appion.ctfestimation.contract import engine_task
    from appion.ctfestimation.worker import run_task as run_ctf_task
    defocus_1, defocus_2, azimuth, snr, bfactor = CASES["easy"]
    params = replace(NOISE_SEARCH, box=box)
    image = ctf_filtered_noise((size, size), params.pixel_size_a, defocus_1, defocus_2, azimuth,
                               signal_to_noise=snr, bfactor_a2=bfactor, seed=1)
    path = os.path.join(workdir, "worker.mrc")
    write_mrc(path, image)
    task = replace(engine_task(path, workdir, "worker", params), image_id=1,
                   defocus_init_a=0.5 * (defocus_1 + defocus_2))
    run_ctf_task(task)
    task_s = _best_of(lambda: run_ctf_task(task), repeats)
    spectrum_s = _best_of(lambda: power_spectrum(image, box), repeats)
    amplitude = np.sqrt(power_spectrum(image, box))
    fit_s = _best_of(lambda: estimate_from_spectrum(amplitude, params), repeats)
    report = {}
    for kind, index in (("", 0), ("cpu_", 1)):
        report.update({f"{kind}seconds_per_micrograph": round(task_s[index], 3),
                       f"{kind}spectrum_s": round(spectrum_s[index], 3),
                       f"{kind}fit_s": round(fit_s[index], 3),
                       f"{kind}rest_s": round(task_s[index] - spectrum_s[index]
                                              - fit_s[index], 3)})
    return report


def whole_process(size: int, box: int, ctffind: str | None, workdir: str,
                  repeats: int = 3) -> dict:
    """One micrograph as a whole process: ``appion ctf`` (start-up, read, fit, answer)
    against a whole CTFFIND run through the engine, on each noise case; best of
    ``repeats`` wall-clock seconds."""
    import subprocess
    import sys

    params = replace(NOISE_SEARCH, box=box)
    results = {}
    for name, (defocus_1, defocus_2, azimuth, snr, bfactor) in CASES.items():
        image = ctf_filtered_noise((size, size), params.pixel_size_a, defocus_1, defocus_2,
                                   azimuth, signal_to_noise=snr, bfactor_a2=bfactor, seed=1)
        path = os.path.join(workdir, f"{name}.mrc")
        write_mrc(path, np.asarray(image, dtype=np.float32), params.pixel_size_a)
        command = [sys.executable, "-m", "appion.cli.main", "ctf", path,
                   "--apix", str(params.pixel_size_a), "--kv", str(params.kv),
                   "--cs", str(params.cs_mm), "--ac", str(params.amplitude_contrast),
                   "--box", str(box), "--resmin", str(params.resmin_a),
                   "--resmax", str(params.resmax_a), "--defmin", str(params.defocus_min_a),
                   "--defmax", str(params.defocus_max_a),
                   "--defstep", str(params.defocus_step_a),
                   "--astigmatism", str(params.expected_astigmatism_a), "--json"]
        entry = {"appion_ctf_s": round(_best_of(
            lambda: subprocess.run(command, check=True, capture_output=True), repeats)[0], 3)}
        if ctffind:
            entry["ctffind_s"] = min(run_ctffind(image, params, (defocus_1, defocus_2, azimuth),
                                                 ctffind, workdir)["seconds"]
                                     for _ in range(repeats))
            entry["appion_ctf_over_ctffind"] = round(entry["appion_ctf_s"]
                                                     / entry["ctffind_s"], 3)
        results[name] = entry
    return results


def _best_of(function, repeats: int) -> tuple[float, float]:
    """The shortest wall-clock and processor times of ``repeats`` calls."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        function()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int,
                        default=1024 if os.environ.get("APPION_BENCH_QUICK") else 4096)
    parser.add_argument("--box", type=int, default=512)
    args = parser.parse_args()
    ctffind = os.environ.get("CTFFIND_BIN") or None
    with tempfile.TemporaryDirectory() as workdir:
        report = {"benchmark": "ctf", "size": args.size, "box": args.box,
                  "threads": os.environ.get("OMP_NUM_THREADS"),
                  "ctffind": ctffind or "not run (set CTFFIND_BIN to a CTFFIND executable)",
                  "cases": noise_cases(args.size, args.box, ctffind, workdir),
                  "ctffind_5_0_2_reference": reference_case(ctffind, workdir),
                  "k3_small": k3_small(ctffind, workdir),
                  "worker": warm_worker(args.size, args.box, workdir),
                  "whole_process": whole_process(args.size, args.box, ctffind, workdir)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
