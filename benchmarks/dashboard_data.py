"""A processed session of N exposures as ``appion serve`` stores it, written in bulk.

For ``benchmarks/dashboard.py``.  :func:`fabricate` writes, into the databases sinedon
is set up on (a throwaway set: :func:`facility_db.throwaway_databases`):

* Leginon: the microscope and camera (``InstrumentData``), ``SessionData`` (its image
  path under ``root``), the project link, the ``enn`` preset, one ``ScopeEMData`` and
  ``CameraEMData``, and the N exposures (``AcquisitionImageData``, one every
  :data:`EXPOSURE_EVERY_S` seconds, the newest a minute ago) with their ice thickness
  (``ObjIceThicknessData``);
* the run's own rows, by the steps themselves: the run is built as ``appion serve``
  builds it (:class:`appion.cli.serve.SessionStarter` with the benchmark's flags and
  ``facility.toml``: the same run name, run directory, options), then each step's
  ``init_run`` (``ApDDStackRunData``/``ApDDStackParamsData``/``ApPathData``,
  ``ApAceRunData``/``ApCtfFind4ParamsData``), so that the service finds them again;
* what each exposure's ``store`` would have written, with bulk ``INSERT``\\ s: the
  aligned sum (``AcquisitionImageData`` ``<exposure>-a`` with the ``enn-a`` preset and
  the aligned camera), ``ApDDFrameTrajectoryData`` (40 frames, a decaying random walk
  in aligned pixels), ``ApDDAlignStatsData`` (the aligned pixel size, shift
  statistics), ``ApDDAlignImagePairData`` (what marks the exposure done), and
  ``ApCtfData`` of the aligned sum (defocus 0.8-2.6 um in metres with classic's
  convention, astigmatism, CTFFIND fit resolution 2.6-20 Å with a tail, scores);
* the run directory's ``handoff.jsonl`` (exposure -> aligned sum, as the controller
  records it).

Then it checks the result the way the service reads it: each step's
``done_image_ids`` and ``ReportingStep.summaries`` must give a value for every
exposure (drift; defocus and resolution).  The bulk statements take seconds for
20,000 exposures; the steps' real ``store`` (not used, not measured) runs tens of
queries, a marker file and a hard link per exposure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sinedon

PROJECT_ID = 1
SESSION_NAME = "dash"
PRESET = "enn"
#: Seconds between two exposures (a K3 session: about 300 exposures an hour).
EXPOSURE_EVERY_S = 12.0
#: Seconds between an exposure's acquisition and its stored aligned sum.
STORED_AFTER_S = 40.0
FRAMES = 40
APIX_ALIGNED = 0.83          # Å per aligned pixel
SERVE_FLAGS = ("--preset", PRESET, "--steps", "motioncor,ctf", "--motioncor-engine",
               "builtin", "--ctf-engine", "builtin", "--max-workers", "1",
               "--threads-per-worker", "1")
BATCH = 2000


@dataclass
class Fabricated:
    """What :func:`fabricate` wrote."""

    session: str
    session_id: int
    exposures: list[int]
    aligned: list[int]
    rundir: Path
    first_at: float
    last_at: float
    seconds: dict[str, float] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)


def facility_toml(path: Path, lookback_hours: float) -> Path:
    """A configuration that takes up the session (found within ``lookback_hours``) and
    never finishes it for want of new exposures."""
    path.write_text("[service]\npoll_seconds = 1\n"
                    f"lookback_hours = {lookback_hours:.1f}\n\n"
                    "[defaults]\nidle_minutes = 100000\n")
    return path


def lookback_hours(exposures: int) -> float:
    return exposures * EXPOSURE_EVERY_S / 3600 + 2.0


def fabricate(root: Path, exposures: int, *, config_path: Path, name: str = SESSION_NAME,
              seed: int = 14) -> Fabricated:
    """Write a session of ``exposures`` processed exposures (see the module docstring);
    ``config_path`` is the ``facility.toml`` the service will read."""
    rng = random.Random(seed)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    last_at = time.time() - 60.0
    first_at = last_at - (exposures - 1) * EXPOSURE_EVERY_S
    leginon = _leginon_rows(root, name, exposures, first_at)
    seconds["leginon"] = time.monotonic() - started
    mark = time.monotonic()
    run, steps = _started_run(leginon, config_path)
    seconds["run_rows"] = time.monotonic() - mark
    mark = time.monotonic()
    aligned = _aligned_rows(leginon, exposures, first_at)
    seconds["aligned_images"] = time.monotonic() - mark
    mark = time.monotonic()
    _motion_rows(run, leginon["exposures"], aligned, rng)
    _ctf_rows(run, aligned, rng)
    _ice_rows(leginon["exposures"], rng)
    seconds["results"] = time.monotonic() - mark
    _handoffs(run.rundir, leginon["exposures"], aligned)
    seconds["total"] = time.monotonic() - started
    made = Fabricated(session=name, session_id=leginon["session"],
                      exposures=leginon["exposures"], aligned=aligned, rundir=run.rundir,
                      first_at=first_at, last_at=last_at,
                      seconds={k: round(v, 2) for k, v in seconds.items()})
    made.validation = validate(run, steps, made)
    return made


# ---------------------------------------------------------------------- Leginon


def _local(epoch: float) -> datetime.datetime:
    """``DEF_timestamp`` as Leginon's server writes it: naive local time."""
    return datetime.datetime.fromtimestamp(round(epoch))


