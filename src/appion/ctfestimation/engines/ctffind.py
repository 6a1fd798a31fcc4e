"""Drive CTFFIND 4.1.x / 5.x through its interactive prompts, and parse its output.

Each prompt is answered by its text, not by its position: CTFFIND 5 adds
"Determine sample tilt?" and "Determine samnple thickness?" (sic), and a movie
input adds "Input is a movie" and "Number of frames to average".

What a prompt looks like on a terminal (CTFFIND writes ``\n``, the terminal shows
``\r\n`` and echoes each answer); 4.1, then 5.x, then 5.x with a default too long
for the question's line::

    Pixel size [1.0]                                   : 0.9
    Pixel size \x1b[36m[1.0]\x1b[0m                                   : 0.9
    Output diagnostic image file name
    \x1b[36m[diagnostic_output.mrc]\x1b[0m                            : out.mrc

CTFFIND 5 colours the default whenever its output is a terminal (``TERM=dumb`` and
``NO_COLOR`` do not stop it), so prompts are matched with the colour allowed and
questions are read with it stripped.  A question we do not know, a question asked
again (CTFFIND re-asks when it rejects an answer), a program that falls silent
after something that looks like a question, and a program that exits early are each
a one-line :class:`~appion.base.errors.EngineError` naming the prompt; the timeout
only catches a program that hangs while computing.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from appion.base.errors import EngineConfigError, EngineError
from appion.ctfestimation.contract import (
    CtfFit,
    CtfTask,
    EngineOutput,
    SearchParameters,
)
from appion.ctfestimation.engines.base import ExternalEngine

#: ANSI escape sequences (CSI ... final byte), e.g. ``\x1b[36m`` and ``\x1b[0m``.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_COLOUR = r"(?:\x1b\[[0-9;]*m)*"
#: The end of every CTFFIND prompt: ``[default] : ``, the default possibly in colour.
PROMPT = re.compile(_COLOUR + r"\[(?P<default>[^\]\r\n\x1b]*)\]" + _COLOUR + r"[ \t]*:[ \t]*")
_VERSION = re.compile(r"Version\s*:\s*([0-9][0-9A-Za-z.\-_]*)")

#: Seconds of silence after an unfinished line ending in ``:`` or ``?`` that mean the
#: program waits at a prompt :data:`PROMPT` cannot read (e.g. one without a default).
QUIET_S = 2.0

#: Columns of the summary file: 4.1 writes 7; 5 adds tilt axis, tilt angle, thickness.
COLUMNS_41 = 7
COLUMNS_5 = 10

Answers = list[tuple[re.Pattern[str], Callable[[], str]]]

if TYPE_CHECKING:
    from pexpect.spawnbase import SpawnBase


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def answers(task: CtfTask, diagnostic_path: str) -> Answers:
    """The answer to each CTFFIND question, keyed by the question's text."""
    search: SearchParameters = task.search
    table: list[tuple[str, Callable[[], str]]] = [
        (r"Input image file name", lambda: task.micrograph_path),
        (r"Input is a movie", lambda: _yes(task.is_movie)),
        (r"Number of frames to average", lambda: str(task.num_frame_avg)),
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
        (r"Determine sam\w*ple thickness", lambda: "no"),  # 5.0.2 asks "samnple"
        (r"Do you want to set expert options", lambda: "no"),
    ]
    return [(re.compile(rf"^\s*{pattern}", re.IGNORECASE), answer) for pattern, answer in table]


