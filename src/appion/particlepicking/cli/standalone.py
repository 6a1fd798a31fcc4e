"""``appion pick MICROGRAPH``: pick one micrograph, no database.

Takes the classic picking flags (``--diam``, ``--bin``, ``--thresh`` …) and the
micrograph's pixel size; runs the worker's own function.  ``--json`` prints one
object: ``micrograph``, ``engine``, ``binning`` and ``picks``, a list of ``{"x",
"y", "score", "diameter_A"}`` (unbinned pixels, x the column); without it, one
line ``x y score`` per particle.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``appion pick`` to the ``appion`` command."""
    from appion.particlepicking.cli import options
    from appion.particlepicking.engines import ENGINES
    parser = subparsers.add_parser(
        "pick", help="pick particles on one micrograph (no database)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("micrograph", help="MRC micrograph")
    parser.add_argument("--apix", type=float, required=True, help="pixel size (Å)")
    parser.add_argument("--engine", dest="pick_engine", choices=ENGINES.names, default="dog",
                        help="picking engine (default dog)")
    parser.add_argument("--bin", dest="bin", type=int, default=4,
                        help="binning for picking (default 4)")
    group = parser.add_argument_group("picking (classic dogPicker.py flags)")
    options.add_picking_flags(group, parser)
    parser.add_argument("--topaz-model", dest="topaz_model", default="resnet16")
    parser.add_argument("--topaz-threshold", dest="topaz_threshold", type=float, default=-3.0)
    parser.add_argument("--device", dest="pick_device", choices=options.DEVICES,
                        default="auto")
    parser.add_argument("--output-dir", dest="output_dir",
                        help="folder for the engine's diagnostics (default: none kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from appion.base.errors import InputFileError, UsageError
    from appion.particlepicking.cli.options import step_options
    from appion.particlepicking.contract import PickTask
    from appion.particlepicking.worker import run_task

    path = Path(args.micrograph)
    if not path.is_file():
        raise InputFileError(f"micrograph {args.micrograph} not found; check the path")
    if not args.apix > 0:
        raise UsageError(f"--apix {args.apix} must be a positive pixel size in Å")
    options = step_options(args)
    with tempfile.TemporaryDirectory(prefix="appion-pick-") as scratch:
        task = PickTask(image_id=0, engine=options.engine, micrograph_path=str(path),
                        pixel_size_a=args.apix, options=options,
                        output_dir=args.output_dir or scratch, name=path.stem)
        result = run_task(task)
    _print(args, result)
    return 0


def _print(args: argparse.Namespace, result: Any) -> None:
    picks = [{"x": round(pick.x, 2), "y": round(pick.y, 2), "score": round(pick.score, 6),
              "diameter_A": round(pick.diameter_a, 2)} for pick in result.picks]
    if args.json:
        print(json.dumps({"micrograph": args.micrograph, "engine": result.engine,
                          "binning": result.binning, "picks": picks}))
        return
    for pick in picks:
        print(f"{pick['x']:.1f} {pick['y']:.1f} {pick['score']:.4f}")