def _insert_many(model: str, alias: str, rows: list[dict[str, Any]]) -> None:
    with sinedon.atomic(alias):
        sinedon.insert_many(model, rows, batch_size=BATCH)


def _leginon_rows(root: Path, name: str, exposures: int, first_at: float) -> dict[str, Any]:
    image_path = root / "leginon" / name / "rawdata"
    image_path.mkdir(parents=True, exist_ok=True)
    frame_path = root / "frames" / name
    frame_path.mkdir(parents=True, exist_ok=True)
    with sinedon.atomic(sinedon.LEGINON):
        tem = sinedon.insert("InstrumentData", {"name": "Krios1", "cs": 2.7e-3,
                                                "hostname": "krios1"})
        camera_instrument = sinedon.insert("InstrumentData", {"name": "GatanK3",
                                                              "hostname": "k3"})
        session = sinedon.insert("SessionData", {
            "name": name, "image_path": str(image_path), "frame_path": str(frame_path),
            "def_timestamp": _local(first_at - 600), "comment": "dashboard benchmark"})
        geometry = {"dimension_x": 5760, "dimension_y": 4092, "binning_x": 1,
                    "binning_y": 1, "offset_x": 0, "offset_y": 0}
        preset = sinedon.insert("PresetData", {
            "session": session, "name": PRESET, "tem": tem, "ccdcamera": camera_instrument,
            "magnification": 105000, "defocus": -1.5e-6, "exposure_time": 2000.0,
            "dose": 5.0e20, **geometry})
        scope = sinedon.insert("ScopeEMData", {
            "session": session, "high_tension": 300000, "tem": tem,
            "magnification": 105000, "defocus": -1.5e-6})
        camera = sinedon.insert("CameraEMData", {
            "session": session, "ccdcamera": camera_instrument, "nframes": FRAMES,
            "exposure_time": 2000.0, "frame_time": 50.0, "save_frames": True, **geometry})
        sinedon.insert("PixelSizeCalibrationData", {
            "tem": tem, "ccdcamera": camera_instrument, "magnification": 105000,
            "pixelsize": APIX_ALIGNED * 1e-10, "session": session})
    sinedon.insert("projectexperiments", {"project": PROJECT_ID, "session": session})
    first_id = sinedon.max_id("AcquisitionImageData") + 1
    ids = list(range(first_id, first_id + exposures))
    _insert_many("AcquisitionImageData", sinedon.LEGINON, [
        {"id": image_id, "def_timestamp": _local(first_at + index * EXPOSURE_EVERY_S),
         "session": session, "preset": preset, "scope": scope, "camera": camera,
         "image": exposure_name(name, index) + ".mrc", "filename": exposure_name(name, index),
         "label": "Exposure", "pixels": 5760 * 4092, "pixeltype": "float32"}
        for index, image_id in enumerate(ids)])
    return {"session": session, "preset": preset, "scope": scope, "camera": camera,
            "tem": tem, "ccdcamera": camera_instrument, "exposures": ids, "name": name,
            "image_path": image_path}


