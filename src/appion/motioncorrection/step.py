"""Motion correction as a controller step (see :mod:`appion.base.step`).

``prepare`` reads the images' Leginon metadata in bulk, writes the per-reference
files once (gain, dark, defect map, FmIntFile) and computes each exposure's
:class:`MotionCorParameters` with classic Appion's rules.  ``run_task`` runs the
chosen engine (``motioncor2`` by default, as classic; ``motioncor3``;
``builtin``), turns the sums back to Leginon's orientation and writes the logs.
``store`` records everything classic Appion recorded.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from typing import Any

import mrcfile
import numpy as np

from appion.base.errors import AppionError, EngineError, InputFileError, InputNotReady, UsageError
from appion.base.files import plain_file_name
from appion.base.step import RunContext, cached_run_id, run_id_or_init
from appion.motioncorrection.calc.external import motioncor as mc
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.calc.result import MotionCorParameters, MotionCorResult

log = logging.getLogger(__name__)

ENGINES = ("builtin", "motioncor2", "motioncor3")
RUN_ID_KEY = "motioncor_ddstackrun_id"


@dataclass(frozen=True)
class MotionCorTask:
    """One exposure to motion-correct: everything a worker needs, no database."""

    image_id: int
    engine: str
    params: MotionCorParameters
    image_name: str
    rundir: str
    executable: str | None = None
    timeout_s: float = 1800.0
    error: str | None = None
    frames_missing: bool = False  # the error is a movie not there (yet): it may arrive

    @property
    def is_eer(self) -> bool:
        return self.params.input_format == "eer"

    @property
    def st_log_path(self) -> str:
        return os.path.join(self.rundir, f"{self.image_name}_st_Log.txt")

    @property
    def raw_log_path(self) -> str:
        return os.path.join(self.rundir, f"{self.image_name}_st_Log.{self.engine}.txt")


def add_step_options(parser: argparse.ArgumentParser, *, pipeline: bool = False) -> None:
    """The classic ``makeDDAlignMotionCor2_UCSF.py`` flags, plus the engine choice.

    In ``appion pipeline`` the engine flag is ``--motioncor-engine`` so that it does
    not collide with the CTF step's; every other flag keeps its classic name.
    """
    group = parser.add_argument_group("motion correction (classic makeDDAlignMotionCor2_UCSF)")
    engine_flags = ["--motioncor-engine"] if pipeline else ["--engine", "--motioncor-engine"]
    group.add_argument(*engine_flags, dest="mc_engine", choices=ENGINES, default="motioncor2",
                       help="motion-correction engine (default motioncor2, as classic)")
    group.add_argument("--motioncor-exe", dest="mc_executable",
                       help="MotionCor2/MotionCor3 executable (default: the engine name "
                            "on PATH)")
    group.add_argument("--motioncor-timeout", dest="mc_timeout", type=float, default=1800.0,
                       help="seconds one movie may take")
    group.add_argument("--keepstack", dest="keepstack", action="store_true", default=False)
    group.add_argument("--no-keepstack", dest="keepstack", action="store_false")
    group.add_argument("--tempdir", dest="tempdir")
    group.add_argument("--stackid", dest="stackid", type=int)
    group.add_argument("--ddstartframe", dest="startframe", type=int, default=0)
    group.add_argument("--ddnframe", dest="nframe", type=int)
    group.add_argument("--alignlabel", dest="alignlabel", default="a")
    group.add_argument("--bin", dest="bin", type=float, default=1.0)
    group.add_argument("--alignoffset", dest="alignoffset", help=argparse.SUPPRESS)
    group.add_argument("--alignccbox", dest="alignccbox", help=argparse.SUPPRESS)
    group.add_argument("--doseweight", dest="doseweight", action="store_true", default=False)
    group.add_argument("--totaldose", dest="totaldose", type=float)
    for flag in ("--rawarea", "--useGS", "--square", "--compress", "--override_db",
                 "--flipgain", "--defergpu", "--force_cpu_flat"):
        group.add_argument(flag, dest=flag.lstrip("-"), action="store_true", default=False)
    group.add_argument("--no-cyclechannels", dest="cyclechannels", action="store_false",
                       default=True)
    group.add_argument("--framepath", dest="framepath",
                       help="read frames from this folder instead of the session's")
    group.add_argument("--refimgid", dest="refimgid", type=int)
    group.add_argument("--trim", dest="trim", type=int, default=0)
    group.add_argument("--clip", dest="clip", type=int)
    group.add_argument("--bad_cols", dest="bad_cols")
    group.add_argument("--bad_rows", dest="bad_rows")
    group.add_argument("--align", dest="align", action="store_true", default=False)
    group.add_argument("--gpuid", dest="gpuid", type=int, default=0)
    group.add_argument("--gpuids", dest="gpuids", default="0")
    group.add_argument("--nrw", dest="nrw", type=int, default=1)
    group.add_argument("--FmRef", dest="FmRef", type=int, default=0,
                       help="accepted; classic never sends it to MotionCor2")
    group.add_argument("--Iter", dest="Iter", type=int, default=7)
    group.add_argument("--Tol", dest="Tol", type=float, default=0.5)
    group.add_argument("--Patchrows", dest="Patchrows", type=int, default=0)
    group.add_argument("--Patchcols", dest="Patchcols", type=int, default=0)
    group.add_argument("--MaskCentrow", dest="MaskCentrow", type=float, default=0)
    group.add_argument("--MaskCentcol", dest="MaskCentcol", type=float, default=0)
    group.add_argument("--MaskSizecols", dest="MaskSizecols", type=float, default=1.0)
    group.add_argument("--MaskSizerows", dest="MaskSizerows", type=float, default=1.0)
    group.add_argument("--Bft_global", dest="Bft_global", type=float, default=500.0)
    group.add_argument("--Bft_local", dest="Bft_local", type=float, default=150.0)
    group.add_argument("--rendered_frame_size", dest="rendered_frame_size", type=int,
                       default=1)
    group.add_argument("--eer_sampling", dest="eer_sampling", type=int, default=1)
    if pipeline:
        group.add_argument("--ctf-on-dw", dest="ctf_on_dw", action="store_true", default=False,
                           help="estimate the CTF of the dose-weighted sum (-a-DW); by "
                                "default the next step gets the non-weighted -a sum, whose "
                                "power spectrum keeps the high-resolution Thon rings")


def motioncor_options(options: argparse.Namespace) -> P.MotionCorOptions:
    """The MotionCor2-shaping flags of a parsed command line."""
    return P.MotionCorOptions(
        bin=options.bin, doseweight=options.doseweight, totaldose=options.totaldose,
        ddstartframe=options.startframe, ddnframe=options.nframe, iterations=options.Iter,
        tolerance=options.Tol, patch_rows=options.Patchrows, patch_cols=options.Patchcols,
        mask_cent_row=options.MaskCentrow, mask_cent_col=options.MaskCentcol,
        mask_size_cols=options.MaskSizecols, mask_size_rows=options.MaskSizerows,
        bft_global=options.Bft_global, bft_local=options.Bft_local, nrw=options.nrw,
        gpuids=options.gpuids, force_cpu_flat=options.force_cpu_flat,
        rendered_frame_size=options.rendered_frame_size, eer_sampling=options.eer_sampling)


class MotionCorrectionStep:
    """The motion-correction step; ``make_step(options)`` builds one from the flags."""

    name = "motioncor"

    def __init__(self, options: P.MotionCorOptions, *, engine: str = "motioncor2",
                 executable: str | None = None, timeout_s: float = 1800.0,
                 label: str = "a", framepath: str | None = None, trim: int = 0,
                 preset: str | None = None, hand_on_dw: bool = False):
        if engine not in ENGINES:
            raise UsageError(f"--engine {engine} is unknown; use one of {', '.join(ENGINES)}")
        try:
            P.check_options(options)
        except ValueError as error:
            raise UsageError(str(error)) from None
        self.options = options
        self.engine = engine
        self.executable = executable
        self.timeout_s = timeout_s
        self.label = label
        self.framepath = framepath
        self.trim = trim
        self.preset = preset
        self.hand_on_dw = hand_on_dw  # the next step (CTF) works on -a-DW instead of -a

    # -- controller -------------------------------------------------------------

    def _run_id(self, run: RunContext) -> int | None:
        from appion.motioncorrection.store.results import find_run
        return cached_run_id(run, RUN_ID_KEY, lambda: find_run(
            runname=run.runname, rundir=str(run.rundir), session_id=run.session["id"]))

    def init_run(self, run: RunContext) -> None:
        if not run.commit or getattr(run.options, "dry_run", False):
            return
        from appion.motioncorrection.store.results import save_run
        run.extra[RUN_ID_KEY] = save_run(
            runname=run.runname, rundir=str(run.rundir), session_id=run.session["id"],
            preset_name=self.preset, bin_factor=self.options.bin, engine=self.engine)

    def done_image_ids(self, run: RunContext) -> set[int]:
        from appion.motioncorrection.store.results import done_sources
        run_id = self._run_id(run)
        return done_sources(run_id) if run_id else set()

    def prepare(self, run: RunContext, image_ids: list[int]) -> list[MotionCorTask]:
        from appion.motioncorrection.retrieve.metadata import find_frames_file, load_image_metadata
        from appion.motioncorrection.store.references import (reference_files,
                                                              write_reference_files)
        dry_run = bool(getattr(run.options, "dry_run", False))
        metadata = load_image_metadata(image_ids)
        tasks = []
        for image_id in image_ids:
            meta = metadata.get(image_id)
            if meta is None:
                continue
            name = plain_file_name(meta.image["filename"], "image file name")
            frame_path = self.framepath or meta.session.get("frame_path") or ""
            input_path = find_frames_file(frame_path, name)
            error = None
            frames_missing = input_path is None
            if frames_missing:
                input_path = P.frames_candidates(frame_path, name)[0]
                error = (f"frames file of {name} is missing: none of "
                         f"{frame_path}/{name}.frames.{{mrc,tif,eer}} exists; check the "
                         "session's frame path (or --framepath)")
            fmt = P.input_format(input_path)
            files = reference_files(meta, self.options, run.rundir, fmt)
            if error is None and not dry_run:
                try:
                    write_reference_files(meta, self.options, files)
                except InputFileError as failure:
                    error = str(failure)
            params = P.make_parameters(
                meta, self.options, input_path=input_path,
                output_path=os.path.join(str(run.rundir), f"{name}_c.mrc"), references=files)
            tasks.append(MotionCorTask(
                image_id=image_id, engine=self.engine, params=params, image_name=name, rundir=str(run.rundir),
                executable=self.executable, timeout_s=self.timeout_s,
                error=error, frames_missing=frames_missing))
        return tasks

    def dry_run_record(self, task: MotionCorTask) -> dict[str, Any]:
        """The JSON line ``--dry-run`` prints for one pending image."""
        record: dict[str, Any] = {"image_id": task.image_id, "engine": task.engine,
                                  "args": mc.build_args(task.params)}
        if task.error:
            record["error"] = task.error
        return record

    # -- worker -----------------------------------------------------------------

    def check_programs(self) -> None:
        """Once per run, on a worker: the MotionCor program is there and supported."""
        if self.engine != "builtin":
            mc.check_program(self.engine, self.executable)

    def run_task(self, task: MotionCorTask) -> MotionCorResult:
        return run_motioncor_task(task)

    # -- controller -------------------------------------------------------------

    def store(self, run: RunContext, result: MotionCorResult) -> list[int]:
        if not run.commit:
            return []
        from appion.motioncorrection.retrieve.metadata import load_image_metadata
        from appion.motioncorrection.store.results import store_aligned
        run_id = run_id_or_init(self._run_id, self.init_run, run)
        meta = load_image_metadata([result.image_id])[result.image_id]
        binning = int(meta.camera.get("binning_x") or 1)
        pixel = P.calc_pixel_size(meta.pixel_calibrations, meta.image["def_timestamp"],
                                  binning)
        aligned = store_aligned(
            meta, ddstackrun_id=run_id, aligned_path=result.aligned_path,
            aligned_dw_path=result.aligned_dw_path, shifts_px=result.shifts_px,
            ft_bin=result.ft_bin, bin_factor=self.options.bin, label=self.label,
            trim=self.trim, apix=pixel * result.ft_bin if pixel else None)
        return [aligned[-1] if self.hand_on_dw else aligned[0]]


def _orient_in_place(path: str, rot_gain: int, flip_gain: int, is_eer: bool) -> None:
    """Turn a sum written in the frames' orientation back to Leginon's (classic)."""
    if not rot_gain % 4 and bool(is_eer) == bool(flip_gain):
        return
    from appion.base.files import write_mrc
    with mrcfile.open(path, permissive=True) as mrc:
        data = np.asarray(mrc.data)
        voxel = mrc.voxel_size.copy()
    oriented = P.sum_to_leginon_orientation(data, rot_gain, flip_gain, is_eer)
    write_mrc(path, oriented, voxel)


def _eer_sum_upside_down(task: MotionCorTask) -> bool:
    """Whether the engine wrote an EER movie's sums upside down.

    Classic's turn-back flips when EER xor FlipGain: MotionCor2/3 write EER sums
    upside down compared with TIFF/MRC ones.  The built-in engine writes every
    format's sums in the orientation of the frames as stored, so for it an EER
    movie is turned back like a TIFF.
    """
    return task.is_eer and task.engine != "builtin"


def _run_engine(task: MotionCorTask) -> MotionCorResult:
    if task.engine == "builtin":
        from appion.motioncorrection.calc.internal.builtin_engine import run_builtin
        mc.check_inputs(task.params)
        return run_builtin(task.params, image_id=task.image_id, device="cpu")
    call = mc.EngineCall(engine=task.engine, executable=task.executable,
                         timeout_s=task.timeout_s)
    return mc.run_motioncor(task.params, image_id=task.image_id, call=call,
                            log_path=task.raw_log_path)


def run_motioncor_task(task: MotionCorTask) -> MotionCorResult:
    """Worker side: run the engine, orient the sums as Leginon's, write the logs."""
    from appion.base.files import write_text
    if task.error:
        raise (InputNotReady if task.frames_missing else InputFileError)(task.error)
    result = _run_engine(task)
    for path in (result.aligned_path, result.aligned_dw_path):
        if path:
            _orient_in_place(path, task.params.rot_gain, task.params.flip_gain,
                             _eer_sum_upside_down(task))
    positions = P.motioncorr_positions(result.shifts_px, result.ft_bin)
    write_text(task.st_log_path, P.motioncorr_log(positions))
    if result.log_path is None and result.log_text:
        write_text(task.raw_log_path, result.log_text)
    return result


def make_step(options: argparse.Namespace) -> MotionCorrectionStep:
    """The step for a parsed command line (``appion pipeline`` and the classic drop-in)."""
    return MotionCorrectionStep(
        motioncor_options(options), engine=options.mc_engine,
        executable=options.mc_executable, timeout_s=options.mc_timeout,
        label=options.alignlabel, framepath=options.framepath, trim=options.trim,
        preset=getattr(options, "preset", None),
        hand_on_dw=bool(getattr(options, "ctf_on_dw", False)))


__all__ = ["MotionCorTask", "MotionCorrectionStep", "add_step_options", "make_step",
           "motioncor_options", "run_motioncor_task", "EngineError", "AppionError"]
