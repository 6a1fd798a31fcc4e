"""A stand-in for MotionCor2/MotionCor3 that speaks their protocol.

``--version`` prints the real version line (``MotionCor2 version 1.6.4``; the
version comes from ``FAKE_MOTIONCOR_VERSION``).  A run parses the real argument
list, replays a real log (1.5.0 per-frame lines, or the 1.6.x table that
MotionCor3 also prints) with as many frames as the input movie has, and writes
``-OutMrc`` (the gain-corrected sum of the frames) and ``<stem>_DW.mrc`` when
``-FmDose`` and ``-PixSize`` are given, as MotionCor2 does.  ``-Serial 1`` runs
every ``<dir>/*<suffix>`` movie into ``-OutMrc <dir>/``.  Like the real program it
exits 0 even when it cannot open the input, printing the error instead.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import mrcfile
import numpy as np
import tifffile

from appion.motioncorrection.calc.internal.orientation import gain_to_frame_orientation

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
FRAME_150 = "...... Frame ({index:3d}) shift: {x:9.3f} {y:9.3f}"
TABLE_ROW = "{index:5d} {x:10.3f} {y:10.3f}"


def parse(argv: list[str]) -> dict[str, list[str]]:
    flags, current = {}, None
    for token in argv:
        if re.match(r"^-[A-Za-z]", token):
            current = token
            flags[current] = []
        elif current:
            flags[current].append(token)
    return flags


def program() -> str:
    return os.environ.get("FAKE_MOTIONCOR_PROGRAM", "MotionCor2")


def version() -> str:
    return os.environ.get("FAKE_MOTIONCOR_VERSION",
                          "1.1.1" if program() == "MotionCor3" else "1.6.4")


def read_frames(path: str) -> np.ndarray:
    if path.endswith((".tif", ".tiff", ".eer")):
        return np.asarray(tifffile.imread(path), dtype=np.float32).reshape(
            -1, *tifffile.imread(path).shape[-2:])
    with mrcfile.open(path, permissive=True) as mrc:
        return np.asarray(mrc.data, dtype=np.float32).reshape(-1, *mrc.data.shape[-2:])


def shift_lines(n: int, table: bool) -> list[str]:
    """The real log's shifts, repeated or cut to ``n`` frames."""
    source = "motioncor2-1.6.4-eer.log" if table else "motioncor2-1.5.0.log"
    text = (LOGS / source).read_text()
    pattern = (r"^\s+\d+\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s*$" if table
               else r"^\.{6} Frame \(\s*\d+\) shift:\s+(\S+)\s+(\S+)")
    values = []
    in_table = not table
    for line in text.splitlines():
        if table and "x Shift" in line:
            in_table = True
            continue
        match = re.match(pattern, line)
        if in_table and match:
            values.append((float(match[1]), float(match[2])))
        elif table and in_table and values:
            break
    values = [values[i % len(values)] for i in range(n)]
    if table:
        x0, y0 = values[0]
        return ["Full-frame alignment", "  Frame   x Shift   y Shift"] + [
            TABLE_ROW.format(index=i + 1, x=x - x0, y=y - y0) for i, (x, y) in enumerate(values)]
    return ["Full-frame alignment shift"] + [
        FRAME_150.format(index=i + 1, x=x, y=y) for i, (x, y) in enumerate(values)]


def write_mrc(path: str, data: np.ndarray) -> None:
    with mrcfile.new(path, overwrite=True) as out:
        out.set_data(data.astype(np.float32))


def align(movie: str, output: str, flags: dict[str, list[str]], table: bool) -> list[str]:
    try:
        frames = read_frames(movie)
    except (OSError, ValueError) as error:
        return [f"Error: unable to open {movie}: {error}"]
    throw = int(flags.get("-Throw", ["0"])[0])
    trunc = int(flags.get("-Trunc", ["0"])[0])
    frames = frames[throw:len(frames) - trunc]
    total = frames.sum(axis=0)
    if "-Gain" in flags:
        with mrcfile.open(flags["-Gain"][0], permissive=True) as gain:
            reference = gain_to_frame_orientation(
                np.asarray(gain.data, dtype=np.float32),
                int(flags.get("-RotGain", ["0"])[0]), int(flags.get("-FlipGain", ["0"])[0]))
        if reference.shape != total.shape:
            return [f"Error: gain reference {reference.shape} does not match the frames "
                    f"{total.shape}"]
        total = total * reference
    lines = shift_lines(len(frames), table)
    write_mrc(output, total)
    saved = [output]
    if "-FmDose" in flags and "-PixSize" in flags:
        weights = np.exp(-0.05 * np.arange(len(frames)))[:, None, None]
        weighted = output[:-4] + "_DW.mrc"
        write_mrc(weighted, (frames * weights).sum(axis=0) * len(frames) / weights.sum())
        saved.append(weighted)
    lines += ["", "Saving motion corrected images ......"]
    if table:
        for path in saved:
            lines += ["Corrected sum has been saved in:", f"   {path}", ""]
        lines.append("Motion corrected images saved.")
    else:
        lines.append("Saving motion corrected images done.")
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(f"{program()} version {version()}")
        return 0
    flags = parse(argv)
    table = program() == "MotionCor3" or tuple(map(int, version().split("."))) >= (1, 6, 0)
    header = (LOGS / "motioncor2-1.6.4-eer.log").read_text().split("\n\n\nGPU")[0]
    echo = [line for line in header.splitlines() if not line.startswith("-")]
    echo += [f"{flag:<16} {' '.join(values)}" for flag, values in flags.items()]
    print("\n".join(echo + ["", ""]))
    source_flag = next(flag for flag in ("-InTiff", "-InEer", "-InMrc") if flag in flags)
    source, output = flags[source_flag][0], flags["-OutMrc"][0]
    if flags.get("-Serial", ["0"])[0] == "1":
        suffix = flags.get("-InSuffix", [""])[0]
        movies = sorted(Path(source).glob(f"*{suffix}"))
        jobs = [(str(movie), os.path.join(output, movie.name[:-len(suffix)] + ".mrc"))
                for movie in movies]
    else:
        jobs = [(source, output)]
    for movie, target in jobs:
        print("\n".join(align(movie, target, flags, table)), flush=True)
    print("\nTotal time: 1.234567 sec")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
