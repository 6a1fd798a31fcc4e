"""Garbage numbers in gains and movies fail their exposure with one line; the others complete.

One tiny session holds a good exposure next to one exposure per kind of garbage
(NaN, Inf and all-zero gains, NaN and Inf pixels in MRC movies, an all-zero TIFF, a
TIFF and an EER cut in the middle of a frame).  ``makeDDAlignMotionCor2_UCSF.py``
runs it through the real entry point: every bad exposure is recorded failed at once
(not retried) with its reason, gets no aligned image, no pair row and no file in the
image path or the run directory, and the good exposures are stored as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import tifffile

import sinedon
from tests.motioncorrection.conftest import fake_bin  # noqa: F401  (a fixture)
from tests.motioncorrection.session import NFRAMES, SHAPE, TinySession, make_session

FRAME_SHAPE = (SHAPE[1], SHAPE[0])  # the session's camera rotates frames by 90°


def _frames(number: int) -> np.ndarray:
    return np.random.default_rng(number).poisson(3.0, (NFRAMES, *FRAME_SHAPE))


def _write_mrc(path: Path, data: np.ndarray) -> None:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)


def _own_gain(tiny: TinySession, index: int, gain: np.ndarray) -> None:
    """Give exposure ``index`` a norm reference of its own holding ``gain``."""
    ref = tiny.image_path.parent.parent / "ref" / "rawdata"
    name = f"bad_norm_{index}"
    _write_mrc(ref / f"{name}.mrc", gain.astype(np.float32))
    session = sinedon.get("SessionData", {"name": "ref"})
    norm = sinedon.insert("NormImageData", {"session": session["id"], "image": f"{name}.mrc",
                                            "filename": name})
    sinedon.update("AcquisitionImageData", tiny.image_ids[index], {"norm": norm})


def _replace_frames(tiny: TinySession, index: int, suffix: str) -> Path:
    """Remove exposure ``index``'s TIFF frames; the path its new frames file should take."""
    (tiny.frame_path / f"{tiny.names[index]}.frames.tif").unlink()
    return tiny.frame_path / f"{tiny.names[index]}.frames{suffix}"


def _gain_with(value: float, everywhere: bool = False) -> Callable:
    def corrupt(tiny: TinySession, index: int) -> None:
        gain = np.random.default_rng(1).uniform(0.9, 1.1, SHAPE)
        if everywhere:
            gain[:] = value
        else:
            gain[7, 9] = value
        _own_gain(tiny, index, gain)
    return corrupt


def _mrc_movie_with(value: float, whole_frame: bool = False) -> Callable:
    def corrupt(tiny: TinySession, index: int) -> None:
        frames = _frames(index).astype(np.float32)
        if whole_frame:
            frames[2] = value
        else:
            frames[3, 10, 20] = value
        _write_mrc(_replace_frames(tiny, index, ".mrc"), frames)
    return corrupt


def _zero_tiff(tiny: TinySession, index: int) -> None:
    path = _replace_frames(tiny, index, ".tif")
    tifffile.imwrite(path, np.zeros((NFRAMES, *FRAME_SHAPE), np.uint8))


def _truncated_tiff(tiny: TinySession, index: int) -> None:
    path = tiny.frame_path / f"{tiny.names[index]}.frames.tif"
    tifffile.imwrite(path, _frames(index).astype(np.uint8), compression="lzw")
    _truncate(path, 0.6)


def _truncated_eer(tiny: TinySession, index: int) -> None:
    from appion.simulation import eer
    rng = np.random.default_rng(index)
    rows, cols = FRAME_SHAPE
    frames = [eer.frame_from_coordinates(rng.uniform(0, cols, 200), rng.uniform(0, rows, 200),
                                         FRAME_SHAPE) for _ in range(2 * NFRAMES)]
    path = _replace_frames(tiny, index, ".eer")
    eer.write_eer(path, frames, shape=FRAME_SHAPE,
                  metadata={"exposureTime": 1.5, "numberOfFrames": len(frames)})
    _cut_in_strip(path, NFRAMES)


def _truncate(path: Path, fraction: float) -> None:
    with open(path, "r+b") as stream:
        stream.truncate(int(path.stat().st_size * fraction))


