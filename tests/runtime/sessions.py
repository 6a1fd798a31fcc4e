"""Rows-only Leginon sessions and the no-op step's rows, for the controller tests."""

from __future__ import annotations

import argparse
from pathlib import Path

import sinedon

from appion.cli.pipeline import parse_pipeline_options
from appion.simulation.rows import RowsSession, start_rows_session


def make_session(tmp_path: Path, name: str = "24nov26z") -> RowsSession:
    return start_rows_session(tmp_path, name)


def pipeline_options(args: list[str]) -> argparse.Namespace:
    """The options ``appion pipeline`` would parse (classic + runtime flags)."""
    return parse_pipeline_options(args, prog="test")


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
