"""A movie that arrives after its database row (frame-transfer lag) is waited for.

"Not there yet" is not "failed": the image is looked at again, without counting
attempts, for at most ``--input-wait`` seconds; only then is it recorded (marked
``not_ready``), and a restart waits for it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

import sinedon
from tests.cli.test_pipeline import WAIT_S, stop, wait_for
from tests.motioncorrection.session import NFRAMES, SHAPE, make_session

LAG_S = 3


def _command(tmp_path: Path, *flags: str) -> list[str]:
    appion = Path(sys.executable).parent / "appion"
    return [str(appion), "pipeline", "--projectid", "1", "--session", "s1", "--preset", "enn",
            "--rundir", str(tmp_path / "late"), "--runname", "late", "--steps", "motioncor",
            "--motioncor-engine", "builtin", "--max-workers", "1", "--poll-interval", "0.3",
            "--retries", "1", "--retry-delay", "0.1", *flags]


def _done_sources() -> set[int]:
    run = sinedon.get("ApDDStackRunData", {"runname": "late"})
    if run is None:
        return set()
    return {row["source"] for row in sinedon.filter("ApDDAlignImagePairData",
                                                    {"ddstackrun": run["id"]})}


def _write_movie(tiny, number: int) -> None:
    """The movie ``make_session`` would have written, placed at once (renamed)."""
    frames = np.random.default_rng(number).poisson(3.0, (NFRAMES, SHAPE[1], SHAPE[0]))
    target = tiny.frame_path / f"{tiny.names[number]}.frames.tif"
    partial = target.with_name(".partial-" + target.name)
    tifffile.imwrite(partial, frames.astype(np.uint8))
    os.replace(partial, target)


def _failed_ids(tmp_path: Path) -> list[int]:
    path = tmp_path / "late" / "failed.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["image_id"] for line in path.read_text().splitlines()]


def test_a_movie_written_after_its_row_is_processed(sqlite_db, tmp_path):
    sqlite_db.setup()
    tiny = make_session(tmp_path / "site", 2, missing_frames=1)
    process = subprocess.Popen(_command(tmp_path, "--input-wait", "120"), env=sqlite_db.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: tiny.image_ids[0] in _done_sources(), "the first movie", process)
        time.sleep(LAG_S)  # the late movie lands while the controller waits for it
        _write_movie(tiny, 1)
        wait_for(lambda: tiny.image_ids[1] in _done_sources(), "the late movie", process)
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr[-3000:]
    assert _done_sources() == set(tiny.image_ids)
    assert _failed_ids(tmp_path) == []
    assert "waits for its input" in stderr


def test_a_movie_given_up_on_is_waited_for_again_after_a_restart(sqlite_db, tmp_path):
    sqlite_db.setup()
    tiny = make_session(tmp_path / "site", 2, missing_frames=1)
    first = subprocess.run(_command(tmp_path, "--no-wait", "--input-wait", "0"),
                           env=sqlite_db.env, capture_output=True, text=True, timeout=WAIT_S)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _failed_ids(tmp_path) == [tiny.image_ids[1]]  # the bound expired: recorded
    _write_movie(tiny, 1)
    again = subprocess.run(_command(tmp_path, "--no-wait"), env=sqlite_db.env,
                           capture_output=True, text=True, timeout=WAIT_S)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _done_sources() == set(tiny.image_ids)


def test_with_no_wait_a_missing_movie_is_left_for_later_not_failed(sqlite_db, tmp_path):
    sqlite_db.setup()
    tiny = make_session(tmp_path / "site", 2, missing_frames=1)
    first = subprocess.run(_command(tmp_path, "--no-wait"), env=sqlite_db.env,
                           capture_output=True, text=True, timeout=WAIT_S)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _done_sources() == {tiny.image_ids[0]}
    assert _failed_ids(tmp_path) == []
    assert f"{tiny.names[1]}.frames" in first.stderr and "left for a later run" in first.stderr
