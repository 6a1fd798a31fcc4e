"""Benchmark the built-in motion correction on full-size movies; prints one JSON object.

Movies (K3 5760×4092×40 LZW TIFF, the same frames as an int16 MRC stack, Falcon 4 EER
4096² × 400 raw frames) are made in
a temporary folder outside the repository with known drift.  Every engine run is
its own process under GNU time: wall time, peak RSS, decoded movie size and
global-shift RMSE against the truth.  With ``relion_run_motioncorr`` on PATH,
RELION's own CPU implementation runs on the same movie with the same threads
(global and 5×5 patches), no gain; the 5×5 runs dose-weight in both engines
(1 e/Å²/frame at 1 Å/px, 300 kV; RELION also saves its unweighted sum, as the
built-in engine always does) unless ``--no-dw``.  Each case gets ``ratios``
(built-in / RELION wall time and peak memory, both RMSEs) and ``floor``: the
seconds to decode the movie once and to rfft2 every full-size frame once.  The
built-in engine runs with classic Appion's B-factors (-Bft 500 150) and, as
``builtin_bft150``, with RELION's default B-factor (150 Å² at 1 Å/px); RELION runs
with its default and, as ``relion_bfactor500``, with classic Appion's global one,
so that each engine is also compared at the other's setting.

    python benchmarks/motioncor.py [--threads 2] [--frames 40] [--skip-eer] [--skip-mrc]
                                   [--keep DIR]
                                   [--scale 0.5] [--no-dw] [--no-relion]

``APPION_BENCH_QUICK=1`` makes 10-frame K3 and 100-raw-frame EER movies instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile


def drift(nframes: int, rng: np.random.Generator) -> np.ndarray:
    steps = rng.normal(0, 0.3, (nframes, 2)) + np.array([0.9, -0.7])
    steps *= np.linspace(2.0, 0.3, nframes)[:, None]
    steps[0] = 0
    return np.cumsum(steps, axis=0)


def rfft_grid(shape):
    """Frequencies (rows (h, 1), columns (1, w//2+1)) of an rfft2 grid, float32."""
    return (np.fft.fftfreq(shape[0]).astype(np.float32)[:, None],
            np.fft.rfftfreq(shape[1]).astype(np.float32)[None, :])


def scene(shape, rng, mean):
    ky, kx = rfft_grid(shape)
    k = np.hypot(ky, kx)
    k[0, 0] = 1
    spectrum = np.fft.rfft2(rng.standard_normal(shape, dtype=np.float32)) / k
    image = np.fft.irfft2(spectrum, s=shape).astype(np.float32)
    image = (image - image.mean()) / image.std()
    return mean * np.exp(0.4 * image)


def shifted(spectrum_of_scene, shape, grid, dx, dy):
    """The scene moved by (dx, dy) pixels (a Fourier phase ramp on ``grid``)."""
    import scipy.fft
    ky, kx = grid
    ramp = np.exp(-2j * np.pi * (ky * dy)) * np.exp(-2j * np.pi * (kx * dx))
    return scipy.fft.irfft2(spectrum_of_scene * ramp, s=shape, workers=2)


def scaled(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """``shape`` times ``scale``, each side even (``--scale`` for quick runs)."""
    return tuple(max(64, int(round(n * scale / 2)) * 2) for n in shape)


def make_k3(path: Path, nframes: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """A K3-sized LZW TIFF of uint8 counts (≈1 e/px/frame) drifting by known shifts."""
    import scipy.fft
    rng = np.random.default_rng(seed)
    shape = scaled((4092, 5760), scale)
    expected = scene(shape, rng, 1.0)
    spectrum = scipy.fft.rfft2(expected, workers=2)
    grid = rfft_grid(shape)
    shifts = drift(nframes, rng)
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        for dx, dy in shifts:
            frame = np.clip(shifted(spectrum, shape, grid, dx, dy), 0, None)
            tif.write(rng.poisson(frame).astype(np.uint8), compression="lzw",
                      photometric="minisblack", contiguous=False)
    return shifts


def make_k3_mrc(path: Path, tiff: Path) -> None:
    """The K3 TIFF's frames as an MRC stack of int16 counts (mode 1), written frame by frame."""
    import mrcfile
    with tifffile.TiffFile(tiff) as tif:
        pages = list(tif.pages)
        rows, cols = pages[0].shape
        with mrcfile.new_mmap(path, shape=(len(pages), rows, cols), mrc_mode=1,
                              overwrite=True) as mrc:
            for index, page in enumerate(pages):
                mrc.data[index] = page.asarray()
            mrc.voxel_size = 1.0


def make_eer(path: Path, raw_frames: int, group: int, seed: int = 1, scale: float = 1.0):
    """A Falcon 4-sized EER (simulator writer) with drift per rendered frame."""
    from appion.simulation import eer
    rng = np.random.default_rng(seed)
    shape = scaled((4096, 4096), scale)
    expected = scene(shape, rng, 1.0)
    cumulative = np.cumsum(expected.ravel() / expected.sum())
    shifts = drift(raw_frames // group, rng)
    per_frame = int(0.05 * shape[0] * shape[1])  # 0.05 e/px per raw frame

    def frames():
        for index in range(raw_frames):
            dx, dy = shifts[min(index // group, len(shifts) - 1)]
            flat = np.searchsorted(cumulative, rng.random(per_frame))
            y, x = np.divmod(flat, shape[1])
            yield eer.frame_from_coordinates(x + rng.random(per_frame) + dx,
                                             y + rng.random(per_frame) + dy, shape)

    eer.write_eer(path, frames(), shape=shape, metadata={"exposureTime": 1.0})
    return shifts


def reuse_or_make(movie: Path, make) -> np.ndarray:
    """The truth of a movie kept from an earlier run (``--keep``), or a new movie's."""
    truth_path = movie.with_suffix(".truth.npy")
    if movie.exists() and truth_path.exists():
        return np.load(truth_path)
    truth = make()
    np.save(truth_path, truth)
    return truth


def timed(command: list[str], env=None) -> tuple[float, float | None, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (MiB, from GNU time when installed) of a child process."""
    gnu_time = shutil.which("time") or next(
        (path for path in ("/usr/bin/time",) if os.path.exists(path)), None)
    if gnu_time:
        command = [gnu_time, "-f", "PEAK_RSS_KIB %M", *command]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    peak = None
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_RSS_KIB"):
            peak = int(line.split()[1]) / 1024
    return wall, peak, done


def builtin(movie: Path, out: Path, threads: int, patch: tuple[int, int], extra=()):
    """The built-in engine (``appion motioncor``) on one movie, as its own process."""
    command = [sys.executable, "-m", "appion.cli.main", "motioncor", str(movie),
               "--out", str(out), "--json", "--threads", str(threads), "--apix", "1.0",
               "--patch", *map(str, patch), *extra]
    wall, rss, done = timed(command)
    if done.returncode:
        return {"error": done.stderr.strip()[-400:]}
    return {"wall_s": round(wall, 2), "peak_rss_mib": rss and round(rss),
            "shifts": json.loads(done.stdout)["shifts_px"]}


RELION_STAR = """
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographOriginalPixelSize #3
_rlnVoltage #4
_rlnSphericalAberration #5
_rlnAmplitudeContrast #6
_rlnMicrographPixelSize #7
opticsGroup1 1 1.0 300.0 2.7 0.1 1.0


# version 30001

data_movies

loop_
_rlnMicrographMovieName #1
_rlnOpticsGroup #2
{movie} 1
"""


def relion(movie: Path, folder: Path, threads: int, patch: tuple[int, int], extra=(),
           bfactor: float = 150.0):
    """RELION 3.1's own motion correction (``--use_own``) on one movie, as its own process."""
    if not shutil.which("relion_run_motioncorr"):
        return {"available": False, "reason": "relion_run_motioncorr not on PATH"}
    label = f"relion_{movie.stem}_{patch[0]}x{patch[1]}_b{bfactor:g}"
    star = folder / f"{label}.star"
    star.write_text(RELION_STAR.format(movie=movie))
    out = folder / label
    shutil.rmtree(out, ignore_errors=True)
    command = ["relion_run_motioncorr", "--i", str(star), "--o", f"{out}/", "--use_own",
               "--j", str(threads), "--bin_factor", "1", "--bfactor", f"{bfactor:g}",
               "--dose_per_frame", "1", "--preexposure", "0",
               "--patch_x", str(max(1, patch[0])), "--patch_y", str(max(1, patch[1])), *extra]
    wall, rss, done = timed(command)
    shifts = relion_shifts(out, movie)
    if done.returncode or shifts is None:
        return {"available": True, "error": (done.stderr or done.stdout).strip()[-400:]}
    return {"available": True, "wall_s": round(wall, 2), "peak_rss_mib": rss and round(rss),
            "shifts": shifts}


def relion_shifts(out: Path, movie: Path):
    """Global shifts from RELION's per-movie STAR file, as content displacements.

    RELION's rlnMicrographShiftX/Y are the corrections it applies.  It reads TIFF
    frames upside down (MRC convention, y up) but EER and MRC frames as stored, so
    the content displacement (x, y) in row-down pixels is (-ShiftX, +ShiftY) for a
    TIFF and (-ShiftX, -ShiftY) for an EER or MRC.  (Checked on each movie: the
    other sign choices miss the truth by tens of pixels.)
    """
    y_sign = -1.0 if movie.suffix.lower() in (".eer", ".mrc") else 1.0
    stems = {movie.stem, movie.stem.replace(".", "_")}  # RELION writes dots as "_"
    for path in (path for stem in stems for path in out.rglob(stem + ".star")):
        rows, inside = [], False
        for line in path.read_text().splitlines():
            fields = line.split()
            if line.startswith("data_global_shift"):
                inside = True
            elif inside and line.startswith("data_"):
                break
            elif inside and len(fields) == 3 and fields[0].isdigit():
                rows.append((-float(fields[1]), y_sign * float(fields[2])))
        if rows:
            return (np.array(rows) - rows[0]).tolist()
    return None


def floor(movie: Path, threads: int, group: int | None = None) -> dict:
    """Seconds to decode every frame once and to rfft2 every (full-size) frame once."""
    import scipy.fft

    from appion.motioncorrection.engines.movie_io import movie_format, open_movie
    with open_movie(str(movie), movie_format(str(movie)), rendered_frame_size=group) as opened:
        start = time.perf_counter()
        count = sum(1 for _ in opened.frames(list(range(opened.nframes)), threads))
        decode = time.perf_counter() - start
        shape = opened.shape
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    start = time.perf_counter()
    scipy.fft.rfft2(image, workers=threads)
    fft = (time.perf_counter() - start) * count
    return {"decode_s": round(decode, 2), "fft_every_frame_s": round(fft, 2),
            "sum_s": round(decode + fft, 2)}


def ratios(runs: dict) -> dict:
    """Built-in / RELION wall time and peak memory, and both RMSEs, where both ran."""
    mine, theirs = runs.get("builtin", {}), runs.get("relion", {})
    out = {"builtin_rmse_px": mine.get("rmse_px"), "relion_rmse_px": theirs.get("rmse_px")}
    for key in ("wall_s", "peak_rss_mib"):
        if mine.get(key) and theirs.get(key):
            out[f"{key}_builtin_over_relion"] = round(mine[key] / theirs[key], 3)
    return out


def rmse(shifts, truth) -> float | None:
    if shifts is None:
        return None
    shifts = np.asarray(shifts)
    return round(float(np.sqrt(np.mean(np.sum((shifts - truth) ** 2, axis=1)))), 4)


DOSE_WEIGHTING = (["--dose-per-frame", "1", "--kv", "300"],
                  ["--dose_weighting", "--voltage", "300", "--save_noDW"])


def run_case(name, movie, truth, decoded_mib, folder, threads, patches, extra=(),
             relion_extra=(), dose_weight=True, with_relion=True):
    """Both engines on one movie, global and patches; a dict for the report.

    Patch runs dose-weight in both engines when ``dose_weight``.
    """
    rows = {"movie": name, "decoded_movie_mib": round(decoded_mib)}
    for patch in patches:
        label = "global" if patch == (0, 0) else f"patch_{patch[0]}x{patch[1]}"
        weighted = dose_weight and patch != (0, 0)
        mine = [*extra, *(DOSE_WEIGHTING[0] if weighted else [])]
        theirs = [*relion_extra, *(DOSE_WEIGHTING[1] if weighted else [])]
        if weighted:
            label += "_dw"
        runs = {"builtin": builtin(movie, folder / f"{name}_{label}.mrc", threads, patch, mine)}
        if patch == (0, 0):  # also at RELION's B-factor (150 Å² at 1 Å/px)
            runs["builtin_bft150"] = builtin(movie, folder / f"{name}_{label}_b150.mrc", threads,
                                             patch, [*extra, "--bft", "150", "150"])
        if with_relion:
            runs["relion"] = relion(movie, folder, threads, patch, theirs)
        if with_relion and name == "k3" and patch == (0, 0):
            runs["relion_bfactor500"] = relion(movie, folder, threads, patch, theirs,
                                               bfactor=500.0)
        for run in runs.values():
            if "shifts" in run:
                run["rmse_px"] = rmse(run.pop("shifts"), truth)
        runs["ratios"] = ratios(runs)
        if runs["builtin"].get("peak_rss_mib"):
            runs["builtin_peak_over_decoded"] = round(
                runs["builtin"]["peak_rss_mib"] / decoded_mib, 2)
        rows[label] = runs
    return rows


def load() -> str:
    """The machine's load averages (other users share it)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--eer-raw-frames", type=int, default=400)
    parser.add_argument("--skip-eer", action="store_true")
    parser.add_argument("--skip-mrc", action="store_true", help="no K3 MRC (int16) case")
    parser.add_argument("--keep", help="folder to keep (and reuse) the movies in")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="frame sides times this (0.5: quarter-size movies)")
    parser.add_argument("--no-dw", action="store_true", help="no dose weighting anywhere")
    parser.add_argument("--no-relion", action="store_true", help="the built-in engine only")
    args = parser.parse_args()
    if os.environ.get("APPION_BENCH_QUICK") == "1":  # benchmarks/run_all.py --quick
        args.frames, args.eer_raw_frames = min(args.frames, 10), min(args.eer_raw_frames, 100)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="appion-motioncor-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    report = {"threads": args.threads, "cpu_count": os.cpu_count(), "scale": args.scale,
              "load_before": load(), "cases": []}
    options = {"dose_weight": not args.no_dw, "with_relion": not args.no_relion}
    suffix = "" if args.scale == 1 else f"_x{args.scale:g}".replace(".", "p")
    try:
        k3 = folder / f"k3{suffix}.tif"
        truth = reuse_or_make(k3, lambda: make_k3(k3, args.frames, scale=args.scale))
        rows, cols = scaled((4092, 5760), args.scale)
        case = run_case("k3", k3, truth, rows * cols * len(truth) / 2**20, folder, args.threads,
                        [(0, 0), (5, 5)], **options)
        case["floor"] = floor(k3, args.threads)
        report["cases"].append(case)
        if not args.skip_mrc:  # the same frames as int16 MRC: 5x5 with dose weighting
            mrc = folder / f"k3{suffix}.mrc"
            if not mrc.exists():
                make_k3_mrc(mrc, k3)
            case = run_case("k3_mrc", mrc, truth, rows * cols * len(truth) * 2 / 2**20, folder,
                            args.threads, [(5, 5)], **options)
            case["floor"] = floor(mrc, args.threads)
            report["cases"].append(case)
        if not args.skip_eer:
            group = max(1, args.eer_raw_frames // 40)
            movie = folder / f"falcon4{suffix}.eer"
            truth = reuse_or_make(movie, lambda: make_eer(movie, args.eer_raw_frames, group,
                                                          scale=args.scale))
            side = scaled((4096, 4096), args.scale)[0]
            if side != 4096:  # RELION 3.1: "we support only 4096x4096 pixel EER movies"
                options["with_relion"] = False
            case = run_case("eer", movie, truth, side * side * args.eer_raw_frames / 2**20 / 8,
                            folder, args.threads, [(0, 0), (5, 5)],
                            ["--eer-group", str(group)], ["--eer_grouping", str(group)],
                            **options)
            case["rendered_movie_mib"] = round(side * side * len(truth) / 2**20)
            case["floor"] = floor(movie, args.threads, group)
            report["cases"].append(case)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    report["load_after"] = load()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
