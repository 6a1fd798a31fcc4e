"""Insert small Leginon-like sessions row by row, for selection and run tests."""

from __future__ import annotations

import argparse
import math

import sinedon
from appion.base.run import RunRequest
from appion.base.selection import ImageSelection
from appion.cli.classic_options import (
    ClassicArgumentParser,
    add_loop_options,
    add_script_options,
    image_selection,
    run_inputs,
)


def make_session(name: str = "25jan01a", image_path: str = "/data/leginon/25jan01a/rawdata"
                 ) -> int:
    return sinedon.insert("SessionData", {"name": name, "image_path": image_path})


def make_preset(session_id: int, name: str) -> int:
    return sinedon.insert("PresetData", {"session": session_id, "name": name})


def make_image(session_id: int, filename: str, *, preset_id: int | None = None,
               tilt_degrees: float = 0.0) -> int:
    scope_id = sinedon.insert("ScopeEMData", {"session": session_id,
                                              "stage_position_a": math.radians(tilt_degrees)})
    return sinedon.insert("AcquisitionImageData", {
        "session": session_id, "preset": preset_id, "scope": scope_id,
        "filename": filename, "image": f"{filename}.mrc"})


def set_viewer_status(session_id: int, image_id: int, status: str | None) -> int:
    return sinedon.insert("ViewerImageStatus", {"session": session_id, "image": image_id,
                                                "status": status})


def assess(session_id: int, image_id: int, keep: bool, run_name: str = "run1") -> int:
    run_id = sinedon.set("ApAssessmentRunData", {"session": session_id, "name": run_name})
    return sinedon.insert("ApAssessmentData", {"assessmentrun": run_id, "image": image_id,
                                               "selectionkeep": keep})


def classic_parser(procdir: str = "ddstack") -> argparse.ArgumentParser:
    parser = ClassicArgumentParser(prog="makeDDAlignMotionCor2_UCSF.py")
    add_script_options(parser, procdir=procdir)
    add_loop_options(parser, reprocess=False)
    parser.add_argument("--bin", dest="bin", type=float, default=1.0)
    parser.add_argument("--align", dest="align", action="store_true", default=False)
    return parser


def parse(args: list[str], procdir: str = "ddstack") -> argparse.Namespace:
    return classic_parser(procdir).parse_args(args)


def selection(args: list[str], procdir: str = "ddstack") -> ImageSelection:
    """The image selection of classic flags."""
    return image_selection(parse(args, procdir))


def inputs(args: list[str], procdir: str = "ddstack", *, with_parser: bool = True,
           dry_run: bool = False) -> tuple[RunRequest, ImageSelection]:
    """The run request and image selection of classic flags, as a drop-in builds them."""
    parser = classic_parser(procdir)
    options = parser.parse_args(args)
    if dry_run:
        options.dry_run = True
    return run_inputs(options, parser if with_parser else None)
