"""The plan of the per-reference files MotionCor2 reads: gain, dark, defect map, FmIntFile.

Classic Appion writes them into the run directory once per reference (not per
image) and rewrites them only when the references change; the names here carry
the reference ids so a new reference gets a new file.  :func:`reference_plan`
only names them and says what they hold; a worker writes the missing ones
(:func:`appion.motioncorrection.worker.write_references`).
"""

from __future__ import annotations

from pathlib import Path

from appion.base.errors import InputFileError
from appion.motioncorrection.calc.internal import params as P
from appion.motioncorrection.contract import MotionCorOptions, ReferencePlan


def _ids(meta: P.ImageMetadata, options: MotionCorOptions) -> dict[str, object]:
    rot, flip = P.orientation(meta, options.force_cpu_flat)
    rows, cols = meta.leginon_shape
    return {"norm": (meta.norm or {}).get("id"), "dark": (meta.dark or {}).get("id"),
            "plan": (meta.corrector_plan or {}).get("id"), "rot": rot, "flip": flip,
            "shape": f"{rows}x{cols}"}


def _dark_source(meta: P.ImageMetadata) -> tuple[str | None, str | None]:
    """The dark image's path, or why it has none usable (a name that is not plain)."""
    try:
        return meta.dark_path(), None
    except InputFileError as error:
        return None, str(error)


def _in(rundir: str, name: str) -> str:
    return str(Path(rundir) / name)


def reference_plan(meta: P.ImageMetadata, options: MotionCorOptions, rundir: str,
                   fmt: str) -> ReferencePlan:
    """The reference files one exposure's command uses, and their contents' sources."""
    ids = _ids(meta, options)
    rot, flip = P.orientation(meta, options.force_cpu_flat)
    plan: dict[str, object] = {"shape": meta.leginon_shape, "rot_gain": rot, "flip_gain": flip}
    gain = meta.norm_path()
    if gain:
        dark, problem = _dark_source(meta)
        plan.update(
            gain_path=_in(rundir, f"norm-{ids['norm']}.mrc"), gain_source=gain,
            dark_path=_in(rundir, f"dark-{ids['dark'] or 'zero'}-{ids['shape']}.mrc"),
            dark_source=dark, dark_problem=problem,
            dark_nframes=(meta.dark_camera or {}).get("nframes"))
    bad_rows, bad_cols, bad_pixels = P.defects_of(meta)
    if P.has_defects(bad_rows, bad_cols, bad_pixels):
        plan.update(defect_map_path=_in(
            rundir, f"defect-{ids['plan']}-r{rot}f{flip}-{ids['shape']}.mrc"),
            bad_rows=bad_rows, bad_cols=bad_cols, bad_pixels=bad_pixels)
    if P.uses_fmintfile(fmt, options.rendered_frame_size):
        dose = P.exposure_dose(meta, options)
        lines = P.fmintfile_lines(dose.nraw, options.rendered_frame_size, dose.raw)
        plan.update(fmintfile_path=_in(
            rundir, f"intfile-{dose.nraw}x{options.rendered_frame_size}-{dose.raw:.4f}.txt"),
            fmintfile_text="\n".join(lines) + "\n")
    return ReferencePlan(**plan)  # type: ignore[arg-type]


def reference_files(plan: ReferencePlan) -> P.ReferenceFiles:
    """The file names of ``plan``, as the command line uses them."""
    return P.ReferenceFiles(gain=plan.gain_path, dark=plan.dark_path,
                            defect_map=plan.defect_map_path, fmintfile=plan.fmintfile_path)
