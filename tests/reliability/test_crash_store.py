"""A motion-correction store cut by a crash between any two of its statements, then run
again (a restart), leaves each aligned image once: no ``_v01`` row or file, none lost.

The crash is injected by counting the store's database calls and file placements and
raising after the N-th; the second store gets new bytes for the same aligned sums, as
a re-run on a worker writes (an MRC header holds its creation time).
"""

from __future__ import annotations

import os
from pathlib import Path

import mrcfile
import numpy as np
import pytest

import sinedon
from appion.motioncorrection.retrieve.metadata import load_image_metadata
from appion.motioncorrection.store import results
from tests.motioncorrection.session import SHAPE, make_session


class Crash(Exception):
    """The process dies here."""


class _Counting:
    """``sinedon`` as the store sees it, dying after ``limit`` statements."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.calls = 0

    def count(self) -> None:
        self.calls += 1
        if self.limit is not None and self.calls >= self.limit:
            raise Crash(f"crash after statement {self.calls}")

    def wrap(self, function):
        def statement(*args, **kwargs):
            value = function(*args, **kwargs)
            self.count()
            return value
        return statement

    def __getattr__(self, name: str):
        value = getattr(sinedon, name)
        return self.wrap(value) if callable(value) and name[0].islower() else value


def _write_sum(path: Path, seed: int) -> str:
    data = np.random.default_rng(seed).normal(size=SHAPE).astype(np.float32)
    partial = path.with_name(".new-" + path.name)
    with mrcfile.new(partial, overwrite=True) as out:
        out.set_data(data)
    os.replace(partial, path)  # a new file, as the worker's atomic writer makes
    return str(path)


def _store(meta, run_id: int, rundir: Path, seed: int) -> list[int]:
    name = meta.image["filename"]
    return results.store_aligned(
        meta, ddstackrun_id=run_id,
        aligned_path=_write_sum(rundir / f"{name}_c.mrc", seed),
        aligned_dw_path=_write_sum(rundir / f"{name}_c_DW.mrc", seed + 1),
        shifts_px=[(0.0, 0.0), (1.0, 0.5), (2.0, 1.0)], ft_bin=1.0, bin_factor=1.0,
        apix=1.0)


def _store_with_crash(monkeypatch, meta, run_id, rundir, limit: int | None) -> int:
    counting = _Counting(limit)
    monkeypatch.setattr(results, "sinedon", counting)
    monkeypatch.setattr(results, "_place", counting.wrap(results._place))
    try:
        _store(meta, run_id, rundir, seed=1)
    except Crash:
        pass
    finally:
        monkeypatch.undo()
    return counting.calls


def _aligned_rows(session_id: int, name: str) -> list[str]:
    return sorted(row["filename"] for row in sinedon.filter(
        "AcquisitionImageData", {"session": session_id, "filename__startswith": name + "-"}))


def test_a_crash_between_any_two_store_statements_then_a_restart_duplicates_nothing(
        db, tmp_path, monkeypatch):
    db.setup()
    probe = make_session(tmp_path / "probe", 1)
    rundir = tmp_path / "run"
    rundir.mkdir()
    run_id = results.save_run(runname="crash", rundir=str(rundir), session_id=probe.session_id,
                              preset_name="enn", bin_factor=1.0, engine="builtin")
    meta = load_image_metadata(probe.image_ids)[probe.image_ids[0]]
    statements = _store_with_crash(monkeypatch, meta, run_id, rundir, None)
    assert statements > 8

    outcomes = {}
    for limit in range(1, statements + 1):
        tiny = make_session(tmp_path / f"crash{limit}", 1)
        meta = load_image_metadata(tiny.image_ids)[tiny.image_ids[0]]
        name = meta.image["filename"]
        run_dir = tmp_path / f"run{limit}"
        run_dir.mkdir()
        run = results.save_run(runname="crash", rundir=str(run_dir),
                               session_id=tiny.session_id, preset_name="enn",
                               bin_factor=1.0, engine="builtin")
        _store_with_crash(monkeypatch, meta, run, run_dir, limit)
        stored = _store(meta, run, run_dir, seed=2)  # the restart: new bytes, same image
        pairs = sinedon.filter("ApDDAlignImagePairData", {"source": meta.image_id,
                                                          "ddstackrun": run})
        files = sorted(os.listdir(tiny.image_path))
        latest = np.random.default_rng(2).normal(size=SHAPE).astype(np.float32)
        current = np.array_equal(mrcfile.read(tiny.image_path / f"{name}-a.mrc"), latest)
        outcomes[limit] = (_aligned_rows(tiny.session_id, name), files, len(pairs), current)
        assert sorted(p["result"] for p in pairs) == sorted(stored)
    n = probe.names[0]  # every crash session names its exposure the same
    wanted = ([f"{n}-a", f"{n}-a-DW"], [f"{n}-a-DW.mrc", f"{n}-a.mrc"], 2, True)
    wrong = {limit: got for limit, got in outcomes.items() if got != wanted}
    assert not wrong, f"{len(wrong)} of {len(outcomes)} crash points duplicated or lost: {wrong}"
    assert not [marker for limit in outcomes
                for marker in (tmp_path / f"run{limit}" / results.MARKER_FOLDER).glob("*")]


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".."])
def test_a_marker_name_from_the_database_must_be_a_plain_file_name(tmp_path, bad):
    from appion.base.errors import InputFileError
    with pytest.raises(InputFileError):
        results.read_marker(str(tmp_path), bad, 1)
