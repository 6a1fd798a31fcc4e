"""Rows-only Leginon sessions, runs of ``appion pipeline`` flags and the no-op step's
rows, for the controller tests."""

from __future__ import annotations

import argparse
from pathlib import Path

from appion_test_steps.rows import RowsSession, start_rows_session

import sinedon
from appion.base.loop import RuntimeSettings
from appion.base.run import RunRequest, prepare_run
from appion.base.selection import ImageSelection
from appion.base.step import RunContext
from appion.cli.classic_options import image_selection, run_inputs
from appion.cli.pipeline import parse_pipeline_options
from appion.cli.runtime_options import runtime_settings


def make_session(tmp_path: Path, name: str = "24nov26z") -> RowsSession:
    return start_rows_session(tmp_path, name)


def pipeline_options(args: list[str]) -> argparse.Namespace:
    """The options ``appion pipeline`` would parse (classic + runtime flags)."""
    return parse_pipeline_options(args, prog="test")


def pipeline_selection(args: list[str]) -> ImageSelection:
    """The image selection of ``appion pipeline`` flags."""
    return image_selection(pipeline_options(args))


def pipeline_inputs(args: list[str]) -> tuple[RunRequest, ImageSelection, RuntimeSettings]:
    """The typed values ``appion pipeline`` builds from its flags."""
    options = pipeline_options(args)
    return (*run_inputs(options), runtime_settings(options))


def start_run(args: list[str], steps: list[str], program: str = "appion-pipeline"
              ) -> tuple[RunContext, RuntimeSettings]:
    """A run prepared from ``appion pipeline`` flags, and its runtime settings."""
    request, selection, settings = pipeline_inputs(args)
    return prepare_run(request, selection, step_names=steps, program=program), settings


def pair_rows(runname: str, method: str = "appion-noop") -> list[int]:
    """Source image ids of the no-op step's rows for ``runname`` (duplicates kept)."""
    params = sinedon.get("ApDDStackParamsData", {"method": method})
    if params is None:
        return []
    run = sinedon.get("ApDDStackRunData", {"runname": runname, "params": params["id"]})
    if run is None:
        return []
    return [row["source"] for row in sinedon.filter("ApDDAlignImagePairData",
                                                    {"ddstackrun": run["id"]},
                                                    fields=["source"])]
