"""The motion STAR of a movie is the same whichever engine aligned it.

The (fake) MotionCor2 replays, for each movie, the shifts the built-in engine found
(its 1.6.4 table); both runs are stored by their own engine paths and exported from
the classic tables, and RELION's shifts must agree (to the log's 0.001 px), and match
the built-in engine's own log.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import starfile

from tests.export.processed import appion, motioncor

REPLAY = Path(__file__).parent / "fakes" / "replay_motioncor.py"


def _engine_shifts(rundir: Path) -> dict[str, list]:
    from appion.motioncorrection.engines.motioncor import parse_shifts
    found = {}
    for log in rundir.glob("*_st_Log.builtin.txt"):
        name = log.name.removesuffix("_st_Log.builtin.txt")
        found[name] = [list(shift) for shift in parse_shifts(log.read_text())]
    return found


def _fake_env(processed, tmp_path: Path, shifts: dict[str, list]) -> dict:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "motioncor2"
    script.write_text(f"#!/bin/sh\nexport FAKE_MOTIONCOR_PROGRAM=MotionCor2\n"
                      f"exec '{sys.executable}' '{REPLAY}' \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    movies = {f"{name}.frames.tif": value for name, value in shifts.items()}
    (tmp_path / "shifts.json").write_text(json.dumps(movies))
    env = dict(processed.db.env)
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"
    env["REPLAY_SHIFTS"] = str(tmp_path / "shifts.json")
    return env


def _global_shifts(out: Path) -> dict[str, np.ndarray]:
    table = starfile.read(out / "corrected_micrographs.star")["micrographs"]
    found = {}
    for path in table.rlnMicrographMetadata:
        motion = starfile.read(out / path)["global_shift"]
        found[Path(path).stem] = motion[["rlnMicrographShiftX", "rlnMicrographShiftY"]].to_numpy()
    return found


def test_builtin_and_motioncor2_give_the_same_relion_shifts(processed, tmp_path):
    engine = _engine_shifts(processed.motion_rundir)
    assert len(engine) == len(processed.session.images)
    motioncor(processed.db, processed.root, runname="ddstack2", engine="motioncor2",
              env=_fake_env(processed, tmp_path, engine))
    exported = {}
    for run in ("ddstack1", "ddstack2"):
        out = tmp_path / run
        done = appion(["export", "relion", "--session", "sim25feb02x", "--run", run, "--all",
                       "--out", str(out)], processed.db)
        assert done.returncode == 0, done.stderr
        exported[run] = _global_shifts(out)
    assert exported["ddstack1"].keys() == exported["ddstack2"].keys() == engine.keys()
    for name, builtin in exported["ddstack1"].items():
        assert np.abs(builtin).max() > 0.1  # real motion, not zero
        assert np.allclose(builtin, exported["ddstack2"][name], atol=2e-3)
        own = np.asarray(engine[name])
        assert np.allclose(builtin, own - own[0], atol=2e-3)  # the engine's own log
