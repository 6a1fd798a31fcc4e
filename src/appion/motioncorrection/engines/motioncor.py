"""MotionCor2 and MotionCor3: version, command line, running, and reading their logs.

The command line is exactly the one classic Appion's
``apDDFrameAligner.MotionCor2_UCSF.makeFrameAlignmentCommand`` built, as an
argument list (never a shell string).  Flags are checked against the version the
program reports with ``--version``.  Three log dialects are read: MotionCor2
1.5.0 (``...... Frame (  1) shift:``), the 1.6.x table (``Frame   x Shift   y
Shift``) and MotionCor3, which prints the 1.6.x table.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from appion.base.calc.internal import validate
from appion.base.engine import Engine
from appion.base.errors import (
    AppionError,
    EngineConfigError,
    EngineError,
    InputFileError,
    InputNotReady,
)
from appion.base.files import read_mrc, read_mrc_voxel_size, write_mrc, write_text
from appion.motioncorrection.calc.internal.params import input_flag, sum_to_leginon_orientation
from appion.motioncorrection.contract import MotionCorParameters, MotionCorResult, MotionCorTask

#: Every flag Appion may send; anything else is a programming error caught before running.
KNOWN_FLAGS = frozenset({
    "-InMrc", "-InTiff", "-InEer", "-InSuffix", "-OutMrc", "-Serial", "-Gain", "-Dark",
    "-DefectMap", "-FmIntFile", "-FmDose", "-PixSize", "-kV", "-Throw", "-Trunc", "-Patch",
    "-Iter", "-Tol", "-Bft", "-FtBin", "-Group", "-MaskCent", "-MaskSize", "-RotGain",
    "-FlipGain", "-EerSampling", "-Gpu"})

_VERSION = re.compile(r"MotionCor([23])?\D{0,20}?(\d+)\.(\d+)(?:\.(\d+))?", re.IGNORECASE)
_FRAME_150 = re.compile(r"^\.{6}\s*Frame\s*\(\s*(\d+)\)\s*shift:\s*(\S+)\s+(\S+)")
_TABLE_HEADER = re.compile(r"^\s*Frame\s+x Shift\s+y Shift\s*$")
_TABLE_ROW = re.compile(r"^\s*(\d+)\s+(-?\d+\.?\d*(?:[eE][-+]?\d+)?)\s+"
                        r"(-?\d+\.?\d*(?:[eE][-+]?\d+)?)\s*$")


# ----------------------------------------------------------------------------- version

def parse_version(text: str) -> tuple[int, int, int]:
    """``(1, 6, 4)`` from the ``--version`` output (``MotionCor2 version 1.6.4``)."""
    match = _VERSION.search(text)
    if not match:
        raise EngineConfigError(f"cannot read a MotionCor version from "
                                f"{text.strip()[:80]!r}; check the executable is MotionCor2 "
                                "or MotionCor3")
    return int(match[2]), int(match[3]), int(match[4] or 0)


def version_string(version: Sequence[int]) -> str:
    return ".".join(str(part) for part in version)


@functools.lru_cache(maxsize=16)
def query_version(executable: str) -> tuple[int, int, int]:
    """Run ``<executable> --version`` once per process and parse the answer."""
    path = shutil.which(executable)
    if path is None:
        raise EngineConfigError(f"{executable} not found on PATH; install it or give its "
                                "path with --motioncor-exe")
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True,
                                timeout=60, check=False)
    except subprocess.TimeoutExpired as error:
        raise EngineError(f"{executable} --version failed: {error}") from None
    except OSError as error:
        raise EngineConfigError(f"{executable} --version failed: {error}") from None
    return parse_version(answer.stdout + answer.stderr)


def check_version(engine: str, version: Sequence[int]) -> None:
    """Refuse versions older than the oldest one whose flags Appion knows."""
    minimum = _by_name(engine).version_floor or (0,)
    if tuple(version) < minimum:
        raise EngineConfigError(f"{engine} {version_string(version)} is not supported; "
                                f"use {engine} {version_string(minimum)} or newer")


def validate_flags(engine: str, version: Sequence[int], args: Sequence[str]) -> None:
    """Every flag must be known and supported by this version of the program."""
    for token in args:
        if not token.startswith("-") or _is_number(token):
            continue
        if token not in KNOWN_FLAGS:
            raise EngineConfigError(f"{engine} has no flag {token}")
        since = _by_name(engine).flag_since.get(token)
        if since and tuple(version) < since:
            raise EngineConfigError(f"{engine} {version_string(version)} has no {token} "
                                    f"(added in {version_string(since)}); upgrade {engine}")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------- command

def _ft_bin_text(value: float) -> str:
    """Classic printed ``-FtBin`` with Python's ``str(float)``: ``2.0``."""
    return str(float(value))


