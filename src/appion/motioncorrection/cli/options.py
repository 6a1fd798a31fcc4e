"""The motion-correction step's flags, and the typed options they become.

:func:`add_options` adds classic ``makeDDAlignMotionCor2_UCSF.py``'s flags (and the
engine choice); :func:`step_options` turns the parsed flags into
:class:`~appion.motioncorrection.contract.MotionCorStepOptions`, checked once.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from appion.base.errors import UsageError
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.contract import MotionCorOptions, MotionCorStepOptions
from appion.motioncorrection.engines import ENGINES

if TYPE_CHECKING:
    from appion.motioncorrection.step import MotionCorrectionStep


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False) -> None:
    """The classic ``makeDDAlignMotionCor2_UCSF.py`` flags, plus the engine choice.

    In ``appion pipeline`` the engine flag is ``--motioncor-engine`` so that it does
    not collide with the CTF step's; every other flag keeps its classic name.
    """
    group = parser.add_argument_group("motion correction (classic makeDDAlignMotionCor2_UCSF)")
    engine_flags = ["--motioncor-engine"] if pipeline else ["--engine", "--motioncor-engine"]
    group.add_argument(*engine_flags, dest="mc_engine", choices=ENGINES.names,
                       default="motioncor2",
                       help="motion-correction engine (default motioncor2, as classic)")
    group.add_argument("--motioncor-exe", dest="mc_executable",
                       help="MotionCor2/MotionCor3 executable (default: the engine name "
                            "on PATH)")
    group.add_argument("--motioncor-timeout", dest="mc_timeout", type=float, default=1800.0,
                       help="seconds one movie may take")
    group.add_argument("--keepstack", dest="keepstack", action="store_true", default=False)
    group.add_argument("--no-keepstack", dest="keepstack", action="store_false")
    group.add_argument("--tempdir", dest="tempdir")
    group.add_argument("--stackid", dest="stackid", type=int)
    group.add_argument("--ddstartframe", dest="startframe", type=int, default=0)
    group.add_argument("--ddnframe", dest="nframe", type=int)
    group.add_argument("--alignlabel", dest="alignlabel", default="a")
    group.add_argument("--bin", dest="bin", type=float, default=1.0)
    group.add_argument("--alignoffset", dest="alignoffset", help=argparse.SUPPRESS)
    group.add_argument("--alignccbox", dest="alignccbox", help=argparse.SUPPRESS)
    group.add_argument("--doseweight", dest="doseweight", action="store_true", default=False)
    group.add_argument("--totaldose", dest="totaldose", type=float)
    for flag in ("--rawarea", "--useGS", "--square", "--compress", "--override_db",
                 "--flipgain", "--defergpu", "--force_cpu_flat"):
        group.add_argument(flag, dest=flag.lstrip("-"), action="store_true", default=False)
    group.add_argument("--no-cyclechannels", dest="cyclechannels", action="store_false",
                       default=True)
    group.add_argument("--framepath", dest="framepath",
                       help="read frames from this folder instead of the session's")
    group.add_argument("--refimgid", dest="refimgid", type=int)
    group.add_argument("--trim", dest="trim", type=int, default=0)
    group.add_argument("--clip", dest="clip", type=int)
    group.add_argument("--bad_cols", dest="bad_cols")
    group.add_argument("--bad_rows", dest="bad_rows")
    group.add_argument("--align", dest="align", action="store_true", default=False)
    group.add_argument("--gpuid", dest="gpuid", type=int, default=0)
    group.add_argument("--gpuids", dest="gpuids", default="0")
    group.add_argument("--nrw", dest="nrw", type=int, default=1)
    group.add_argument("--FmRef", dest="FmRef", type=int, default=0,
                       help="accepted; classic never sends it to MotionCor2")
    group.add_argument("--Iter", dest="Iter", type=int, default=7)
    group.add_argument("--Tol", dest="Tol", type=float, default=0.5)
    group.add_argument("--Patchrows", dest="Patchrows", type=int, default=0)
    group.add_argument("--Patchcols", dest="Patchcols", type=int, default=0)
    group.add_argument("--MaskCentrow", dest="MaskCentrow", type=float, default=0)
    group.add_argument("--MaskCentcol", dest="MaskCentcol", type=float, default=0)
    group.add_argument("--MaskSizecols", dest="MaskSizecols", type=float, default=1.0)
    group.add_argument("--MaskSizerows", dest="MaskSizerows", type=float, default=1.0)
    group.add_argument("--Bft_global", dest="Bft_global", type=float, default=500.0)
    group.add_argument("--Bft_local", dest="Bft_local", type=float, default=150.0)
    group.add_argument("--rendered_frame_size", dest="rendered_frame_size", type=int,
                       default=1)
    group.add_argument("--eer_sampling", dest="eer_sampling", type=int, default=1)
    if pipeline:
        group.add_argument("--ctf-on-dw", dest="ctf_on_dw", action="store_true", default=False,
                           help="estimate the CTF of the dose-weighted sum (-a-DW); by "
                                "default the next step gets the non-weighted -a sum, whose "
                                "power spectrum keeps the high-resolution Thon rings")


def step_options(namespace: argparse.Namespace) -> MotionCorStepOptions:
    """The step's typed options from parsed flags; a UsageError for bad values."""
    options = MotionCorStepOptions(
        motioncor=motioncor_options(namespace), engine=namespace.mc_engine,
        executable=namespace.mc_executable, timeout_s=namespace.mc_timeout,
        label=namespace.alignlabel, framepath=namespace.framepath, trim=namespace.trim,
        preset=getattr(namespace, "preset", None),
        hand_on_dw=bool(getattr(namespace, "ctf_on_dw", False)))
    check_options(options)
    return options