def exposure_name(session: str, index: int) -> str:
    """A Leginon exposure name: grid, square, hole, exposure, preset."""
    return (f"{session}_{index // 2000:05d}gr_{index // 200:05d}sq_v01_{index // 4:05d}hl_"
            f"{index:05d}{PRESET}")


def _started_run(leginon: dict[str, Any], config_path: Path):
    """The session's run exactly as ``appion serve`` builds it, and its steps' run rows."""
    from appion.cli.runtime_options import runtime_settings
    from appion.cli.serve import SessionStarter, add_serve_options
    from appion.facility.config import load_config
    from appion.facility.discovery import Sighting
    parser = argparse.ArgumentParser(prog="appion serve", conflict_handler="resolve")
    add_serve_options(parser)
    options = parser.parse_args(["--config", str(config_path), *SERVE_FLAGS])
    config = load_config(str(config_path))
    sighting = Sighting(session_id=leginon["session"], session=leginon["name"],
                        image_path=str(leginon["image_path"]), microscope="Krios1",
                        camera="GatanK3", preset=PRESET, project=PROJECT_ID,
                        image_ids=(), newest_at=time.time())
    plan = config.plan(sighting, default_preset=PRESET)
    if plan is None:
        raise RuntimeError(f"{config_path} does not take up the session")
    starter = SessionStarter(options, parser, runtime_settings(options),
                             config.service.runname)
    started = starter(sighting, plan)
    for step in started.steps:
        step.init_run(started.run)
    started.run.job.finish("D")
    return started.run, started.steps


def _aligned_rows(leginon: dict[str, Any], exposures: int, first_at: float) -> list[int]:
    """The aligned sums ``<exposure>-a``: a copy of the exposure's row with the aligned
    camera and the ``enn-a`` preset, as ``store_aligned`` writes them."""
    from appion.motioncorrection.store.results import (
        aligned_camera_changes,
        aligned_preset_changes,
    )
    source_camera = sinedon.get("CameraEMData", {"id": leginon["camera"]})
    changes = aligned_camera_changes(source_camera, 1.0)
    with sinedon.atomic(sinedon.LEGINON):
        camera = sinedon.copy_row("CameraEMData", leginon["camera"], changes)
        preset = sinedon.copy_row("PresetData", leginon["preset"], aligned_preset_changes(
            changes, source_camera, f"{PRESET}-a"))
    first_id = sinedon.max_id("AcquisitionImageData") + 1
    ids = list(range(first_id, first_id + exposures))
    name = leginon["name"]
    _insert_many("AcquisitionImageData", sinedon.LEGINON, [
        {"id": image_id,
         "def_timestamp": _local(first_at + index * EXPOSURE_EVERY_S + STORED_AFTER_S),
         "session": leginon["session"], "preset": preset, "scope": leginon["scope"],
         "camera": camera, "image": exposure_name(name, index) + "-a.mrc",
         "filename": exposure_name(name, index) + "-a", "label": "Exposure",
         "pixels": 5760 * 4092, "pixeltype": "float32"}
        for index, image_id in enumerate(ids)])
    return ids


# ---------------------------------------------------------------------- results


def _run_ids(run) -> tuple[int, int]:
    from appion.ctfestimation.store import results as ctf_results
    from appion.motioncorrection.store.results import find_run
    motion = find_run(runname=run.runname, rundir=str(run.rundir),
                      session_id=run.session["id"])
    ctf = ctf_results.find_run(run.runname, run.session["id"])
    if motion is None or ctf is None:
        raise RuntimeError("the steps' init_run left no run rows")
    return int(motion), int(ctf["id"])