def build_args(params: MotionCorParameters) -> list[str]:
    """MotionCor2's arguments for one movie, in classic order and number formats."""
    args = [input_flag(params.input_format), params.input_path, "-OutMrc", params.output_path]
    if params.ft_bin > 1:
        args += ["-FtBin", _ft_bin_text(params.ft_bin)]
    args += ["-Bft", "%d" % params.bfactor[0], "%d" % params.bfactor[1]]
    if params.throw > 0:
        args += ["-Throw", "%d" % params.throw]
    if params.trunc > 0:
        args += ["-Trunc", "%d" % params.trunc]
    if params.iterations > 0:
        args += ["-Iter", "%d" % params.iterations]
    args += ["-Tol", "%.3f" % params.tolerance]
    if params.patch[0] > 0 or params.patch[1] > 0:
        args += ["-Patch", "%d" % params.patch[0], "%d" % params.patch[1]]
    if params.group:
        args += ["-Group", "%d" % params.group]
    if params.mask_center is not None:
        args += ["-MaskCent", "%d" % params.mask_center[0], "%d" % params.mask_center[1]]
    args += ["-MaskSize", "%.3f" % params.mask_size[0], "%.3f" % params.mask_size[1]]
    if params.fmintfile_path:
        args += ["-FmIntFile", params.fmintfile_path]
    if params.dose_weight and params.fm_dose:
        args += ["-FmDose", "%.3f" % params.fm_dose]
        if params.pixel_size_a:
            args += ["-PixSize", "%.3f" % params.pixel_size_a]
        if params.kv:
            args += ["-kV", "%d" % params.kv]
    if params.gain_path:
        if params.dark_path:
            args += ["-Dark", params.dark_path]
        args += ["-Gain", params.gain_path]
    if params.defect_map_path:
        args += ["-DefectMap", params.defect_map_path]
    args += ["-FlipGain", "%d" % params.flip_gain, "-RotGain", "%d" % params.rot_gain]
    args += ["-Gpu", *("%d" % gpu for gpu in params.gpu_ids)]
    if params.input_format == "eer":
        args += ["-EerSampling", "%d" % params.eer_sampling]
    return args


def args_as_flags(args: Sequence[str]) -> dict[str, str]:
    """``{"Patch": "7 5", …}``: each flag with its values joined by one space."""
    flags: dict[str, list[str]] = {}
    current = None
    for token in args:
        if token.startswith("-") and not _is_number(token):
            current = token[1:]
            flags[current] = []
        elif current is not None:
            flags[current].append(token)
    return {flag: " ".join(values) for flag, values in flags.items()}


# ----------------------------------------------------------------------------- logs

def parse_shifts_150(text: str) -> tuple[tuple[float, float], ...]:
    """MotionCor2 1.5.0 full-frame shifts: ``...... Frame (  1) shift:  x  y``."""
    found = [_FRAME_150.match(line.strip()) for line in text.splitlines()]
    return tuple((float(m[2]), float(m[3])) for m in found if m)


def parse_shifts_table(text: str) -> tuple[tuple[float, float], ...]:
    """MotionCor2 1.6.x / MotionCor3 full-frame shifts: the ``Frame x Shift y Shift`` table."""
    lines = text.splitlines()
    for start, line in enumerate(lines):  # noqa: B007 - ``start`` is read after the loop
        if _TABLE_HEADER.match(line):
            break
    else:
        return ()
    shifts = []
    for line in lines[start + 1:]:
        row = _TABLE_ROW.match(line)
        if not row:
            break
        shifts.append((float(row[2]), float(row[3])))
    return tuple(shifts)