def _cut_in_strip(path: Path, page: int) -> None:
    """Cut a TIFF/EER file in the middle of page ``page``'s (0-based) pixel data."""
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[page].dataoffsets[0], tif.pages[page].databytecounts[0]
    with open(path, "r+b") as stream:
        stream.truncate(offset + count // 2)


#: Exposure 0 stays good; the others get one kind of garbage each, and the words of
#: the line that must explain it.
CASES: list[tuple[str, Callable, str]] = [
    ("NaN gain pixel", _gain_with(np.nan), "gain reference"),
    ("Inf gain pixel", _gain_with(np.inf), "gain reference"),
    ("all-zero gain", _gain_with(0.0, everywhere=True), "not a positive gain"),
    ("NaN movie pixel", _mrc_movie_with(np.nan), "NaN or infinite"),
    ("Inf movie frame", _mrc_movie_with(np.inf, whole_frame=True), "frame 3"),
    ("all-zero TIFF movie", _zero_tiff, "holds no image"),
    ("truncated TIFF movie", _truncated_tiff, "truncated"),
    ("truncated EER movie", _truncated_eer, "truncated"),
]


def _garbage_session(root: Path) -> TinySession:
    tiny = make_session(root, len(CASES) + 2)
    for number, (_, corrupt, _) in enumerate(CASES, start=1):
        corrupt(tiny, number)
    return tiny


def _argv(tmp_path: Path, db, *extra: str) -> list[str]:
    return ["makeDDAlignMotionCor2_UCSF.py", "--session=s1", "--preset=enn",
            f"--projectid={db.projectid}", f"--rundir={tmp_path / 'run'}", "--runname=run",
            "--doseweight", "--no-wait", "--max-workers=1", *extra]


def _failures(rundir: Path) -> dict[int, str]:
    lines = (rundir / "failed.jsonl").read_text().splitlines()
    return {record["image_id"]: record["error"] for record in map(json.loads, lines)}


def _check_outcome(tiny: TinySession, rundir: Path, good: list[int]) -> dict[int, str]:
    """Good exposures stored, bad ones failed with nothing left behind; the failures."""
    run = sinedon.get("ApDDStackRunData", {"runname": "run"})
    pairs = sinedon.filter("ApDDAlignImagePairData", {"ddstackrun": run["id"]})
    assert sorted({pair["source"] for pair in pairs}) == sorted(tiny.image_ids[i] for i in good)
    failures = _failures(rundir)
    bad = [i for i in range(len(tiny.image_ids)) if i not in good]
    assert sorted(failures) == sorted(tiny.image_ids[i] for i in bad)
    for index in bad:
        name = tiny.names[index]
        assert not list(tiny.image_path.glob(f"{name}-a*")), name
        assert not list(rundir.glob(f"{name}_c*.mrc")), name
        assert sinedon.get("AcquisitionImageData", {"filename": f"{name}-a"}) is None
    for index in good:
        with mrcfile.open(tiny.image_path / f"{tiny.names[index]}-a.mrc") as mrc:
            assert np.isfinite(mrc.data).all() and np.ptp(mrc.data) > 0
    return failures


def test_builtin_engine_fails_each_garbage_exposure_alone(db, cli, tmp_path):
    tiny = _garbage_session(tmp_path / "site")
    done = cli(_argv(tmp_path, db, "--engine=builtin"), env=db.env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    good = [0, len(CASES) + 1]
    failures = _check_outcome(tiny, tmp_path / "run", good)
    for number, (label, _, words) in enumerate(CASES, start=1):
        error = failures[tiny.image_ids[number]]
        assert error.startswith("InputFileError: ") and "\n" not in error, (label, error)
        assert words in error, (label, error)
    # recorded at once: not retryable, one attempt each
    records = [json.loads(line) for line in (tmp_path / "run" / "failed.jsonl").open()]
    assert {record["attempts"] for record in records} == {1}


def test_motioncor2_sums_of_garbage_are_refused_and_removed(sqlite_db, cli, tmp_path,
                                                           fake_bin):  # noqa: F811
    tiny = make_session(tmp_path / "site", 4)
    _gain_with(np.nan)(tiny, 1)
    _zero_tiff(tiny, 2)
    env = {**sqlite_db.env, "PATH": f"{fake_bin}:{sqlite_db.env['PATH']}"}
    done = cli(_argv(tmp_path, sqlite_db), env=env)
    assert done.returncode == 0, done.stderr
    failures = _check_outcome(tiny, tmp_path / "run", [0, 3])
    for index, words in ((1, "NaN or infinite"), (2, "is constant (0 everywhere)")):
        error = failures[tiny.image_ids[index]]
        assert error.startswith("InputFileError: the motioncor2 sum ") and words in error, error


@pytest.mark.parametrize("case", ["gain", "eer"])
def test_appion_motioncor_refuses_garbage_with_one_line(tmp_path, cli, case):
    from appion.simulation import eer
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, _frames(0).astype(np.uint8))
    args = []
    if case == "gain":
        gain = np.ones(FRAME_SHAPE, np.float32)
        gain[3, 4] = np.nan
        _write_mrc(tmp_path / "gain.mrc", gain)
        args = ["--gain", str(tmp_path / "gain.mrc")]
    else:
        rng = np.random.default_rng(0)
        movie = tmp_path / "movie.eer"
        frames = [eer.frame_from_coordinates(rng.uniform(0, 48, 200), rng.uniform(0, 64, 200),
                                             FRAME_SHAPE) for _ in range(8)]
        eer.write_eer(movie, frames, shape=FRAME_SHAPE, metadata={"numberOfFrames": 8})
        _cut_in_strip(movie, 5)
    out = tmp_path / "sum.mrc"
    done = cli(["appion", "motioncor", str(movie), "--out", str(out), *args])
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert ("NaN or infinite" if case == "gain" else "truncated") in lines[0]
    assert not out.exists()
