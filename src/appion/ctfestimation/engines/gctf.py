"""Run Gctf from its command line and parse its ``_gctf.log`` (classic ``gctf.py``).

Gctf is not interactive: every parameter is a flag.  The result is the line
after the ``Defocus_U`` header, ending in ``Final Values``: U, V, angle, [phase
shift,] CCC; the ``RES_LIMIT`` line gives the fit resolution.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path

from appion.base.errors import EngineError
from appion.ctfestimation.contract import CtfFit, CtfTask, EngineOutput, GctfOptions
from appion.ctfestimation.engines.base import ExternalEngine

_VERSION = re.compile(r"Gctf\s+v?([0-9][0-9A-Za-z.\-_]*)", re.IGNORECASE)


def gctf_command(executable: str, task: CtfTask, input_name: str) -> list[str]:
    """The classic ``gctf.py`` command line (phase-plate and local-refinement flags as asked)."""
    search, options = task.search, task.gctf or GctfOptions()
    command = [
        executable,
        "--apix", f"{search.pixel_size_a:.4f}", "--kv", f"{search.kv:.1f}",
        "--cs", f"{search.cs_mm:.3f}", "--ac", f"{search.amplitude_contrast:.4f}",
        "--boxsize", str(search.box),
        "--do_EPA", str(int(options.do_EPA)), "--do_Hres_ref", str(int(options.do_Hres_ref)),
        "--mdef_ave_type", "0", "--mdef_aveN", str(options.mdef_aveN),
        "--resL", f"{search.resmin_a:.2f}", "--resH", f"{search.resmax_a:.2f}",
        "--defL", f"{search.defocus_min_a:.1f}", "--defH", f"{search.defocus_max_a:.1f}",
        "--defS", f"{search.defocus_step_a:.1f}",
        "--astm", f"{search.expected_astigmatism_a:.1f}",
        "--gid", str(options.gpu_id),
    ]
    if search.find_phase_shift:
        command += ["--phase_shift_L", f"{math.degrees(search.phase_min_rad):.2f}",
                    "--phase_shift_H", f"{math.degrees(search.phase_max_rad):.2f}",
                    "--phase_shift_S", f"{math.degrees(search.phase_step_rad):.2f}",
                    "--phase_shift_T", "1"]
    if options.local_refine:
        command += ["--do_local_refine", "1", "--local_radius", str(options.local_radius),
                    "--local_boxsize", str(options.local_boxsize),
                    "--local_overlap", f"{options.local_overlap:.3f}"]
    command.append(input_name)
    return command


def parse_log(text: str) -> tuple[CtfFit, str]:
    """The final fit (CTFFIND convention: U is defocus 1 along the angle) and the version."""
    lines = text.splitlines()
    values: list[float] | None = None
    for index, line in enumerate(lines):
        if "Defocus_U" in line and index + 1 < len(lines):
            tokens = lines[index + 1].split()
            if "Final" in tokens:
                numbers = tokens[:tokens.index("Final")]
                try:
                    values = [float(token) for token in numbers]
                except ValueError:
                    raise EngineError(f"Gctf result line is not numbers: "
                                      f"{lines[index + 1].strip()!r}") from None
    if values is None or len(values) not in (4, 5):
        raise EngineError("Gctf log has no 'Final Values' line after the Defocus_U header")
    phase_deg = values[3] if len(values) == 5 else 0.0
    resolution = math.inf
    for line in lines:
        match = re.search(r"RES_LIMIT\s+([0-9.eE+\-]+)", line)
        if match:
            resolution = float(match.group(1))
    version = _VERSION.search(text)
    fit = CtfFit(defocus_1_a=values[0], defocus_2_a=values[1], azimuth_deg=values[2],
                 phase_shift_rad=math.radians(phase_deg), cross_correlation=values[-1],
                 fit_resolution_a=resolution)
    return fit, version.group(1) if version else "unknown"


def run_gctf(task: CtfTask, executable: str | None = None) -> EngineOutput:
    """Run Gctf on the micrograph (a name inside the output folder); parse its log."""
    program = str(Gctf().find_program(executable))
    output_dir = Path(task.output_dir)
    input_name = Path(task.micrograph_path).name
    command = gctf_command(program, task, input_name)
    started = time.monotonic()
    try:
        completed = subprocess.run(command, cwd=output_dir, capture_output=True, text=True,
                                   check=False, timeout=task.timeout_s)
    except subprocess.TimeoutExpired:
        raise EngineError(f"Gctf did not finish within {task.timeout_s:.0f} s on "
                          f"{task.micrograph_path}") from None
    stem = Path(input_name).stem
    log_path = output_dir / f"{stem}_gctf.log"
    if completed.returncode != 0 or not log_path.is_file():
        last = (completed.stderr or completed.stdout).strip().splitlines()
        raise EngineError(f"Gctf failed (exit status {completed.returncode}) on "
                          f"{task.micrograph_path}: {last[-1] if last else 'no output'}")
    log_text = log_path.read_text()
    fit, version = parse_log(log_text)
    diagnostic = output_dir / f"{stem}.ctf"
    local_star = output_dir / f"{stem}_local.star"
    return EngineOutput(
        fit=fit, engine_version=version,
        log_text=completed.stdout + f"\n(elapsed {time.monotonic() - started:.2f} s)\n",
        diagnostic_path=str(diagnostic) if diagnostic.is_file() else None,
        local_star=str(local_star) if local_star.is_file() else None,
    )


class Gctf(ExternalEngine):
    """Gctf, run from its command line as classic ``gctf.py`` runs it."""

    name = "gctf"
    program = ("gctf", "Gctf", "gctfCurrent")
    label = "Gctf"
    executable_option = "--ctf-exe"

    def run(self, task: CtfTask) -> EngineOutput:
        return run_gctf(task, task.executable)
