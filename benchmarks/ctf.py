"""CTF estimation speed and accuracy per image: the built-in estimator (and CTFFIND's,
side by side, when a ``ctffind`` binary is on PATH).  Prints one JSON object.

    python benchmarks/ctf.py [--size 4096] [--box 512]

``cases``: CTF-filtered noise of ``--size`` pixels.  ``k3_small``: the simulator's
1024×720 K3 micrographs (0.826 Å/px, 50 e/Å², B 40 Å²) searched as classic
``ctffind4.py`` searches (scope defocus ∓ 2.5 µm, ``--dast`` 100 µm), to 15 Å (the
classic default) and to 5 Å, with the classic ``--fieldsize`` 1024 shrunk to 720.
``APPION_BENCH_QUICK=1`` runs 1024-pixel noise images.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise  # noqa: E402
from appion.ctfestimation.calc.internal.estimator import (SearchParameters,  # noqa: E402
                                                          estimate_ctf)

CASES = {  # name: (defocus 1, defocus 2, azimuth, signal-to-noise, B-factor)
    "easy": (15000.0, 14000.0, 30.0, 1.0, 80.0),
    "high_defocus_astigmatic": (25000.0, 23000.0, -50.0, 0.5, 100.0),
    "low_defocus_very_low_contrast": (6000.0, 5900.0, 10.0, 0.02, 80.0),
}


def _errors(fit, truth):
    return {"defocus_1_error_a": round(abs(fit.defocus_1_a - truth[0]), 2),
            "defocus_2_error_a": round(abs(fit.defocus_2_a - truth[1]), 2)}


#: Simulated K3 exposures: (defocus 1, defocus 2, azimuth) in Å and degrees.
K3_SMALL = [(10985.0, 10321.0, 26.2), (19172.0, 18798.0, 103.9), (27112.0, 26834.0, 40.9)]


def _k3_small() -> dict:
    from appion.ctfestimation.calc.internal.spectrum import fitting_box
    from appion.simulation.calc import CtfParameters, make_micrograph
    images = [make_micrograph((720, 1024), 0.826,
                              CtfParameters(d1, d2, azimuth, bfactor_a2=40.0),
                              seed=1, dose=50.0) for d1, d2, azimuth in K3_SMALL]
    results = {}
    for resmax in (15.0, 5.0):
        for (d1, d2, _), image in zip(K3_SMALL, images):
            centre = 0.5 * (d1 + d2)
            params = SearchParameters(pixel_size_a=0.826, kv=300.0, cs_mm=2.7,
                                      box=fitting_box(1024, image.shape), resmin_a=50.0,
                                      resmax_a=resmax, defocus_min_a=max(centre - 25000, 1000),
                                      defocus_max_a=centre + 25000, defocus_step_a=1000.0,
                                      expected_astigmatism_a=1e6)
            started = time.perf_counter()
            fit = estimate_ctf(image, params).fit
            results[f"{centre / 1e4:.2f}um_to_{resmax:g}A"] = {
                "seconds": round(time.perf_counter() - started, 3), **_errors(fit, (d1, d2))}
    return results


def _ctffind(image, params, workdir):
    import mrcfile
    from appion.ctfestimation.calc.external.ctffind import run_ctffind
    from appion.ctfestimation.calc.result import CtfParameters
    with mrcfile.new(os.path.join(workdir, "bench.mrc"), overwrite=True) as mrc:
        mrc.set_data(image)
    started = time.perf_counter()
    output = run_ctffind(CtfParameters("bench.mrc", workdir, "bench", params), "ctffind")
    return output.fit, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int,
                        default=1024 if os.environ.get("APPION_BENCH_QUICK") else 4096)
    parser.add_argument("--box", type=int, default=512)
    args = parser.parse_args()
    with_ctffind = shutil.which("ctffind") is not None
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, (d1, d2, azimuth, snr, bfactor) in CASES.items():
            image = ctf_filtered_noise((args.size, args.size), 1.0, d1, d2, azimuth,
                                       signal_to_noise=snr, bfactor_a2=bfactor, seed=1)
            params = SearchParameters(pixel_size_a=1.0, kv=300.0, cs_mm=2.7, box=args.box,
                                      resmin_a=30.0, resmax_a=4.0, defocus_min_a=3000.0,
                                      defocus_max_a=50000.0, expected_astigmatism_a=1000.0)
            started = time.perf_counter()
            fit = estimate_ctf(image, params).fit
            entry = {"builtin": {"seconds": round(time.perf_counter() - started, 3),
                                 **_errors(fit, (d1, d2))}}
            if with_ctffind:
                ctffind_fit, seconds = _ctffind(image, params, workdir)
                entry["ctffind"] = {"seconds": round(seconds, 3),
                                    **_errors(ctffind_fit, (d1, d2))}
            results[name] = entry
    print(json.dumps({"benchmark": "ctf", "size": args.size, "box": args.box,
                      "threads": os.environ.get("OMP_NUM_THREADS"), "cases": results,
                      "k3_small": _k3_small()},
                     indent=2))


if __name__ == "__main__":
    main()
