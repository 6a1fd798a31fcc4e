"""A Leginon-like session in the test databases: rows only, no movies.

The controller and the no-op step read only ``SessionData``, ``PresetData`` and
``AcquisitionImageData``; a live session is simulated by inserting more image rows
while a controller runs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import sinedon

from appion.base.cli.classic_options import (ClassicArgumentParser, add_loop_options,
                                             add_script_options)
from appion.base.loop import add_runtime_options


@dataclass
class FakeSession:
    """A session with one ``enn`` preset; ``add_images`` inserts exposures."""

    name: str
    id: int
    preset_id: int
    count: int = 0

    def add_images(self, number: int, preset_id: int | None = None) -> list[int]:
        ids = []
        for _ in range(number):
            self.count += 1
            ids.append(sinedon.insert("AcquisitionImageData", {
                "session": self.id, "preset": preset_id or self.preset_id,
                "filename": f"{self.name}_{self.count:05d}_enn", "label": "enn"}))
        return ids

    def bulk_add(self, number: int) -> None:
        """Many rows at once (benchmarks): one ``bulk_create``."""
        model = sinedon.model_for("AcquisitionImageData")
        rows = []
        for _ in range(number):
            self.count += 1
            rows.append(model(session=self.id, preset=self.preset_id, label="enn",
                              filename=f"{self.name}_{self.count:05d}_enn"))
        model.objects.using(sinedon.LEGINON).bulk_create(rows, batch_size=2000)


def make_session(tmp_path: Path, name: str = "24nov26z") -> FakeSession:
    image_path = tmp_path / "leginon" / name / "rawdata"
    image_path.mkdir(parents=True, exist_ok=True)
    session_id = sinedon.insert("SessionData", {"name": name, "image_path": str(image_path)})
    preset_id = sinedon.insert("PresetData", {"session": session_id, "name": "enn"})
    return FakeSession(name, session_id, preset_id)


def pipeline_options(args: list[str]) -> argparse.Namespace:
    """The options ``appion pipeline`` would parse (classic + runtime flags)."""
    parser = ClassicArgumentParser(prog="test")
    add_script_options(parser, procdir="pipeline")
    add_loop_options(parser)
    add_runtime_options(parser)
    return parser.parse_args(args)


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