def clean_text(text: str) -> str:
    """``text`` as a person reads it: no ANSI escape sequences, no carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in clean_text(text).split("\n") if line.strip()]


def question_text(before: str) -> str:
    """The question of a ``[default] :`` prompt: the last non-empty line before it.

    That is the question's own line, or the line above when CTFFIND put a long
    default on a line of its own; an echoed answer to the previous question sits on
    an earlier line and is skipped.
    """
    lines = _lines(before)
    return lines[-1] if lines else ""


def waiting_question(pending: str) -> str | None:
    """What a silent program seems to ask: its unfinished last line ending in ``:``/``?``."""
    last = clean_text(pending).rsplit("\n", 1)[-1].strip()
    if last.endswith((":", "?")) and len(last) > 1:
        return last.rstrip(":").strip()
    return None


def answer_for(question: str, table: Answers) -> str:
    """The answer to ``question``; a question we do not know is an :class:`EngineError`."""
    for pattern, answer in table:
        if pattern.search(question):
            return answer()
    raise EngineConfigError(f"ctffind asked a question Appion does not know: {question!r}; "
                      "use a CTFFIND 4.1 or 5 build, or --engine builtin")


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(clean_text(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


@dataclass
class Conversation:
    """What was said: the program's raw output, our replies, each (question, answer)."""

    transcript: list[str] = field(default_factory=list)  # output and replies, in order
    exchanges: list[tuple[str, str]] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # the program's output alone

    @property
    def last_question(self) -> str:
        return self.exchanges[-1][0] if self.exchanges else ""

    @property
    def text(self) -> str:
        return "".join(self.transcript)

    @property
    def output(self) -> str:
        return "".join(self.shown)

    def heard(self, text: str) -> None:
        self.transcript.append(text)
        self.shown.append(text)


def converse(child: SpawnBase, table: Answers, *, timeout_s: float, label: str,
             quiet_s: float = QUIET_S) -> Conversation:
    """Answer every prompt of a pexpect ``child`` until it closes its output.

    ``label`` names the program and input in error messages.  Returns at the end of
    the output; the caller reads the exit status.
    """
    import pexpect

    deadline = time.monotonic() + timeout_s
    said = Conversation()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EngineError(f"{label} did not finish within {timeout_s:.0f} s (last prompt "
                              f"answered: {said.last_question!r}); raise the timeout if it "
                              "is just slow")
        index = child.expect([PROMPT, pexpect.EOF, pexpect.TIMEOUT],
                             timeout=min(quiet_s, remaining))
        if index == 1:
            said.heard(child.before)
            return said
        if index == 2:
            _check_not_waiting(child.before, label)
            continue
        said.heard(child.before + child.after)
        _answer(child, said, table, label)


def _check_not_waiting(pending: str, label: str) -> None:
    question = waiting_question(pending)
    if question is not None:
        raise EngineConfigError(f"{label} waits at a prompt Appion cannot read: {question!r}; "
                          "use a CTFFIND 4.1 or 5 build, or --engine builtin")


def _answer(child: SpawnBase, said: Conversation, table: Answers, label: str) -> None:
    question = question_text(child.before)
    if said.exchanges and question == said.last_question:
        rejected = said.exchanges[-1][1]
        reason = [line for line in _lines(child.before)[:-1] if "rror" in line]
        raise EngineConfigError(f"{label} rejected the answer {rejected!r} to {question!r}"
                          + (f": {_one_line(reason[-1])}" if reason else ""))
    reply = answer_for(question, table)
    child.sendline(reply)
    said.exchanges.append((question, reply))
    said.transcript.append(reply + "\n")


def parse_output(text: str) -> tuple[tuple[float, ...], str]:
    """The first result row of a CTFFIND summary ``.txt`` and the version in its header.

    A row has 7 columns (CTFFIND 4.1) or 10 (CTFFIND 5: tilt axis angle, tilt angle,
    sample thickness added); any other count is an unknown format.
    """
    version = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            match = re.search(r"CTFF?ind version ([0-9][0-9A-Za-z.\-_]*)", stripped,
                              re.IGNORECASE)
            version = match.group(1) if match else version
            continue
        if stripped:
            return _row_values(stripped), version
    raise EngineError("CTFFIND output has no result row")


def _row_values(row: str) -> tuple[float, ...]:
    try:
        values = tuple(float(token) for token in row.split())
    except ValueError:
        raise EngineError(f"CTFFIND output row is not numbers: {row!r}") from None
    if len(values) not in (COLUMNS_41, COLUMNS_5):
        raise EngineConfigError(f"CTFFIND output row has {len(values)} columns, expected "
                          f"{COLUMNS_41} (CTFFIND 4.1) or {COLUMNS_5} (CTFFIND 5): {row!r}")
    return values


