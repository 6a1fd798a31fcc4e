"""``appion motioncor``: motion-correct one movie with the built-in engine, no database."""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "motioncor", help="motion-correct one movie with the built-in engine",
        description="Align and sum one movie (MRC, TIFF or EER) on the CPU; writes OUT.mrc "
                    "and, with a dose, OUT_DW.mrc.  Flags follow MotionCor2's meaning.")
    parser.add_argument("movie", help="movie file (.mrc/.mrcs, .tif/.tiff, .eer)")
    parser.add_argument("--out", required=True, help="aligned sum (MRC)")
    parser.add_argument("--gain", help="gain (norm) reference, MRC or TIFF, Leginon orientation")
    parser.add_argument("--dark", help="dark reference, same orientation as the gain")
    parser.add_argument("--rot-gain", type=int, default=0, choices=(0, 1, 2, 3),
                        help="rotate the gain k×90° like MotionCor2's -RotGain (counter-"
                             "clockwise with y up; clockwise with row 0 drawn on top)")
    parser.add_argument("--flip-gain", type=int, default=0, choices=(0, 1, 2),
                        help="then flip it: 1 upside down, 2 left-right (-FlipGain)")
    parser.add_argument("--defect-map", help="defect map (non-zero = bad) in frame orientation")
    parser.add_argument("--patch", type=int, nargs=2, default=(0, 0), metavar=("COLS", "ROWS"))
    parser.add_argument("--bft", type=float, nargs=2, default=(500.0, 150.0),
                        metavar=("GLOBAL", "LOCAL"), help="B-factors in Å² (-Bft)")
    parser.add_argument("--iter", type=int, default=7, help="iteration limit (-Iter)")
    parser.add_argument("--tol", type=float, default=0.5, help="tolerance in pixels (-Tol)")
    parser.add_argument("--ftbin", type=float, default=1.0, help="Fourier binning of the sums")
    parser.add_argument("--group", type=int, default=1, help="frames per alignment group")
    parser.add_argument("--throw", type=int, default=0, help="frames dropped at the start")
    parser.add_argument("--trunc", type=int, default=0, help="frames dropped at the end")
    parser.add_argument("--dose-per-frame", type=float, help="e/Å² per frame: dose weighting")
    parser.add_argument("--apix", type=float, help="pixel size of the movie, Å")
    parser.add_argument("--kv", type=int, default=300, help="accelerating voltage, kV")
    parser.add_argument("--eer-sampling", type=int, default=1, choices=(1, 2, 3))
    parser.add_argument("--eer-group", type=int, default=1,
                        help="EER raw frames per rendered frame without an FmIntFile")
    parser.add_argument("--fmintfile", help="MotionCor2 FmIntFile (EER frame grouping)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--threads", type=int, help="CPU threads (default: all)")
    parser.add_argument("--log", help="also write the MotionCor2-style log here")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def check_arguments(args: argparse.Namespace) -> None:
    """Outputs that are not the inputs, and options within their resource limits."""
    from appion.base.files import check_output_file
    from appion.motioncorrection.calc.internal import params as P
    inputs = (args.movie, args.gain, args.dark, args.defect_map, args.fmintfile)
    check_output_file(args.out, "--out", inputs)
    if args.log:
        check_output_file(args.log, "--log", (*inputs, args.out))
    P.check_bin(args.ftbin, "--ftbin")
    cols, rows = args.patch
    P.check_patches(cols, rows, flags="--patch")
    P.check_count(args.iter, "--iter", 1, P.MAX_ITERATIONS)
    P.check_count(args.group, "--group", 1, P.MAX_GROUP)


def run(args: argparse.Namespace) -> int:
    from appion.base.errors import UsageError
    from appion.base.files import write_text
    from appion.motioncorrection.contract import MotionCorParameters
    from appion.motioncorrection.engines import ENGINES
    from appion.motioncorrection.engines.builtin import Builtin
    from appion.motioncorrection.engines.movie_io import movie_format

    check_arguments(args)
    dose_weight = args.dose_per_frame is not None
    if dose_weight and args.apix is None:
        raise UsageError("--dose-per-frame needs --apix (and --kv) for dose weighting")
    params = MotionCorParameters(
        input_path=args.movie, input_format=movie_format(args.movie), output_path=args.out,
        gain_path=args.gain, dark_path=args.dark, defect_map_path=args.defect_map,
        fmintfile_path=args.fmintfile, dose_weight=dose_weight, fm_dose=args.dose_per_frame,
        pixel_size_a=args.apix, kv=args.kv, throw=args.throw, trunc=args.trunc,
        patch=tuple(args.patch), iterations=args.iter, tolerance=args.tol,
        bfactor=tuple(args.bft), ft_bin=args.ftbin, group=args.group,
        rot_gain=args.rot_gain, flip_gain=args.flip_gain, eer_sampling=args.eer_sampling,
        rendered_frame_size=args.eer_group)
    engine = ENGINES["builtin"]
    assert isinstance(engine, Builtin)
    result = engine.correct(params, device=args.device, threads=args.threads)
    if args.log:
        write_text(args.log, result.log_text)
    if args.json:
        print(json.dumps({
            "movie": args.movie, "aligned_path": result.aligned_path,
            "aligned_dw_path": result.aligned_dw_path, "engine": result.engine,
            "engine_version": result.engine_version, "ft_bin": result.ft_bin,
            "elapsed_s": round(result.elapsed_s, 3),
            "shifts_px": [list(shift) for shift in result.shifts_px]}))
    else:
        log.info("aligned sum %s (%d frames, %.1f s)", result.aligned_path,
                 len(result.shifts_px), result.elapsed_s)
    return 0