#: MotionCor3 kept MotionCor2 1.6's table.
parse_shifts_motioncor3 = parse_shifts_table


def parse_shifts(text: str) -> tuple[tuple[float, float], ...]:
    """Full-frame shifts from any supported log dialect (1.5.0 lines or the 1.6+ table)."""
    return parse_shifts_table(text) or parse_shifts_150(text)


def split_serial_log(text: str, output_paths: Sequence[str]) -> dict[str, str]:
    """Cut a ``-Serial 1`` log into one piece per movie.

    MotionCor2 1.6+ and MotionCor3 end each movie with ``Corrected sum has been
    saved in:`` and the output path; a movie's piece runs from the end of the
    previous movie's last mention to the last line naming its own output stem.
    """
    lines = text.splitlines(keepends=True)
    ends = {}
    for path in output_paths:
        stem = Path(path).stem
        mentions = [index for index, line in enumerate(lines) if stem in line]
        if not mentions:
            raise EngineError(f"the serial log does not mention {Path(path).name}; "
                              "the movie was not processed")
        ends[path] = mentions[-1]
    pieces, start = {}, 0
    ordered = sorted(output_paths, key=lambda item: ends[item])
    for number, path in enumerate(ordered):
        stop = len(lines) if number == len(ordered) - 1 else ends[path] + 1
        pieces[path] = "".join(lines[start:stop])
        start = stop
    return pieces


# ----------------------------------------------------------------------------- running

@dataclass(frozen=True)
class EngineCall:
    """Which program runs, and how long it may take per movie."""

    engine: str = "motioncor2"
    executable: str | None = None
    timeout_s: float = 1800.0

    @property
    def program(self) -> str:
        return self.executable or self.engine


def dw_path(output_path: str) -> str:
    """MotionCor2 writes the dose-weighted sum next to ``-OutMrc`` as ``<stem>_DW.mrc``."""
    root, ext = os.path.splitext(output_path)
    return f"{root}_DW{ext}"


def check_inputs(params: MotionCorParameters) -> None:
    """A missing frames file or reference fails this movie with one line naming it."""
    if not os.path.exists(params.input_path):
        raise InputNotReady(f"frames file {params.input_path} is missing; check the "
                            "session's frame path (or --framepath)")
    for label, path in (("gain reference", params.gain_path),
                        ("dark reference", params.dark_path),
                        ("defect map", params.defect_map_path),
                        ("FmIntFile", params.fmintfile_path)):
        if path and not os.path.exists(path):
            raise InputFileError(f"{label} {path} is missing; check the norm/dark "
                                 "references of the session")