def fit_from_columns(values: tuple[float, ...]) -> CtfFit:
    """Columns 2–7 of CTFFIND's output as a fit (CTFFIND convention, Å, degrees, rad)."""
    resolution = values[6]
    return CtfFit(defocus_1_a=values[1], defocus_2_a=values[2], azimuth_deg=values[3],
                  phase_shift_rad=values[4], cross_correlation=values[5],
                  fit_resolution_a=resolution if math.isfinite(resolution) else math.inf)


def extras_from_columns(values: tuple[float, ...]
                        ) -> tuple[float | None, float | None, float | None]:
    """CTFFIND 5's columns 8–10: tilt axis angle (°), tilt angle (°), thickness (Å).

    CTFFIND 5 writes 0 where it was not asked to determine them; 4.1 has no such columns.
    """
    if len(values) < COLUMNS_5:
        return None, None, None
    return values[7], values[8], values[9]


def run_ctffind(task: CtfTask, executable: str | None = None) -> EngineOutput:
    """Run CTFFIND on one micrograph; its ``-pow.mrc`` stays in the output folder."""
    program = str(Ctffind().find_program(executable))
    name = Path(program).name
    label = f"{name} on {task.micrograph_path}"
    diagnostic = Path(task.output_dir) / f"{task.name}-pow.mrc"
    started = time.monotonic()
    said, status = _run_conversation(program, task, answers(task, str(diagnostic)), label)
    log_text = clean_text(said.text)
    if status != 0:
        last = _lines(log_text)[-1] if _lines(log_text) else "no output"
        raise EngineError(f"{name} failed (exit status {status}) on {task.micrograph_path} "
                          f"after the prompt {said.last_question!r}: {_one_line(last)}")
    text_path = diagnostic.with_suffix(".txt")
    if not text_path.is_file():
        raise EngineError(f"{name} wrote no {text_path.name}; see its output "
                          "in the run directory log")
    values, version = parse_output(text_path.read_text())
    banner = _VERSION.search(log_text)
    tilt_axis, tilt, thickness = extras_from_columns(values)
    return EngineOutput(
        fit=fit_from_columns(values),
        engine_version=version or (banner.group(1) if banner else "unknown"),
        log_text=log_text + f"\n(elapsed {time.monotonic() - started:.2f} s)\n",
        diagnostic_path=str(diagnostic) if diagnostic.is_file() else None,
        tilt_axis_angle_deg=tilt_axis, tilt_angle_deg=tilt, sample_thickness_a=thickness,
    )


def _run_conversation(program: str, task: CtfTask, table: Answers, label: str
                      ) -> tuple[Conversation, int]:
    """Spawn CTFFIND on a terminal, answer it, and return what was said and its status."""
    import pexpect

    try:
        child = pexpect.spawn(program, [], cwd=task.output_dir, encoding="utf-8",
                              codec_errors="replace", timeout=task.timeout_s, echo=False)
        child.delaybeforesend = None  # each answer waits for its prompt already
    except pexpect.ExceptionPexpect as error:
        raise EngineError(f"cannot start {program}: {_one_line(str(error))}") from None
    deadline = time.monotonic() + task.timeout_s
    try:
        said = converse(child, table, timeout_s=task.timeout_s, label=label)
    except BaseException:
        child.close(force=True)
        raise
    return said, _exit_status(child, deadline)


def _exit_status(child: SpawnBase, deadline: float) -> int:
    """The exit status of a child whose output has ended (−signal if killed).

    The terminal closes as the program exits, a moment before it can be reaped;
    closing at once would kill a program still on its way out.
    """
    while child.isalive() and time.monotonic() < deadline:
        time.sleep(0.01)
    child.close(force=True)
    return child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)


class Ctffind(ExternalEngine):
    """CTFFIND 4.1 or 5, answered prompt by prompt."""

    name = "ctffind4"
    program = ("ctffind", "ctffind4", "ctffind5")
    label = "CTFFIND"
    executable_option = "--ctffind-exe"

    def run(self, task: CtfTask) -> EngineOutput:
        return run_ctffind(task, task.executable)
