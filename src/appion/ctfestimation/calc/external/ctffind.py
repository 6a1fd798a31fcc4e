"""Drive CTFFIND 4.1.x / 5.x through its interactive prompts, and parse its output.

Each prompt is answered by its text, not by its position: CTFFIND 5 adds
"Determine sample tilt?" and "Determine sample thickness?", and a movie input
adds "Input is a movie" and "Number of frames to average".  A question we do not
know, a crash or a timeout is an :class:`~appion.base.errors.EngineError`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path

from appion.base.calc.external.programs import find_program
from appion.base.errors import EngineError
from appion.ctfestimation.calc.internal.estimator import CtfFit, SearchParameters
from appion.ctfestimation.calc.result import CtfParameters, EngineOutput

#: Executable names tried, in order, when none is configured.
EXECUTABLES = ("ctffind", "ctffind4", "ctffind5")

#: The end of every CTFFIND prompt: ``[default] : ``.
_PROMPT = re.compile(r"\[[^\]\n]*\]\s*:[ \t]*")
_VERSION = re.compile(r"Version\s*:\s*([0-9][0-9A-Za-z.\-_]*)")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def answers(params: CtfParameters, diagnostic_path: str
            ) -> list[tuple[re.Pattern[str], Callable[[], str]]]:
    """The answer to each CTFFIND question, keyed by the question's text."""
    search: SearchParameters = params.search
    table: list[tuple[str, Callable[[], str]]] = [
        (r"Input image file name", lambda: params.micrograph_path),
        (r"Input is a movie", lambda: _yes(params.is_movie)),
        (r"Number of frames to average", lambda: str(params.num_frame_avg)),
        (r"Output diagnostic (image )?file name", lambda: diagnostic_path),
        (r"Pixel size", lambda: f"{search.pixel_size_a:.4f}"),
        (r"Acceleration voltage", lambda: f"{search.kv:.1f}"),
        (r"Spherical aberration", lambda: f"{search.cs_mm:.3f}"),
        (r"Amplitude contrast", lambda: f"{search.amplitude_contrast:.4f}"),
        (r"Size of amplitude spectrum", lambda: str(search.box)),
        (r"Minimum resolution", lambda: f"{search.resmin_a:.2f}"),
        (r"Maximum resolution", lambda: f"{search.resmax_a:.2f}"),
        (r"Minimum defocus", lambda: f"{search.defocus_min_a:.1f}"),
        (r"Maximum defocus", lambda: f"{search.defocus_max_a:.1f}"),
        (r"Defocus search step", lambda: f"{search.defocus_step_a:.1f}"),
        (r"Do you know what astigmatism", lambda: "no"),
        (r"Slower, more exhaustive search", lambda: _yes(search.exhaustive)),
        (r"Use a restraint on astigmatism", lambda: "yes"),
        (r"Expected \(tolerated\) astigmatism", lambda: f"{search.expected_astigmatism_a:.1f}"),
        (r"Find additional phase shift", lambda: _yes(search.find_phase_shift)),
        (r"Minimum phase shift", lambda: f"{search.phase_min_rad:.4f}"),
        (r"Maximum phase shift", lambda: f"{search.phase_max_rad:.4f}"),
        (r"Phase shift search step", lambda: f"{search.phase_step_rad:.4f}"),
        (r"Determine sample tilt", lambda: "no"),
        (r"Determine sample thickness", lambda: "no"),
        (r"Do you want to set expert options", lambda: "no"),
    ]
    return [(re.compile(rf"^\s*{pattern}", re.IGNORECASE), answer) for pattern, answer in table]


def question_text(before: str) -> str:
    """The question preceding a ``[default] :`` prompt (its last non-empty line)."""
    lines = [line.strip() for line in before.replace("\r", "").split("\n") if line.strip()]
    return lines[-1] if lines else ""


def answer_for(question: str, table: list[tuple[re.Pattern[str], Callable[[], str]]]) -> str:
    for pattern, answer in table:
        if pattern.search(question):
            return answer()
    raise EngineError(f"ctffind asked a question Appion does not know: {question!r}; "
                      "use a CTFFIND 4.1 or 5 build, or --engine builtin")