def trajectory(rng: random.Random) -> list[tuple[float, float]]:
    """A beam-induced drift: fast over the first frames, then slow; in aligned pixels,
    the middle frame at 0 (classic motioncorr's convention)."""
    scale = rng.lognormvariate(0.0, 0.5)
    angle = rng.uniform(0, 2 * math.pi)
    x = y = 0.0
    points = []
    for frame in range(FRAMES):
        step = scale * (1.2 * math.exp(-frame / 4) + 0.15)
        angle += rng.gauss(0, 0.35)
        x += step * math.cos(angle) + rng.gauss(0, 0.05)
        y += step * math.sin(angle) + rng.gauss(0, 0.05)
        points.append((x, y))
    mx, my = points[FRAMES // 2]
    return [(px - mx, py - my) for px, py in points]


def _motion_rows(run, exposures: list[int], aligned: list[int], rng: random.Random) -> None:
    from appion.motioncorrection.calc.internal.params import frame_shift_stats
    motion_run, _ = _run_ids(run)
    first_trajectory = sinedon.max_id("ApDDFrameTrajectoryData") + 1
    trajectories, stats = [], []
    for index, image in enumerate(aligned):
        positions = trajectory(rng)
        xs = [round(px, 5) for px, _ in positions]
        ys = [round(py, 5) for _, py in positions]
        trajectory_id = first_trajectory + index
        trajectories.append({
            "id": trajectory_id, "image": image, "ddstackrun": motion_run,
            "pos_x": repr(xs), "pos_y": repr(ys), "last_x": xs[-1], "last_y": ys[-1],
            "number_of_positions": FRAMES, "reference_index": FRAMES // 2})
        top, median = frame_shift_stats(positions)
        row: dict[str, Any] = {"image": image, "ddstackrun": motion_run, "apix": APIX_ALIGNED,
                               "median_shift_value": median, "trajectory": trajectory_id}
        for rank in range(3):
            value, frame = top[rank] if rank < len(top) else (None, None)
            row[f"top_shift{rank + 1}_value"] = value
            row[f"top_shift{rank + 1}_index"] = frame
        stats.append(row)
    _insert_many("ApDDFrameTrajectoryData", sinedon.APPION, trajectories)
    _insert_many("ApDDAlignStatsData", sinedon.APPION, stats)
    _insert_many("ApDDAlignImagePairData", sinedon.APPION, [
        {"source": source, "result": result, "ddstackrun": motion_run}
        for source, result in zip(exposures, aligned)])


def ctf_values(rng: random.Random, index: int) -> dict[str, Any]:
    """One fit: nominal defocus cycling 0.8-2.6 um over the holes, some astigmatism,
    a fit resolution mostly 2.6-6 Å with a tail of poor ice (10-20 Å)."""
    nominal_a = 8000 + (index // 4 % 10) * 2000 + rng.gauss(0, 300)
    astigmatism_a = abs(rng.gauss(250, 150))
    poor = rng.random() < 0.05
    resolution = (rng.uniform(10, 20) if poor
                  else min(9.5, 2.6 + rng.lognormvariate(0.3, 0.45)))
    correlation = max(0.01, rng.gauss(0.08 if poor else 0.22, 0.04))
    return {"defocus1": (nominal_a - astigmatism_a / 2) * 1e-10,
            "defocus2": (nominal_a + astigmatism_a / 2) * 1e-10,
            "defocusinit": nominal_a * 1e-10, "angle_astigmatism": rng.uniform(-90, 90),
            "cross_correlation": round(correlation, 4),
            "ctffind4_resolution": round(resolution, 3),
            "resolution_80_percent": round(resolution * 1.3, 3),
            "resolution_50_percent": round(resolution * 1.1, 3),
            "confidence_30_10": round(min(1.0, correlation * 4), 4),
            "confidence_5_peak": round(min(1.0, correlation * 3.5), 4),
            "confidence": round(min(1.0, correlation * 4), 4)}


def _ctf_rows(run, aligned: list[int], rng: random.Random) -> None:
    _, ctf_run = _run_ids(run)
    rows = []
    for index, image in enumerate(aligned):
        rows.append({"acerun": ctf_run, "image": image, "cs": 2.7, "amplitude_contrast": 0.07,
                     "extra_phase_shift": 0.0, **ctf_values(rng, index),
                     "graph1": f"{image}-powerspec.jpg", "graph2": f"{image}-plots.png"})
    _insert_many("ApCtfData", sinedon.APPION, rows)


def _ice_rows(exposures: list[int], rng: random.Random) -> None:
    rows = []
    for image in exposures:
        thickness = max(5.0, rng.gauss(35.0, 12.0))
        rows.append({"image": image, "vacuum_intensity": 1000.0, "mfp": 395.0,
                     "intensity": round(1000.0 * math.exp(-thickness / 395.0), 3),
                     "thickness": round(thickness, 2)})
    _insert_many("ObjIceThicknessData", sinedon.LEGINON, rows)


def _handoffs(rundir: Path, exposures: list[int], aligned: list[int]) -> None:
    """``handoff.jsonl`` as the controller appends it (one line per stored exposure)."""
    from appion.base.loop.state import HANDOFF_NAME
    lines = "".join(json.dumps({"step": "motioncor", "image_id": source, "outputs": [result]})
                    + "\n" for source, result in zip(exposures, aligned))
    (Path(rundir) / HANDOFF_NAME).write_text(lines)


# -------------------------------------------------------------------- validation


def validate(run, steps, made: Fabricated) -> dict[str, Any]:
    """What the service will read back: every step's ``done_image_ids`` and summaries
    with a value for every exposure; raises when anything is missing."""
    from appion.base.loop.state import read_handoffs
    motion, ctf = steps
    started = time.monotonic()
    done = [motion.done_image_ids(run), ctf.done_image_ids(run)]
    motion_summaries = motion.summaries(run, made.exposures)
    ctf_summaries = ctf.summaries(run, made.aligned)
    seconds = time.monotonic() - started
    problems = []
    if done[0] != set(made.exposures):
        problems.append(f"motioncor done_image_ids: {len(done[0])} of {len(made.exposures)}")
    if done[1] != set(made.aligned):
        problems.append(f"ctf done_image_ids: {len(done[1])} of {len(made.aligned)}")
    if read_handoffs(run.rundir, "motioncor") != made.aligned:
        problems.append("handoff.jsonl does not list the aligned sums")
    drift = [s.get("drift_total_a") for s in motion_summaries.values()]
    if len(motion_summaries) != len(made.exposures) or None in drift:
        problems.append(f"motioncor summaries: {len(motion_summaries)}, "
                        f"{drift.count(None)} without drift")
    handed = {s.get("aligned_image_id") for s in motion_summaries.values()}
    if handed != set(made.aligned):
        problems.append("motioncor summaries do not hand on the aligned sums")
    keys = ("defocus1_a", "defocus2_a", "resolution_a", "astigmatism_angle_deg")
    empty = sum(1 for s in ctf_summaries.values() if any(s.get(k) is None for k in keys))
    if len(ctf_summaries) != len(made.aligned) or empty:
        problems.append(f"ctf summaries: {len(ctf_summaries)}, {empty} incomplete")
    if problems:
        raise RuntimeError("fabricated session does not read back: " + "; ".join(problems))
    resolution = sorted(s["resolution_a"] for s in ctf_summaries.values())
    drift_sorted = sorted(float(d) for d in drift if d is not None)
    return {"ok": True, "summaries_seconds": round(seconds, 2),
            "drift_total_a_median": drift_sorted[len(drift_sorted) // 2],
            "resolution_a_median": resolution[len(resolution) // 2],
            "defocus1_a_example": next(iter(ctf_summaries.values()))["defocus1_a"]}
