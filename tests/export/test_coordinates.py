"""The picks of a picking run in the exports: RELION's coordinate STAR files and
``autopick.star``, extracted by RELION's own ``relion_preprocess``, and cryoSPARC's
particles dataset, checked against the inserted ``ApParticleData`` rows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import starfile

from tests.export.processed import aligned_sums, appion, delete_picks, insert_picks

RUN = ["--session", "sim25feb02x", "--run", "ddstack1"]
NEWEST = {0: [(200, 150, 0.9, 180.0), (512, 360, 0.5, 180.0), (800, 500, 1.25, 200.0)],
          1: [(300, 250, 0.7, 180.0), (700, 400, 0.3, 190.0)]}


@pytest.fixture(scope="module")
def picked(processed, tmp_path_factory):
    """Two picking runs: ``dogold`` picked the third exposure only; ``dognew`` (the
    newest) picked the first on its plain sum, the second on its dose-weighted sum and
    not the third."""
    sums = aligned_sums(processed.db)
    sources = sorted(sums)
    root = tmp_path_factory.mktemp("picks")
    old = insert_picks(processed.db, root / "dogold", "dogold",
                       {sums[sources[2]][0]: [(100, 100, 0.4, 150.0)]})
    new = insert_picks(processed.db, root / "dognew", "dognew",
                       {sums[sources[0]][0]: NEWEST[0], sums[sources[1]][1]: NEWEST[1]})
    yield {"sources": sources, "sums": sums}
    delete_picks(processed.db, [old, new])


def _export(processed, out: Path, target: str = "relion", *extra: str) -> str:
    done = appion(["export", target, *RUN, "--out", str(out), *extra], processed.db)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _names(processed) -> dict[int, str]:
    """``{image id: file name}``."""
    import sinedon
    processed.db.setup()
    return {row["id"]: row["filename"] for row in sinedon.filter("AcquisitionImageData")}


def _expected(picked, processed) -> dict[str, list[tuple]]:
    """``{exported micrograph stem (the dose-weighted sum): picks of the newest run}``."""
    names = _names(processed)
    return {names[picked["sums"][picked["sources"][index]][1]]: picks
            for index, picks in NEWEST.items()}


def test_coordinate_files_hold_the_newest_runs_picks(processed, picked, tmp_path):
    out = tmp_path / "relion"
    stdout = _export(processed, out)
    assert "5 particles on 2" in stdout
    autopick = starfile.read(out / "autopick.star")
    assert list(autopick.columns) == ["rlnMicrographName", "rlnMicrographCoordinates"]
    micrographs = starfile.read(out / "micrographs_ctf.star")["micrographs"]
    assert set(autopick.rlnMicrographName) <= set(micrographs.rlnMicrographName)
    expected = _expected(picked, processed)
    assert len(autopick) == len(expected) == 2
    for _, row in autopick.iterrows():
        stem = Path(row.rlnMicrographName).stem
        assert row.rlnMicrographCoordinates == os.path.join("coordinates",
                                                            f"{stem}_autopick.star")
        assert (out / row.rlnMicrographName).is_file()
        table = starfile.read(out / row.rlnMicrographCoordinates)
        rows = expected[stem]
        assert len(table) == len(rows)
        assert list(table.rlnCoordinateX) == [float(x) for x, _, _, _ in rows]
        assert list(table.rlnCoordinateY) == [float(y) for _, y, _, _ in rows]
        assert list(table.rlnAutopickFigureOfMerit) == pytest.approx(
            [score for _, _, score, _ in rows])
    files = sorted(path.name for path in (out / "coordinates").iterdir())
    assert files == sorted(f"{stem}_autopick.star" for stem in expected)


def test_a_named_pick_run_and_absolute_paths(processed, picked, tmp_path):
    out = tmp_path / "old"
    _export(processed, out, "relion", "--pick-run", "dogold", "--absolute")
    autopick = starfile.read(out / "autopick.star")
    names = _names(processed)
    third = names[picked["sums"][picked["sources"][2]][1]]
    assert [Path(name).stem for name in autopick.rlnMicrographName] == [third]
    assert all(os.path.isabs(path) and os.path.isfile(path)
               for column in autopick.columns for path in autopick[column])
    table = starfile.read(autopick.rlnMicrographCoordinates[0])
    assert (list(table.rlnCoordinateX), list(table.rlnCoordinateY)) == ([100.0], [100.0])
    done = appion(["export", "relion", *RUN, "--out", str(tmp_path / "x"), "--pick-run",
                   "nosuchrun"], processed.db)
    assert done.returncode != 0 and "nosuchrun" in done.stderr
    assert "Traceback" not in done.stderr


def test_cryosparc_particles_dataset(processed, picked, tmp_path):
    from cryosparc.dataset import Dataset
    out = tmp_path / "cs"
    _export(processed, out, "cryosparc")
    exposures = Dataset.load(str(out / "exposures.cs"))
    particles = Dataset.load(str(out / "particles.cs"))
    expected = _expected(picked, processed)
    assert len(particles) == sum(len(rows) for rows in expected.values())
    by_path = dict(zip(exposures["micrograph_blob/path"], exposures["uid"]))
    for stem, rows in expected.items():
        mine = [i for i, path in enumerate(particles["location/micrograph_path"])
                if Path(path).stem == stem]
        assert len(mine) == len(rows)
        for index, (x, y, score, _) in zip(mine, rows):
            ny, nx = particles["location/micrograph_shape"][index]
            assert (ny, nx) == (720, 1024)
            assert particles["location/center_x_frac"][index] * nx == pytest.approx(x, abs=1e-3)
            assert particles["location/center_y_frac"][index] * ny == pytest.approx(y, abs=1e-3)
            assert particles["pick_stats/ncc_score"][index] == pytest.approx(score)
            assert particles["location/micrograph_uid"][index] == by_path[
                particles["location/micrograph_path"][index]]


def _supports_coordinate_lists() -> bool:
    """Whether this RELION reads ``--coord_list`` (RELION 4 and later)."""
    import subprocess
    done = subprocess.run(["relion_preprocess", "--help"], capture_output=True, text=True,
                          timeout=60)
    return "--coord_list" in done.stdout + done.stderr


def _relion31_layout(out: Path) -> list[str]:
    """RELION 3.1 (Debian's) has no ``--coord_list``: it finds a micrograph's coordinates
    at ``--coord_dir`` + the micrograph's name + ``--coord_suffix``.  Link the exported
    micrographs and their coordinate files into that layout, as a RELION 3.1 user would."""
    table = starfile.read(out / "autopick.star")
    micrographs, coords = out / "Micrographs", out / "coords" / "Micrographs"
    micrographs.mkdir()
    coords.mkdir(parents=True)
    names = {}
    for row in table.itertuples():
        name = Path(row.rlnMicrographName)
        (micrographs / name.name).symlink_to((out / name).resolve())
        (coords / f"{name.stem}_autopick.star").symlink_to(
            (out / row.rlnMicrographCoordinates).resolve())
        names[str(name)] = f"Micrographs/{name.name}"
    ctf = starfile.read(out / "micrographs_ctf.star")
    ctf["micrographs"]["rlnMicrographName"] = [
        names.get(name, name) for name in ctf["micrographs"]["rlnMicrographName"]]
    starfile.write(ctf, out / "micrographs_relion31.star", overwrite=True)
    return ["--i", "micrographs_relion31.star", "--coord_dir", "coords/",
            "--coord_suffix", "_autopick.star"]


def test_relion_preprocess_extracts_the_picks(relion, processed, picked, tmp_path):
    """RELION extracts one particle per pick, at the picked pixels: through
    ``autopick.star`` where RELION reads coordinate lists, else (RELION 3.1) through
    the coordinate files themselves."""
    import subprocess
    out = tmp_path / "relion"
    _export(processed, out)
    inputs = (["--i", "micrographs_ctf.star", "--coord_list", "autopick.star"]
              if _supports_coordinate_lists() else _relion31_layout(out))
    done = subprocess.run(["relion_preprocess", *inputs, "--part_star", "particles.star",
                           "--part_dir", "Particles/", "--extract", "--extract_size", "64"],
                          cwd=out, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    particles = starfile.read(out / "particles.star")
    particles = particles["particles"] if isinstance(particles, dict) else particles
    expected = _expected(picked, processed)
    assert len(particles) == sum(len(rows) for rows in expected.values())
    for stem, rows in expected.items():
        mine = particles[[Path(name).stem == stem for name in particles.rlnMicrographName]]
        assert sorted(zip(mine.rlnCoordinateX, mine.rlnCoordinateY)) == sorted(
            (float(x), float(y)) for x, y, _, _ in rows)
