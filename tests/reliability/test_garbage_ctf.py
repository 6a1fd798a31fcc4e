"""Micrographs with no CTF to estimate fail with one line and leave no ApCtfData row.

Classic ctffind4.py (built-in engine) on a session where constant, all-zero, NaN and
Inf micrographs sit next to good ones: the bad ones are recorded failed at once with
their reason and get no row and no graphs, the good ones are stored.  ``appion ctf``
refuses the same micrographs with a non-zero exit and one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from tests.ctfestimation.session import make_session

SIZE = 512
TRUTHS = [(12000.0, 11500.0, 30.0, 1.0)] * 6
COMMON = ["--projectid", "1", "--preset", "enn-a-DW", "--resmin", "30", "--resmax", "6",
          "--defstep", "0.05", "--numstep", "40", "--fieldsize", "256", "--no-wait",
          "--cluster", "local", "--max-workers", "1", "--engine", "builtin"]


def _constant(value: float) -> np.ndarray:
    return np.full((SIZE, SIZE), value, np.float32)


def _good_with(row: int, value: float) -> np.ndarray:
    from appion.ctfestimation.calc.internal.ctf_model import ctf_filtered_noise
    image = ctf_filtered_noise((SIZE, SIZE), 1.0, 12000.0, 11500.0, 30.0, seed=3)
    image = image.astype(np.float32)
    image[row, 17] = value
    return image


#: Micrographs 1–4 are replaced by garbage; 0 and 5 stay good.
GARBAGE = {1: (_constant(3.0), "constant"), 2: (_constant(0.0), "constant"),
           3: (_constant(np.nan), "NaN or infinite"), 4: (_good_with(40, np.inf),
                                                          "1 value is NaN or infinite")}


def _write(path: Path, image: np.ndarray) -> None:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(image)


def test_ctffind4_builtin_stores_no_row_for_garbage(db, cli, tmp_path):
    import sinedon
    session, truths = make_session(tmp_path, TRUTHS, size=SIZE)
    image_path = Path(session["image_path"])
    for index, (image, _) in GARBAGE.items():
        _write(image_path / f"{truths[index].filename}.mrc", image)
    rundir = tmp_path / "appion" / "ctf" / "run"
    done = cli(["ctffind4.py", "--session", session["name"], "--rundir", str(rundir),
                *COMMON], env=db.env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    db.setup()
    rows = sinedon.filter("ApCtfData")
    assert sorted(row["image"] for row in rows) == [truths[0].image_id, truths[5].image_id]
    failed = [json.loads(line) for line in (rundir / "failed.jsonl").open()]
    errors = {record["image_id"]: record["error"] for record in failed}
    assert sorted(errors) == sorted(truths[index].image_id for index in GARBAGE)
    for index, (_, words) in GARBAGE.items():
        error = errors[truths[index].image_id]
        assert error.startswith("InputFileError: micrograph ") and words in error, error
        assert "\n" not in error
        assert not list((rundir / "opimages").glob(f"{truths[index].filename}*"))
    assert {record["attempts"] for record in failed} == {1}


@pytest.mark.parametrize("image, words", [
    (_constant(7.0), "is constant (7 everywhere)"),
    (_constant(0.0), "is constant (0 everywhere)"),
    (_constant(np.nan), f"{SIZE * SIZE} of its {SIZE * SIZE} values are NaN or infinite"),
    (_good_with(9, np.nan), "1 value is NaN or infinite"),
], ids=["constant", "zero", "all-nan", "one-nan"])
def test_appion_ctf_refuses_micrographs_without_a_ctf(tmp_path, cli, image, words):
    path = tmp_path / "bad.mrc"
    _write(path, image)
    done = cli(["appion", "ctf", str(path), "--apix", "1.0", "--kv", "300", "--cs", "2.7",
                "--ac", "0.07", "--box", "256", "--resmax", "6", "--json",
                "--diagnostic", str(tmp_path / "d.png")])
    assert done.returncode != 0 and not done.stdout.strip()
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert words in lines[0]
    assert not (tmp_path / "d.png").exists()