def _run(call: EngineCall, args: list[str], log_path: str | None, timeout: float,
         renamed: tuple[str, str] | None = None) -> tuple[str, tuple[int, int, int]]:
    """Run the program; its output, with ``renamed`` = (scratch, final) output roots
    named as the final ones, goes to ``log_path``."""
    version = query_version(call.program)
    check_version(call.engine, version)
    validate_flags(call.engine, version, args)
    executable = shutil.which(call.program) or call.program
    try:
        done = subprocess.run([executable, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise EngineError(f"{call.engine} did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise EngineError(f"cannot run {executable}: {error}") from None
    text = done.stdout.replace(*renamed) if renamed else done.stdout
    if log_path:
        write_text(log_path, text)
    if done.returncode != 0:
        where = log_path or "its output"
        raise EngineError(f"{call.engine} exited with status {done.returncode}; see {where}")
    return text, version


def _result(image_id: int, call: EngineCall, version: Sequence[int],
            params: MotionCorParameters, log_text: str, log_path: str | None,
            elapsed: float, written: str | None = None) -> MotionCorResult:
    """The result of a run whose aligned sum is at ``written`` (default: the output path)."""
    if not os.path.exists(written or params.output_path):
        raise EngineError(f"{call.engine} wrote no {params.output_path}; see "
                          f"{log_path or 'its log'}")
    shifts = parse_shifts(log_text)
    if not shifts:
        raise EngineError(f"no frame shifts in the {call.engine} log {log_path or ''}".strip())
    if written is None:
        check_written_sums(call.engine, params.input_path, params.output_path,
                           dw_path(params.output_path))
        weighted = os.path.exists(dw_path(params.output_path))
    else:
        weighted = os.path.exists(dw_path(written))
    return MotionCorResult(
        image_id=image_id, engine=call.engine, engine_version=version_string(version),
        aligned_path=params.output_path,
        aligned_dw_path=dw_path(params.output_path) if weighted else None,
        shifts_px=shifts, log_text=log_text, log_path=log_path, ft_bin=params.ft_bin,
        elapsed_s=elapsed)


def check_written_sums(engine: str, input_path: str, *paths: str) -> None:
    """Refuse (and remove) sums an engine wrote with NaN/Inf pixels or one value everywhere.

    Such a sum comes from garbage in the movie or its references; it must never be
    linked into the session's image path.
    """
    present = [path for path in paths if os.path.exists(path)]
    try:
        for path in present:
            _check_sum(engine, input_path, _read_sum(engine, path), path)
    except InputFileError:
        for path in present:
            _remove(path)
        raise


def _read_sum(engine: str, path: str, shown: str | None = None) -> np.ndarray:
    """A sum as the engine wrote it; unreadable is an EngineError naming ``shown``."""
    try:
        return read_mrc(path, f"the {engine} sum", dtype=None)
    except InputFileError as error:
        raise EngineError(f"{engine} wrote an unreadable {shown or path} ({error})") from None


def _check_sum(engine: str, input_path: str, data: np.ndarray, path: str) -> None:
    validate.check_image(data, f"the {engine} sum {os.path.basename(path)} of "
                         f"{input_path}", "check the movie and its gain reference")


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def scratch_output(output_path: str) -> str:
    """A hidden name next to ``output_path`` for the program to write its sums to."""
    folder, name = os.path.split(output_path)
    root, ext = os.path.splitext(name)
    return os.path.join(folder, f".{root}.{os.getpid()}-{uuid.uuid4().hex[:8]}{ext}")


def finish_sums(engine: str, params: MotionCorParameters, scratch: str,
                upside_down: bool) -> None:
    """Write the sums the program left at ``scratch`` (and its ``_DW``) once, at their
    final names and in Leginon's orientation; refuse garbage before writing anything.

    Classic's turn-back (``organizeAlignedSum``) flips when ``upside_down`` (EER) xor
    FlipGain, then rotates by RotGain; a sum that needs no turn is renamed.
    """
    pairs = [(scratch, params.output_path)]
    if os.path.exists(dw_path(scratch)):
        pairs.append((dw_path(scratch), dw_path(params.output_path)))
    turn = bool(params.rot_gain % 4) or bool(upside_down) != bool(params.flip_gain)
    sums = [_read_sum(engine, source, final) for source, final in pairs]
    for data, (_, final) in zip(sums, pairs):
        _check_sum(engine, params.input_path, data, final)
    for data, (source, final) in zip(sums, pairs):
        if not turn:
            os.replace(source, final)
            continue
        oriented = sum_to_leginon_orientation(data, params.rot_gain, params.flip_gain,
                                              upside_down)
        write_mrc(final, oriented, read_mrc_voxel_size(source))


def run_motioncor(params: MotionCorParameters, *, image_id: int, call: EngineCall,
                  log_path: str | None = None) -> MotionCorResult:
    """Run MotionCor2/3 on one movie; the raw log goes to ``log_path``.

    The program writes its sums under a scratch name; they reach their final names
    once, in Leginon's orientation (:func:`finish_sums`).
    """
    check_inputs(params)
    scratch = scratch_output(params.output_path)
    args = build_args(replace(params, output_path=scratch))
    renamed = (os.path.splitext(scratch)[0], os.path.splitext(params.output_path)[0])
    started = time.monotonic()
    try:
        text, version = _run(call, args, log_path, call.timeout_s, renamed)
        result = _result(image_id, call, version, params, text, log_path,
                         time.monotonic() - started, written=scratch)
        finish_sums(call.engine, params, scratch, params.input_format == "eer")
    finally:
        _remove(scratch)
        _remove(dw_path(scratch))
    return result


def serial_args(batch: Sequence[MotionCorParameters], input_dir: str, output_dir: str
                ) -> list[str]:
    """One ``-Serial 1`` command for movies that share every parameter but their paths."""
    first = build_args(batch[0])
    suffix = os.path.splitext(batch[0].input_path)[1]
    args = [first[0], input_dir.rstrip("/") + "/", "-InSuffix", suffix,
            "-OutMrc", output_dir.rstrip("/") + "/", "-Serial", "1"]
    return args + first[4:]


def run_motioncor_serial(batch: Sequence[tuple[int, MotionCorParameters]], *,
                         call: EngineCall, log_paths: Sequence[str | None]
                         ) -> list[MotionCorResult | AppionError]:
    """Run a batch with ``-Serial 1`` and split the log per movie.

    The movies are linked into a scratch folder as ``<output stem><suffix>`` so that
    MotionCor names each output ``<output stem>.mrc`` next to the others.  Returns one
    result, or the error of that movie, per input.
    """
    params_list = [params for _, params in batch]
    for params in params_list:
        check_inputs(params)
    output_dir = os.path.dirname(params_list[0].output_path)
    suffix = os.path.splitext(params_list[0].input_path)[1]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".serial-") as scratch:
        for params in params_list:
            os.symlink(os.path.abspath(params.input_path),
                       os.path.join(scratch, Path(params.output_path).stem + suffix))
        args = serial_args(params_list, scratch, output_dir)
        text, version = _run(call, args, None, call.timeout_s * len(batch))
    elapsed = (time.monotonic() - started) / len(batch)
    pieces = split_serial_log(text, [params.output_path for params in params_list])
    outcomes: list[MotionCorResult | AppionError] = []
    for (image_id, params), log_path in zip(batch, log_paths):
        piece = pieces[params.output_path]
        if log_path:
            write_text(log_path, piece)
        try:
            outcomes.append(_result(image_id, call, version, params, piece, log_path,
                                    elapsed))
        except (EngineError, InputFileError) as error:
            outcomes.append(error)
    return outcomes


# ----------------------------------------------------------------------------- engines

class MotionCor(Engine[MotionCorTask, MotionCorResult]):
    """An external MotionCor program; the subclasses declare what differs."""

    executable_option = "--motioncor-exe"
    #: Flags newer than :attr:`version_floor`, with the version that added them.
    flag_since: ClassVar[Mapping[str, tuple[int, int, int]]] = {}

    def find_program(self, executable: str | None = None) -> str | None:
        """Before any movie: the program is on ``PATH`` and of a supported version
        (an :class:`~appion.base.errors.EngineConfigError` otherwise)."""
        program = executable or self.name
        check_version(self.name, query_version(program))
        return shutil.which(program)

    def installed_version(self, path: str) -> tuple[int, ...] | None:
        return query_version(path)

    def run(self, task: MotionCorTask) -> MotionCorResult:
        call = EngineCall(engine=self.name, executable=task.executable,
                          timeout_s=task.timeout_s)
        return run_motioncor(task.params, image_id=task.image_id, call=call,
                             log_path=task.raw_log_path)


class MotionCor2(MotionCor):
    name = "motioncor2"
    program = ("motioncor2",)
    label = "MotionCor2"
    version_floor = (1, 4, 0)  # EER and FmIntFile came in MotionCor2 1.4.0
    flag_since: ClassVar[Mapping[str, tuple[int, int, int]]] = {
        "-InEer": (1, 4, 0), "-EerSampling": (1, 4, 0), "-FmIntFile": (1, 4, 0)}


class MotionCor3(MotionCor):
    name = "motioncor3"
    program = ("motioncor3",)
    label = "MotionCor3"
    version_floor = (1, 0, 0)


def _by_name(engine: str) -> type[MotionCor]:
    return {"motioncor2": MotionCor2, "motioncor3": MotionCor3}[engine]
