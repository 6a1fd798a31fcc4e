"""The CTF step's flags (classic ``ctffind4.py`` / ``gctf.py``) and the typed options they make."""

from __future__ import annotations

import argparse
from typing import Any

from appion.base.errors import UsageError
from appion.ctfestimation.calc.internal import classic
from appion.ctfestimation.contract import CtfOptions, GctfOptions
from appion.ctfestimation.engines import ENGINES

#: Gctf's valued flags: (flag, type, default); the dest is the flag without dashes.
GCTF_VALUES: tuple[tuple[str, type, Any], ...] = (
    ("--local_raster", int, 200), ("--local_radius", int, 1024), ("--local_boxsize", int, 512),
    ("--local_overlap", float, 0.5), ("--mdef_aveN", int, 1), ("--gpuid", int, 0))
#: Gctf's switches.
GCTF_SWITCHES = ("--do_EPA", "--do_local_refine", "--do_Hres_ref")
#: Phase-plate search flags (degrees): (flags, dest, default).
PHASE_FLAGS = ((("--minphaseshift", "--min_phase_shift"), "min_phase_shift", 10.0),
               (("--maxphaseshift", "--max_phase_shift"), "max_phase_shift", 170.0),
               (("--phasestep", "--phase_search_step"), "phase_search_step", 10.0))


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False,
                flavour: str = "ctffind4") -> None:
    """Classic ``ctffind4.py`` (or ``gctf.py``) flags plus the engine choice.

    In ``appion pipeline`` the engine flag is ``--ctf-engine`` (``--engine`` belongs
    to no step there); every other flag keeps its classic name.
    """
    gctf = flavour == "gctf"
    group = parser.add_argument_group(f"CTF estimation (classic {flavour}.py)")
    _add_engine_options(group, pipeline=pipeline, gctf=gctf)
    _add_search_options(group, gctf=gctf)
    if gctf or pipeline:
        _add_gctf_options(parser)
    if "--reprocess" not in parser._option_string_actions:
        group.add_argument("--reprocess", dest="reprocess", type=float,
                           help="process again images whose best CTF confidence is below this")


def _add_engine_options(group: Any, *, pipeline: bool, gctf: bool) -> None:
    engine_flags = ["--ctf-engine"] if pipeline else ["--engine", "--ctf-engine"]
    group.add_argument(*engine_flags, dest="ctf_engine", choices=ENGINES.names,
                       default="gctf" if gctf else "ctffind4",
                       help="CTF engine (default: the classic program)")
    group.add_argument("--ctffind-exe", "--ctf-exe", dest="ctf_executable",
                       help="CTFFIND (ctffind, ctffind4, ctffind5) or Gctf executable name")
    group.add_argument("--ctf-timeout", dest="ctf_timeout", type=float, default=600.0,
                       help="seconds one micrograph may take")


def _add_search_options(group: Any, *, gctf: bool) -> None:
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
    for flags, dest, default in PHASE_FLAGS:
        group.add_argument(*flags, dest=dest, type=float, default=default, help="degrees")


def _add_gctf_options(parser: argparse.ArgumentParser) -> None:
    gctf_group = parser.add_argument_group("Gctf (classic gctf.py)")
    for flag, kind, default in GCTF_VALUES:
        if flag not in parser._option_string_actions:
            gctf_group.add_argument(flag, dest=flag.lstrip("-"), type=kind, default=default)
    for flag in GCTF_SWITCHES:
        gctf_group.add_argument(flag, dest=flag.lstrip("-"), action="store_true", default=False)
    gctf_group.add_argument("--fastmode", dest="fastmode", action="store_true", default=True)
    gctf_group.add_argument("--slowmode", dest="fastmode", action="store_false")


def gctf_options(namespace: argparse.Namespace) -> GctfOptions:
    """Gctf's own flags of a parsed command line."""
    get = namespace.__dict__.get
    return GctfOptions(do_EPA=bool(get("do_EPA")), do_Hres_ref=bool(get("do_Hres_ref")),
                       mdef_aveN=int(get("mdef_aveN") or 1),
                       local_refine=bool(get("do_local_refine")),
                       local_radius=int(get("local_radius") or 1024),
                       local_boxsize=int(get("local_boxsize") or 512),
                       local_overlap=float(get("local_overlap") or 0.5),
                       local_raster=int(get("local_raster") or 200),
                       gpu_id=int(get("gpuid") or 0))


def step_options(namespace: argparse.Namespace) -> CtfOptions:
    """The CTF flags of a parsed command line, checked as classic checks them."""
    get = namespace.__dict__.get
    engine = get("ctf_engine") or "ctffind4"
    if get("ddstackid"):
        raise UsageError("--ddstackid (CTF of frame stacks) is not supported; run on the "
                         "aligned sums instead (e.g. --preset enn-a-DW)")
    gctf = gctf_options(namespace) if engine == "gctf" or get("do_EPA") is not None else None
    options = CtfOptions(
        engine=engine, executable=get("ctf_executable"), ampcontrast=namespace.ampcontrast,
        fieldsize=namespace.fieldsize, nominal_um=get("nominal"), resmin=namespace.resmin,
        resmax=namespace.resmax, defstep_um=namespace.defstep, numstep=namespace.numstep,
        dast_um=namespace.dast, phaseplate=namespace.phaseplate,
        min_phase_shift_deg=namespace.min_phase_shift,
        max_phase_shift_deg=namespace.max_phase_shift,
        phase_step_deg=namespace.phase_search_step, bestdb=namespace.bestdb,
        exhaust=namespace.exhaust, reprocess=get("reprocess"), gctf=gctf,
        dast_is_angstrom=get("procdir") == "gctf" or engine == "gctf",
        timeout_s=get("ctf_timeout") or 600.0)
    check_options(options)
    return options


def check_options(options: CtfOptions) -> None:
    """Classic ranges (ctffind4.py's for CTFFIND and the built-in engine); a one-line
    :class:`~appion.base.errors.UsageError` for the first value out of range."""
    ENGINES.get_engine(options.engine)
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


def make_step(namespace: argparse.Namespace) -> Any:
    """The CTF step configured by a parsed command line (drop-in or ``appion pipeline``)."""
    from appion.ctfestimation.step import CtfStep
    return CtfStep(step_options(namespace))


__all__ = ["add_options", "check_options", "make_step", "step_options"]
