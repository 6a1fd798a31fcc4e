"""``appion export relion`` on a session processed by the built-in engines, checked with
RELION's own programs (Debian's relion package) and against the engines' own output."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import starfile

from tests.export.processed import appion

RUN = ["--session", "sim25feb02x", "--run", "ddstack1"]


def _export(processed, out: Path, *extra: str) -> None:
    done = appion(["export", "relion", *RUN, "--out", str(out), *extra], processed.db)
    assert done.returncode == 0, done.stderr


def _ctf_rows(processed) -> dict[str, dict]:
    """``{aligned micrograph file name: ApCtfData row}``."""
    import sinedon
    processed.db.setup()
    rows = sinedon.filter("ApCtfData")
    images = sinedon.rows_by_ids("AcquisitionImageData", [row["image"] for row in rows])
    return {images[row["image"]]["filename"]: row for row in rows}


def _relion(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ERROR" not in done.stdout + done.stderr, \
        done.stdout + done.stderr
    return done


def _printtable(star: Path, table: str, *labels: str, cwd: Path) -> list[list[str]]:
    done = _relion("relion_star_printtable", str(star), table, *labels, cwd=cwd)
    return [line.split() for line in done.stdout.splitlines() if line.strip()]


def test_star_files_load_in_relion(relion, processed, tmp_path):
    out = tmp_path / "relion"
    _export(processed, out)
    for name in ("corrected_micrographs.star", "micrographs_ctf.star"):
        _relion("relion_star_handler", "--i", name, "--o", str(tmp_path / f"re_{name}"),
                cwd=out)
        again = starfile.read(tmp_path / f"re_{name}")
        assert len(again["micrographs"]) == len(processed.session.images)
        assert again["optics"]["rlnMicrographPixelSize"].iloc[0] == pytest.approx(0.826)
    corrected = starfile.read(out / "corrected_micrographs.star")["micrographs"]
    for _, row in corrected.iterrows():
        assert (out / row.rlnMicrographName).is_file()
        assert (out / row.rlnMicrographNameNoDW).is_file()
        assert row.rlnMicrographName.endswith("-a-DW.mrc")
        motion = starfile.read(out / row.rlnMicrographMetadata)
        shifts = _printtable(out / row.rlnMicrographMetadata, "data_global_shift",
                             "rlnMicrographFrameNumber", "rlnMicrographShiftX",
                             "rlnMicrographShiftY", cwd=out)
        general = motion["general"]
        assert len(shifts) == general["rlnImageSizeZ"] == 8  # a shift for every frame
        assert [float(v) for v in shifts[0][1:]] == [0.0, 0.0]  # RELION: frame 1 at 0
        assert any(abs(float(x)) + abs(float(y)) > 0.1 for _, x, y in shifts)  # real motion
        assert -9999.0 not in motion["global_shift"].values
        assert (out / general["rlnMicrographMovieName"]).is_file()
        assert (out / general["rlnMicrographGainName"]).is_file()
        assert general["rlnMotionModelVersion"] == 0
        assert general["rlnVoltage"] == 300.0
        assert general["rlnMicrographDoseRate"] == pytest.approx(50.0 / 8)
        assert row.rlnAccumMotionTotal > 0
        assert row.rlnAccumMotionTotal == pytest.approx(
            row.rlnAccumMotionEarly + row.rlnAccumMotionLate)


def test_relion_preprocess_extracts_with_the_exported_ctf(relion, processed, tmp_path):
    out = tmp_path / "relion"
    _export(processed, out)
    micrographs = starfile.read(out / "micrographs_ctf.star")["micrographs"]
    (out / "coords").mkdir()
    for name in micrographs.rlnMicrographName:
        coords = out / os.path.normpath(Path("coords") / (name[:-len(".mrc")] + "_coords.star"))
        coords.parent.mkdir(parents=True, exist_ok=True)
        starfile.write({"": pd.DataFrame({"rlnCoordinateX": [200.0, 512.0, 800.0],
                                          "rlnCoordinateY": [200.0, 360.0, 500.0]})}, coords)
    _relion("relion_preprocess", "--i", "micrographs_ctf.star", "--coord_dir", "coords/",
            "--coord_suffix", "_coords.star", "--part_star", "particles.star",
            "--part_dir", "Particles/", "--extract", "--extract_size", "64", cwd=out)
    particles = _printtable(out / "particles.star", "data_particles", "rlnMicrographName",
                            "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", cwd=out)
    assert len(particles) == 3 * len(micrographs)
    rows = _ctf_rows(processed)
    for micrograph, u, v, angle in particles:
        # CTF was fitted on the non-weighted sum; RELION extracts from the weighted one.
        row = rows[Path(micrograph).stem.removesuffix("-DW")]
        assert {round(float(u)), round(float(v))} == {round(row["defocus1"] * 1e10),
                                                      round(row["defocus2"] * 1e10)}
        # U (the larger) lies across classic's angle_astigmatism (defocus1, the smaller).
        assert float(u) == pytest.approx(row["defocus2"] * 1e10, abs=0.01)
        assert _axis(float(angle) - row["angle_astigmatism"] - 90.0) < 1e-3


def _axis(degrees: float) -> float:
    return abs((degrees + 90.0) % 180.0 - 90.0)


def test_ctf_round_trip_and_engine_output(processed, tmp_path):
    """The export inverts classic's mapping exactly, and agrees with the engine's own fit."""
    from appion.ctfestimation.calc.internal.classic import ctffind_fit_to_ctfdata
    out = tmp_path / "relion"
    _export(processed, out)
    table = starfile.read(out / "micrographs_ctf.star")["micrographs"]
    rows = _ctf_rows(processed)
    for _, star in table.iterrows():
        row = rows[Path(star.rlnMicrographNameNoDW).stem]
        back = ctffind_fit_to_ctfdata(star.rlnDefocusU, star.rlnDefocusV, star.rlnDefocusAngle,
                                      0.0, 0.0, 5.0)
        assert back["defocus1"] == pytest.approx(row["defocus1"], rel=1e-8)
        assert back["defocus2"] == pytest.approx(row["defocus2"], rel=1e-8)
        assert _axis(back["angle_astigmatism"] - row["angle_astigmatism"]) < 1e-4
        assert star.rlnCtfMaxResolution == pytest.approx(row["ctffind4_resolution"])
    first = table.iloc[0]
    done = appion_ctf(out / first.rlnMicrographNameNoDW, processed,
                      (first.rlnDefocusV - 3000.0, first.rlnDefocusU + 3000.0))
    engine = json.loads(done.stdout)
    u, v = engine["defocus_1_A"], engine["defocus_2_A"]
    angle = engine["astigmatism_azimuth_deg"]
    if u < v:  # CTFFIND's order: the larger first
        u, v, angle = v, u, angle + 90.0
    assert first.rlnDefocusU == pytest.approx(u, abs=300.0)
    assert first.rlnDefocusV == pytest.approx(v, abs=300.0)
    if u - v >= 250.0:
        assert _axis(first.rlnDefocusAngle - angle) < 15.0


def appion_ctf(micrograph: Path, processed, defocus: tuple[float, float]
               ) -> subprocess.CompletedProcess:
    """The built-in engine's own fit of the micrograph (searched ±3000 Å around the
    export's values, so that a wrong convention, 90° or a swap, still shows)."""
    from tests.conftest import run_cli
    done = run_cli(["appion", "ctf", str(micrograph), "--apix", "0.826", "--kv", "300",
                    "--cs", "2.7", "--ac", "0.07", "--resmax", "5", "--box", "512",
                    "--defmin", f"{defocus[0]:.0f}", "--defmax", f"{defocus[1]:.0f}",
                    "--json"], env=processed.db.env)
    assert done.returncode == 0, done.stderr
    return done


def test_absolute_paths_by_option(processed, tmp_path):
    out = tmp_path / "abs"
    _export(processed, out, "--absolute")
    table = starfile.read(out / "corrected_micrographs.star")["micrographs"]
    assert all(os.path.isabs(name) and os.path.isfile(name) for name in table.rlnMicrographName)
    assert math.isfinite(table.rlnAccumMotionTotal.sum())
