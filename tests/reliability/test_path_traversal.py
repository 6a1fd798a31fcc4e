"""Names from the database are plain file names; outputs replace only regular files.

A Leginon row whose file name holds ``../`` fails that image with one line and
writes nothing outside the run directory and the session's image path; the atomic
writer refuses a FIFO, a folder or a symbolic link at the destination; ``appion
motioncor --out`` refuses the input movie and anything that is not a regular file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sinedon
from appion.base.calc.internal.names import plain_file_name
from appion.base.errors import InputFileError, OutputError
from appion.base.files import atomic_path, write_mrc, write_text
from appion.base.loop.state import read_failures
from tests.motioncorrection.session import make_session

ESCAPE = "../../escaped/x_00001enn"


def _argv(work: Path, db, *extra: str) -> list[str]:
    return ["makeDDAlignMotionCor2_UCSF.py", "--session=s1", "--preset=enn",
            f"--projectid={db.projectid}", f"--rundir={work / 'run' / 'ddstack1'}",
            "--runname=ddstack1", "--engine=builtin", "--no-wait", "--max-workers=1",
            *extra]


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _outside(paths: set[Path], *allowed: Path) -> list[Path]:
    return sorted(path for path in paths
                  if not any(path.is_relative_to(folder) for folder in allowed))


def test_a_traversing_file_name_fails_that_image_and_writes_nothing_outside(db, cli,
                                                                           tmp_path):
    work = tmp_path / "work"
    tiny = make_session(work / "site", 2)
    sinedon.update("AcquisitionImageData", tiny.image_ids[1],
                   {"filename": ESCAPE, "image": ESCAPE + ".mrc"})
    escaped_frames = tiny.frame_path / f"{ESCAPE}.frames.tif"
    escaped_frames.parent.mkdir(parents=True)
    (tiny.frame_path / f"{tiny.names[1]}.frames.tif").rename(escaped_frames)
    for folder in (work / "escaped", tiny.image_path.parent.parent / "escaped"):
        folder.mkdir()  # where the name leads from the run directory and the image path
    before = _files(work)
    done = cli(_argv(work, db), env=db.env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rundir = work / "run" / "ddstack1"
    assert _outside(_files(work) - before, rundir, tiny.image_path) == []
    failures = {f.image_id: f for f in read_failures(rundir)}
    assert set(failures) == {tiny.image_ids[1]}
    reason = failures[tiny.image_ids[1]].error
    assert "not a plain file name" in reason and "\n" not in reason
    assert (tiny.image_path / f"{tiny.names[0]}-a.mrc").is_file()


def test_a_traversing_norm_image_name_is_refused(sqlite_db, cli, tmp_path):
    work = tmp_path / "work"
    tiny = make_session(work / "site", 1)
    norm = sinedon.get("NormImageData", {"filename": "ref_norm"})
    sinedon.update("NormImageData", norm["id"], {"image": "../../s1/rawdata/ref_norm.mrc"})
    done = cli(_argv(work, sqlite_db), env=sqlite_db.env)
    assert done.returncode == 0, done.stderr
    failures = read_failures(work / "run" / "ddstack1")
    assert [f.image_id for f in failures] == tiny.image_ids
    assert "norm image '../../s1/rawdata/ref_norm.mrc' is not a plain file name" in \
        failures[0].error


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "x\x00y", "x\ny", None])
def test_plain_file_name_refuses_paths_and_control_characters(name):
    with pytest.raises(InputFileError, match="is not a plain file name"):
        plain_file_name(name, "image file name")


def test_plain_file_name_keeps_leginon_names():
    name = "25mar19a_grid_00001gr_00002sq_v01_00003hl_00004enn-a-DW"
    assert plain_file_name(name, "image file name") == name


def _targets(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "link.mrc"
    link.symlink_to(victim)
    return {"fifo": fifo, "folder": folder, "link": link}


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_the_atomic_writer_replaces_only_regular_files(tmp_path, kind):
    import numpy as np
    target = _targets(tmp_path)[kind]
    with pytest.raises(OutputError, match="an output only replaces a regular file"):
        write_text(target, "x")
    with pytest.raises(OutputError):
        write_mrc(target, np.zeros((4, 4), np.float32))
    assert (tmp_path / "victim.txt").read_text() == "keep me\n"
    assert os.path.lexists(target)
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".partial")]


def test_the_atomic_writer_still_replaces_its_own_files_and_links(tmp_path):
    write_text(tmp_path / "a.txt", "one")
    write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "old")
    with atomic_path(link) as temporary:
        os.symlink(tmp_path / "a.txt", temporary)
    assert os.readlink(link) == str(tmp_path / "a.txt")


def _movie(tmp_path: Path) -> Path:
    import numpy as np
    import tifffile
    movie = tmp_path / "movie.tif"
    frames = np.random.default_rng(0).poisson(2.0, (4, 32, 32)).astype(np.uint8)
    tifffile.imwrite(movie, frames, photometric="minisblack")
    return movie


def test_motioncor_out_that_is_the_input_movie_is_refused(cli, tmp_path):
    movie = _movie(tmp_path)
    original = movie.read_bytes()
    os.symlink(movie, tmp_path / "alias.tif")
    for out in (movie, tmp_path / "alias.tif"):
        done = cli(["appion", "motioncor", str(movie), "--out", str(out)])
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (f"appion: error: --out {out} is the input {movie}; "
                                       "give another file name so that the input is kept")
    assert movie.read_bytes() == original


def test_motioncor_out_that_is_not_a_regular_file_is_refused(cli, tmp_path):
    movie = _movie(tmp_path)
    fifo = tmp_path / "out.mrc"
    os.mkfifo(fifo)
    done = cli(["appion", "motioncor", str(movie), "--out", str(fifo)])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"appion: error: --out {fifo} is a FIFO, not a regular "
                                   "file; give a file name")
    assert not fifo.is_file() and os.path.lexists(fifo)