def find_executable(name: str | None) -> str:
    """The CTFFIND executable: the configured name, else the first of {EXECUTABLES} found."""
    return find_program([name] if name else EXECUTABLES, label="CTFFIND",
                        option="--ctffind-exe")


def parse_output(text: str) -> tuple[tuple[float, ...], str]:
    """The first result row of a CTFFIND output ``.txt`` and the version in its header."""
    version = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            match = re.search(r"CTFF?ind version ([0-9][0-9A-Za-z.\-_]*)", stripped,
                              re.IGNORECASE)
            version = match.group(1) if match else version
            continue
        if stripped:
            try:
                values = tuple(float(token) for token in stripped.split())
            except ValueError:
                raise EngineError(f"CTFFIND output row is not numbers: {stripped!r}") from None
            if len(values) < 7:
                raise EngineError(f"CTFFIND output row has {len(values)} columns, "
                                  f"expected at least 7: {stripped!r}")
            return values, version
    raise EngineError("CTFFIND output has no result row")


def fit_from_columns(values: tuple[float, ...]) -> CtfFit:
    """Columns 2–7 of CTFFIND's output as a fit (CTFFIND convention, Å, degrees, rad)."""
    resolution = values[6]
    return CtfFit(defocus_1_a=values[1], defocus_2_a=values[2], azimuth_deg=values[3],
                  phase_shift_rad=values[4], cross_correlation=values[5],
                  fit_resolution_a=resolution if math.isfinite(resolution) else math.inf)


def run_ctffind(params: CtfParameters, executable: str | None = None) -> EngineOutput:
    """Run CTFFIND on one micrograph; its ``-pow.mrc`` stays in the output folder."""
    import pexpect

    program = find_executable(executable)
    output_dir = Path(params.output_dir)
    diagnostic = output_dir / f"{params.name}-pow.mrc"
    table = answers(params, str(diagnostic))
    transcript: list[str] = []
    started = time.monotonic()
    try:
        child = pexpect.spawn(program, [], cwd=str(output_dir), encoding="utf-8",
                              timeout=params.timeout_s, echo=False)
    except pexpect.ExceptionPexpect as error:
        raise EngineError(f"cannot start {program}: {error}") from None
    try:
        while True:
            index = child.expect([_PROMPT, pexpect.EOF])
            transcript.append(child.before + (child.after if index == 0 else ""))
            if index == 1:
                break
            reply = answer_for(question_text(child.before), table)
            child.sendline(reply)
            transcript.append(reply + "\n")
    except pexpect.TIMEOUT:
        child.close(force=True)
        raise EngineError(f"{Path(program).name} did not finish within "
                          f"{params.timeout_s:.0f} s on {params.micrograph_path}") from None
    finally:
        if child.isalive():
            child.close(force=True)
    child.close()
    log_text = "".join(transcript)
    status = child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)
    if status != 0:
        last = question_text(log_text) or "no output"
        raise EngineError(f"{Path(program).name} failed (exit status {status}) on "
                          f"{params.micrograph_path}: {last}")
    text_path = diagnostic.with_suffix(".txt")
    if not text_path.is_file():
        raise EngineError(f"{Path(program).name} wrote no {text_path.name}; see its output "
                          "in the run directory log")
    values, version = parse_output(text_path.read_text())
    banner = _VERSION.search(log_text)
    return EngineOutput(
        fit=fit_from_columns(values),
        engine_version=version or (banner.group(1) if banner else "unknown"),
        log_text=log_text + f"\n(elapsed {time.monotonic() - started:.2f} s)\n",
        diagnostic_path=str(diagnostic) if diagnostic.is_file() else None,
        tilt_axis_angle_deg=values[7] if len(values) > 7 else None,
        tilt_angle_deg=values[8] if len(values) > 8 else None,
        sample_thickness_a=values[9] if len(values) > 9 else None,
    )