def motioncor_options(namespace: argparse.Namespace) -> MotionCorOptions:
    """The MotionCor2-shaping flags of a parsed command line."""
    return MotionCorOptions(
        bin=namespace.bin, doseweight=namespace.doseweight, totaldose=namespace.totaldose,
        ddstartframe=namespace.startframe, ddnframe=namespace.nframe,
        iterations=namespace.Iter, tolerance=namespace.Tol, patch_rows=namespace.Patchrows,
        patch_cols=namespace.Patchcols, mask_cent_row=namespace.MaskCentrow,
        mask_cent_col=namespace.MaskCentcol, mask_size_cols=namespace.MaskSizecols,
        mask_size_rows=namespace.MaskSizerows, bft_global=namespace.Bft_global,
        bft_local=namespace.Bft_local, nrw=namespace.nrw, gpuids=namespace.gpuids,
        force_cpu_flat=namespace.force_cpu_flat,
        rendered_frame_size=namespace.rendered_frame_size,
        eer_sampling=namespace.eer_sampling)


def check_options(options: MotionCorStepOptions) -> None:
    """Classic's fatal checks on the flags, and resource limits (UsageError)."""
    ENGINES.get_engine(options.engine)
    flags = options.motioncor
    P.check_bin(flags.bin)
    P.check_patches(flags.patch_cols, flags.patch_rows)
    P.check_count(flags.iterations, "--Iter", 1, P.MAX_ITERATIONS)
    P.check_count(flags.nrw, "--nrw", 1, P.MAX_GROUP)
    if not flags.tolerance > 0:
        raise UsageError(f"--Tol {flags.tolerance:g} must be positive")
    if flags.bft_global <= 0 or flags.bft_local <= 0:
        raise UsageError(f"--Bft_global {flags.bft_global:g} and --Bft_local "
                         f"{flags.bft_local:g} must both be positive")
    if flags.rendered_frame_size < 1 or flags.eer_sampling < 1:
        raise UsageError("--rendered_frame_size and --eer_sampling must be at least 1")


def make_step(namespace: argparse.Namespace) -> MotionCorrectionStep:
    """The step for parsed flags (``appion pipeline`` and the classic drop-in); the step's
    module, which reaches the database, is imported only here."""
    from appion.motioncorrection.step import MotionCorrectionStep
    return MotionCorrectionStep(step_options(namespace))


__all__ = ["add_options", "check_options", "make_step", "motioncor_options", "step_options"]
