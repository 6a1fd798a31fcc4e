"""``appion ctf MICROGRAPH``: estimate one micrograph's CTF with the built-in engine, no database.

``--json`` prints one object with ``defocus_1_A``, ``defocus_2_A``,
``astigmatism_azimuth_deg`` (CTFFIND's convention), ``phase_shift_rad``,
``cross_correlation`` and ``fit_resolution_A``.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``appion ctf`` to the ``appion`` command."""
    parser = subparsers.add_parser(
        "ctf", help="estimate one micrograph's CTF (built-in engine, no database)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("micrograph", help="MRC micrograph")
    parser.add_argument("--apix", type=float, required=True, help="pixel size (Å)")
    parser.add_argument("--kv", type=float, required=True, help="acceleration voltage (kV)")
    parser.add_argument("--cs", type=float, required=True, help="spherical aberration (mm)")
    parser.add_argument("--ac", type=float, required=True, help="amplitude contrast (0-0.5)")
    parser.add_argument("--box", type=int, default=512, help="spectrum box (pixels)")
    parser.add_argument("--resmin", type=float, default=30.0, help="lowest resolution fitted (Å)")
    parser.add_argument("--resmax", type=float, default=5.0, help="highest resolution fitted (Å)")
    parser.add_argument("--defmin", type=float, default=5000.0, help="minimum defocus (Å)")
    parser.add_argument("--defmax", type=float, default=50000.0, help="maximum defocus (Å)")
    parser.add_argument("--defstep", type=float, default=100.0, help="defocus step (Å)")
    parser.add_argument("--astigmatism", type=float, default=1000.0,
                        help="expected astigmatism (Å)")
    parser.add_argument("--phase-shift", action="store_true",
                        help="also fit an additional phase shift (phase plate)")
    parser.add_argument("--diagnostic", help="write the spectrum/fit image here (.mrc, .png, .jpg)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


def _search(args: argparse.Namespace) -> Any:
    """The search the flags describe; a one-line UsageError for an impossible one."""
    from appion.base.errors import UsageError
    from appion.ctfestimation.contract import SearchParameters

    search = SearchParameters(
        pixel_size_a=args.apix, kv=args.kv, cs_mm=args.cs, amplitude_contrast=args.ac,
        box=args.box, resmin_a=args.resmin, resmax_a=args.resmax, defocus_min_a=args.defmin,
        defocus_max_a=args.defmax, defocus_step_a=args.defstep,
        expected_astigmatism_a=args.astigmatism, find_phase_shift=args.phase_shift,
        phase_min_rad=0.0, phase_max_rad=math.pi, phase_step_rad=0.1)
    try:
        search.check()
        if not 0.0 <= args.ac < 0.5:
            raise ValueError(f"amplitude contrast {args.ac} must be in [0, 0.5)")
    except ValueError as error:
        raise UsageError(str(error)) from None
    return search


def _fitted_search(args: argparse.Namespace, search: Any, shape: tuple[int, ...]) -> Any:
    """The search with the box the micrograph holds (said on stderr when smaller)."""
    import sys

    from appion.base.errors import UsageError
    from appion.ctfestimation.worker import fitting_search

    try:
        fitted = fitting_search(search, shape)
    except ValueError as error:
        raise UsageError(f"micrograph {args.micrograph}: {error}") from None
    if fitted.box != args.box:
        print(f"appion ctf: --box {args.box} is larger than the micrograph ({shape[1]}×"
              f"{shape[0]}); using {fitted.box}", file=sys.stderr)
    return fitted


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from appion.base.errors import InputFileError
    from appion.ctfestimation.contract import engine_task
    from appion.ctfestimation.worker import estimate_task, read_micrograph

    if not Path(args.micrograph).is_file():
        raise InputFileError(f"micrograph {args.micrograph} not found; check the path")
    search = _search(args)
    image = read_micrograph(args.micrograph)
    search = _fitted_search(args, search, image.shape)
    task = engine_task(args.micrograph, str(Path(args.micrograph).parent), args.micrograph,
                       search)
    _, _, estimate = estimate_task(task, image)
    if args.diagnostic:
        _write_diagnostic(estimate, Path(args.diagnostic))
    _print_fit(estimate.fit, args.json)
    return 0


def _print_fit(fit: Any, as_json: bool) -> None:
    values = {"defocus_1_A": round(fit.defocus_1_a, 2), "defocus_2_A": round(fit.defocus_2_a, 2),
              "astigmatism_azimuth_deg": round(fit.azimuth_deg, 3),
              "phase_shift_rad": round(fit.phase_shift_rad, 4),
              "cross_correlation": round(fit.cross_correlation, 5),
              "fit_resolution_A": round(fit.fit_resolution_a, 3)}
    if as_json:
        print(json.dumps(values))
    else:
        print(f"defocus 1 {fit.defocus_1_a:.1f} Å, defocus 2 {fit.defocus_2_a:.1f} Å, "
              f"azimuth {fit.azimuth_deg:.2f}°, phase shift {fit.phase_shift_rad:.3f} rad, "
              f"CC {fit.cross_correlation:.4f}, fit to {fit.fit_resolution_a:.2f} Å")


def _write_diagnostic(estimate: Any, path: Any) -> None:
    import numpy as np

    from appion.base.files import write_mrc
    from appion.ctfestimation import output
    from appion.ctfestimation.calc.internal import diagnostics
    image = diagnostics.fit_comparison(estimate.spectrum, estimate.fit, estimate.parameters)
    if path.suffix.lower() == ".mrc":
        write_mrc(path, image.astype(np.float32), estimate.parameters.pixel_size_a)
    else:
        output.write_image(image, path)
