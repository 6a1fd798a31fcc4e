"""Simulate a Leginon session: references, movies, integrated images, truth and records.

Layout under ``root`` (as Leginon lays it out)::

    leginon/<name>/rawdata/<filename>.mrc          integrated exposure (Leginon orientation)
    frames/<name>/rawdata/<filename>.frames.tif    movie (raw camera orientation)
    frames/<name>/rawdata/<filename>.truth.json    ground truth
    leginon/<name>_ref/rawdata/<name>_..._norm_0.mrc / _dark_0.mrc   references

Each exposure is deterministic in ``(seed, index)``, so live mode and batch mode
give the same pixels.  Frames are generated and written one at a time.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import sinedon
from appion.base.errors import UsageError
from appion.base.files import read_mrc
from appion.motioncorrection.calc.internal.orientation import (
    frame_to_gain_orientation,
    gain_to_frame_orientation,
)
from appion.simulation import calc, electrons, files, store
from appion.simulation import particles as particle_layout
from appion.simulation.cameras import CameraSpec, camera_spec
from appion.simulation.eer import EerFrame
from appion.simulation.particles import ParticleField, ParticleSettings
from appion.simulation.pipeline import band_pool, prefetch

log = logging.getLogger(__name__)

#: Indices of the exposures made special when ``extras`` is on (and there are >= 6).
TILTED, HIDDEN, TRASHED, REJECTED = 1, 2, 3, 4
TILT_DEG = 40.0
HOT_PIXEL_FACTOR = 20.0  # a hot pixel counts this many times the mean signal (TIFF/MRC)
DARK_FRAMES = 40        # frames summed into the dark reference
_BAND_ROWS = 256        # rows rendered and counted at once (one pool task)


@dataclass(frozen=True)
class SimulatedExposure:
    image_id: int
    filename: str
    movie_path: Path
    truth_path: Path
    mrc_path: Path
    tilted: bool
    viewer_status: str | None
    assessment_keep: bool | None
    truth: dict


@dataclass
class SimulatedSession:
    session_id: int
    name: str
    root: Path
    image_path: Path
    frame_path: Path
    camera: str
    camera_name: str
    preset_name: str
    size: str
    seed: int
    dose: float
    defocus_um: tuple[float, float]
    extras: bool
    gain_path: Path
    dark_path: Path
    reference_session_id: int
    preset_id: int
    tem_id: int
    camera_instrument_id: int
    norm_id: int
    dark_id: int
    corrector_plan_id: int
    defects: calc.Defects
    images: list[SimulatedExposure] = field(default_factory=list)
    #: Particles in each exposure's specimen (``None``: none, the specimen of old).
    particles: ParticleSettings | None = None
    #: The TEM's ``InstrumentData`` name.
    microscope: str = store.TEM_NAME
    #: The references in frame orientation, read on first use (they never change).
    _cached_detector: _Detector | None = field(default=None, init=False, repr=False,
                                               compare=False)

    @property
    def spec(self) -> CameraSpec:
        return camera_spec(self.camera)

    @property
    def pixel_size_a(self) -> float:
        return self.spec.file_pixel_size_a


def simulate_session(root: Path, name: str, camera: str = "k3", exposures: int = 4,
                     size: str = "small", seed: int = 0, preset: str = "enn",
                     dose: float = 50.0, defocus_um: tuple[float, float] = (1.0, 3.0),
                     projectid: int | None = 1, extras: bool = True,
                     particles: ParticleSettings | None = None
                     ) -> SimulatedSession:
    """Write a whole session: references, ``exposures`` movies and their Leginon records.

    sinedon must be set up (``sinedon.setup(projectid=…)``) with the tables created.
    With ``extras`` and at least 6 exposures, exposure 1 is tilted, 2 hidden, 3
    trashed and 4 rejected by an assessment, so that image filters have work.
    With ``particles``, each exposure's specimen holds particles (and a carbon film)
    whose centres its truth JSON lists under ``particles``.
    """
    session = start_session(root, name, camera, size=size, seed=seed, preset=preset,
                            dose=dose, defocus_um=defocus_um, projectid=projectid,
                            extras=extras and exposures >= 6, particles=particles)
    for index in range(exposures):
        add_exposure(session, index)
    return session


def _validate(name: str, exposures_dose: float, defocus_um: tuple[float, float]) -> None:
    if not name or any(c in name for c in "/\\ "):
        raise UsageError(f"session name {name!r} must be one word without slashes")
    if exposures_dose <= 0:
        raise UsageError(f"--dose must be positive, not {exposures_dose}")
    if len(defocus_um) != 2 or min(defocus_um) <= 0:
        raise UsageError(f"--defocus needs two positive values in µm, not {defocus_um}")


def _validate_microscope(microscope: str) -> None:
    if not microscope or any(c in microscope for c in "/\\ "):
        raise UsageError(f"microscope name {microscope!r} must be one word without slashes")


def start_session(root: Path, name: str, camera: str = "k3", *, size: str = "small",
                  seed: int = 0, preset: str = "enn", dose: float = 50.0,
                  defocus_um: tuple[float, float] = (1.0, 3.0), projectid: int | None = 1,
                  extras: bool = True, particles: ParticleSettings | None = None,
                  microscope: str = store.TEM_NAME) -> SimulatedSession:
    """The session, its references and preset, without exposures (live mode adds them).

    ``microscope`` names the session's TEM ``InstrumentData`` row: sessions of
    different microscopes refer to different TEM rows.
    """
    spec = camera_spec(camera)
    spec.size(size)
    _validate(name, dose, defocus_um)
    _validate_microscope(microscope)
    if sinedon.get("SessionData", {"name": name}) is not None:
        raise UsageError(f"session {name!r} already exists in the Leginon database; "
                         "choose another session name")
    root = Path(root).resolve()
    image_path = root / "leginon" / name / "rawdata"
    frame_path = root / "frames" / name / "rawdata"
    ref_image_path = root / "leginon" / f"{name}_ref" / "rawdata"
    for folder in (image_path, frame_path, ref_image_path):
        folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now().replace(microsecond=0)

    user = store.ensure_user()
    instruments = store.ensure_instruments(spec, microscope)
    ref_session = store.insert_session(
        f"{name}_ref", str(ref_image_path), str(root / "frames" / f"{name}_ref" / "rawdata"),
        user, instruments.tem, comment="reference images", hidden=True,
        timestamp=now - datetime.timedelta(days=2))
    session_id = store.insert_session(name, str(image_path), str(frame_path), user,
                                      instruments.tem, comment=f"simulated {spec.name} session")
    if projectid is not None:
        store.link_project(session_id, projectid)
    store.insert_pixel_calibrations(spec, instruments, session_id, now)
    preset_id = store.insert_preset(spec, size, instruments, session_id, name=preset,
                                    dose_e_a2=dose, defocus_um=defocus_um)

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xFEED]))
    leginon_shape = _leginon_shape(spec, size)
    gain = calc.random_gain(leginon_shape, rng)
    dark_per_frame = calc.random_dark(leginon_shape, rng, spec.dark_per_frame_max)
    defects = calc.random_defects(leginon_shape, rng)
    stamp = now.strftime("%d%H%M%S")
    ref_stem = f"{name}_{stamp}_01_{leginon_shape[0]}x{leginon_shape[1]}"
    gain_path = files.write_mrc(ref_image_path / f"{ref_stem}_norm_0.mrc", gain,
                                spec.file_pixel_size_a)
    dark_path = files.write_mrc(ref_image_path / f"{ref_stem}_dark_0.mrc",
                                dark_per_frame.astype(np.float32) * DARK_FRAMES,
                                spec.file_pixel_size_a)
    ref_scope = store.insert_scope(ref_session, instruments.tem,
                                   magnification=spec.magnification, defocus_m=0.0,
                                   stage_alpha_rad=0.0, system_time=now.timestamp())
    ref_camera = store.insert_camera(spec, size, ref_session, instruments.camera,
                                     nframes=DARK_FRAMES,
                                     exposure_time_ms=spec.size(size).exposure_time_ms,
                                     frames_name=stamp, system_time=now.timestamp())
    dark_id = store.insert_reference("DarkImageData", session=ref_session,
                                     camera_row=ref_camera, scope_row=ref_scope,
                                     filename=dark_path.stem, shape=leginon_shape,
                                     nframes=DARK_FRAMES)
    norm_id = store.insert_reference("NormImageData", session=ref_session,
                                     camera_row=ref_camera, scope_row=ref_scope,
                                     filename=gain_path.stem, shape=leginon_shape,
                                     nframes=DARK_FRAMES, dark=dark_id)
    plan_id = store.insert_corrector_plan(ref_session, ref_camera, defects)
    log.info("session %s (id %d): %s %s frames under %s", name, session_id, spec.name, size,
             frame_path)
    return SimulatedSession(
        session_id=session_id, name=name, root=root, image_path=image_path,
        frame_path=frame_path, camera=spec.key, camera_name=spec.name, preset_name=preset,
        size=size, seed=seed, dose=dose, defocus_um=(defocus_um[0], defocus_um[1]), extras=extras,
        gain_path=gain_path, dark_path=dark_path, reference_session_id=ref_session,
        preset_id=preset_id, tem_id=instruments.tem, camera_instrument_id=instruments.camera,
        norm_id=norm_id, dark_id=dark_id, corrector_plan_id=plan_id, defects=defects,
        particles=particles, microscope=microscope)


def _leginon_shape(spec: CameraSpec, size: str) -> tuple[int, int]:
    dimension = spec.size(size).dimension
    return (dimension[1], dimension[0])


def _frame_shape(spec: CameraSpec, size: str) -> tuple[int, int]:
    probe = np.empty(_leginon_shape(spec, size), dtype=bool)
    return gain_to_frame_orientation(probe, spec.frame_rotate, spec.frame_flip).shape


def _read_mrc(path: Path) -> np.ndarray:
    return read_mrc(path, "simulated reference")


@dataclass(frozen=True)
class _Detector:
    """The camera's per-pixel behaviour in raw frame orientation."""

    gain: np.ndarray         # multiply raw counts by this to flatten them
    dark: np.ndarray | None  # per-frame dark offset (counts), None when all zero
    dead: np.ndarray
    hot: np.ndarray


def _detector(session: SimulatedSession) -> _Detector:
    """The session's detector, read from its references once and then kept."""
    if session._cached_detector is None:
        session._cached_detector = _read_detector(session)
    return session._cached_detector


def _read_detector(session: SimulatedSession) -> _Detector:
    spec = session.spec
    orient = lambda image: np.ascontiguousarray(  # noqa: E731 - one-line helper
        gain_to_frame_orientation(image, spec.frame_rotate, spec.frame_flip))
    dark = np.rint(_read_mrc(session.dark_path) / DARK_FRAMES).astype(np.uint16)
    dead, hot = session.defects.mask(dark.shape)
    detector = _Detector(orient(_read_mrc(session.gain_path)),
                         orient(dark) if dark.any() else None, orient(dead), orient(hot))
    for array in (detector.gain, detector.dark, detector.dead, detector.hot):
        if array is not None:
            array.flags.writeable = False  # shared by every exposure of the session
    return detector


def add_exposure(session: SimulatedSession, index: int) -> SimulatedExposure:
    """Write exposure ``index``: movie, truth and integrated image, then its records.

    The records appear only once every file is complete (live mode relies on it).
    """
    spec = session.spec
    size = spec.size(session.size)
    rng = np.random.default_rng(np.random.SeedSequence([session.seed, index, 1]))
    filename = calc.exposure_name(session.name, index, session.preset_name)
    extras = session.extras
    tilted = extras and index == TILTED
    viewer_status = {HIDDEN: "hidden", TRASHED: "trash"}.get(index) if extras else None
    assessment_keep = False if extras and index == REJECTED else None

    frame_shape = _frame_shape(spec, session.size)
    pixel = spec.file_pixel_size_a
    ctf = calc.sample_ctf(rng, session.defocus_um, kv=300.0, cs_mm=2.7)
    full = session.size == "full"
    shifts = calc.global_trajectory(size.nframes, rng,
                                    rng.uniform(8.0, 20.0) if full else rng.uniform(2.0, 6.0))
    local = calc.random_local_field(frame_shape, size.nframes, rng,
                                    rng.uniform(1.0, 2.0) if full else rng.uniform(0.4, 1.0))
    if spec.eer:
        local = _grouped_local_field(local, spec.eer_render_group)
    margin = int(math.ceil(calc.displacement_bound(shifts, local))) + 8
    padded = calc.padded_canvas_shape(frame_shape, margin)
    field, extra_phase = _particle_phase(session, index, frame_shape, padded, margin)
    canvas = calc.make_canvas(calc.ideal_intensity(padded, pixel, ctf, rng, dtype=np.float32,
                                                   extra_phase=extra_phase),
                              margin, frame_shape)
    del extra_phase
    detector = _detector(session)
    electrons_per_frame = session.dose / size.nframes * pixel * pixel

    movie_path = session.frame_path / f"{filename}{spec.movie_suffix}"
    total = np.zeros(frame_shape, dtype=np.uint32)  # raw counts summed over frames
    if spec.eer:
        eer_frames = _eer_frames(canvas, shifts, local, detector, electrons_per_frame,
                                 spec.eer_render_group, rng, total)
        files.write_eer_movie(movie_path, prefetch(eer_frames), shape=frame_shape,
                              metadata=_eer_metadata(spec, size, frame_shape, session.dose))
    else:
        frames = prefetch(_counted_frames(canvas, shifts, local, detector,
                                          electrons_per_frame, spec, rng, total))
        if spec.movie_format == "tiff":
            files.write_tiff_movie(movie_path, frames, nframes=size.nframes,
                                   shape=frame_shape, dtype=spec.frame_dtype)
        else:
            files.write_mrc_movie(movie_path, frames, nframes=size.nframes, shape=frame_shape,
                                  dtype=spec.frame_dtype, pixel_size_a=pixel)
    del canvas

    truth = _truth(session, filename, frame_shape, ctf, shifts, local, detector,
                   size.nframes, tilted)
    if field is not None and session.particles is not None:
        truth["particles"] = particle_layout.particles_truth(
            field, session.particles, frame_shape, spec.frame_rotate, spec.frame_flip)
    truth_path = files.write_json(session.frame_path / f"{filename}.truth.json", truth)
    leginon_sum = frame_to_gain_orientation(_integrated(total, detector, size.nframes),
                                            spec.frame_rotate, spec.frame_flip)
    mrc_path = files.write_mrc(session.image_path / f"{filename}.mrc", leginon_sum, pixel)

    rows = store.ExposureRows(session.session_id, session.preset_id, session.tem_id,
                              session.camera_instrument_id, session.norm_id, session.dark_id,
                              session.corrector_plan_id)
    image_id = store.insert_exposure(
        rows, spec, session.size, filename=filename, shape=leginon_sum.shape,
        nframes=size.nframes, exposure_time_ms=size.exposure_time_ms,
        defocus_m=-0.5e-10 * (ctf.defocus_1_a + ctf.defocus_2_a),
        stage_alpha_rad=math.radians(TILT_DEG if tilted else 0.0),
        frames_name=datetime.datetime.now().strftime("%Y%m%d_%H%M%S%f")[:17])
    if viewer_status:
        store.set_viewer_status(session.session_id, image_id, viewer_status)
    if assessment_keep is not None:
        store.insert_assessment(session.session_id, image_id, assessment_keep)
    exposure = SimulatedExposure(image_id, filename, movie_path, truth_path, mrc_path, tilted,
                                 viewer_status, assessment_keep, truth)
    session.images.append(exposure)
    log.info("exposure %d: %s (image id %d)", index, movie_path.name, image_id)
    return exposure


def _particle_phase(session: SimulatedSession, index: int, frame_shape: tuple[int, int],
                    padded: tuple[int, int], margin: int
                    ) -> tuple[ParticleField | None, np.ndarray | None]:
    """The exposure's particles and their phase on the padded canvas (none without
    particles).  Their own generator leaves every other draw of the exposure as it was."""
    settings = session.particles
    if settings is None:
        return None, None
    rng = np.random.default_rng(np.random.SeedSequence([session.seed, index, 2]))
    field = particle_layout.random_field(frame_shape, session.pixel_size_a, rng, settings)
    phase = particle_layout.phase_map(padded, field, settings, rng, offset_px=(margin, margin))
    return field, phase


def _integrated(total: np.ndarray, detector: _Detector, nframes: int) -> np.ndarray:
    """The gain-corrected sum of the raw frames, ``Σ (raw − dark) × gain``, float32."""
    corrected = total.astype(np.float32)  # exact: sums of counts stay below 2**24
    if detector.dark is not None:
        corrected -= np.float32(nframes) * detector.dark
    corrected *= detector.gain
    return corrected


def _bands(ny: int) -> list[slice]:
    return [slice(start, min(ny, start + _BAND_ROWS)) for start in range(0, ny, _BAND_ROWS)]


def _expected(canvas: calc.Canvas, shift, local: calc.LocalField, frame: int) -> np.ndarray:
    """Noiseless intensity of one frame (one inverse FFT, bands rendered in the pool)."""
    shifted = calc.shifted_canvas(canvas, shift)
    image = np.empty(canvas.shape, dtype=np.float32)

    def render(rows: slice) -> None:
        image[rows] = calc.warp_local(shifted, canvas.margin, local, frame, rows)
        np.maximum(image[rows], 0.0, out=image[rows])

    list(band_pool().map(render, _bands(canvas.shape[0])))
    return image


def _counted_frames(canvas, shifts, local, detector: _Detector, electrons_per_frame: float,
                    spec: CameraSpec, rng: np.random.Generator, total: np.ndarray
                    ) -> Iterator[np.ndarray]:
    """Raw frames of a TIFF/MRC camera; adds each to ``total``.

    Each band of rows is rendered and counted in the pool with its own generator
    (spawned from ``rng`` per frame), so the frames depend on the seed alone.
    """
    mean_per_unit = (np.float32(electrons_per_frame) / detector.gain).astype(np.float32)
    hot_level = HOT_PIXEL_FACTOR * electrons_per_frame
    bands = _bands(canvas.shape[0])
    for frame in range(len(shifts)):
        shifted = calc.shifted_canvas(canvas, shifts[frame])
        raw = np.empty(canvas.shape, dtype=spec.frame_dtype)

        def count(rows: slice, band_rng: np.random.Generator) -> None:
            expected = calc.warp_local(shifted, canvas.margin, local, frame, rows)  # noqa: F821
            np.maximum(expected, 0.0, out=expected)
            raw[rows] = calc.counts(
                expected, band_rng, sensitivity=mean_per_unit[rows],
                dark=None if detector.dark is None else detector.dark[rows],
                dead=detector.dead[rows], hot=detector.hot[rows], hot_level=hot_level,
                maximum=spec.pixelmax, dtype=spec.frame_dtype)

        list(band_pool().map(count, bands, rng.spawn(len(bands))))
        del shifted
        total += raw
        yield raw


def _grouped_local_field(local: calc.LocalField, group: int) -> calc.LocalField:
    """The local field with its time profile held constant within each render group."""
    time = np.asarray(local.time)
    held = [float(time[start:start + group].mean())
            for start in range(0, len(time), group) for _ in range(min(group, len(time) - start))]
    return calc.LocalField(local.shape, local.coefficients_x, local.coefficients_y,
                           tuple(held), local.terms)


def _eer_frames(canvas, shifts, local, detector: _Detector, electrons_per_frame: float,
                group: int, rng: np.random.Generator, total: np.ndarray
                ) -> Iterator[EerFrame]:
    """Raw EER frames: one render per group of raw frames, electrons placed per frame.

    A group is rendered once at its mean shift; each raw frame's electrons follow
    that intensity moved by the frame's residual shift, so their sub-pixel
    positions follow the exact per-frame trajectory (:mod:`.electrons`).  Detector
    sensitivity (1/gain) thins electrons at their final pixel; dead pixels record
    nothing; hot pixels fire in about half the frames.  Adds each frame to ``total``.
    """
    sensor, top = electrons.make_sensor(1.0 / detector.gain, detector.dead, detector.hot)
    counts = total.reshape(-1)
    nframes = len(shifts)
    for start in range(0, nframes, group):
        members = range(start, min(nframes, start + group))
        mean_shift = shifts[start:members.stop].mean(axis=0)
        source = electrons.make_source(_expected(canvas, mean_shift, local, start))
        for frame in members:
            eer_frame = electrons.raw_frame(source, sensor, shifts[frame] - mean_shift,
                                            electrons_per_frame * top, rng, pool=band_pool())
            counts[eer_frame.positions] += 1
            yield eer_frame


def _eer_metadata(spec: CameraSpec, size, frame_shape: tuple[int, int], dose: float) -> dict:
    return {"acquisitionID": "simulated", "commercialName": "Falcon 4i",
            "exposureTime": size.exposure_time_ms / 1000.0,
            "numberOfFrames": size.nframes, "sensorImageHeight": frame_shape[0],
            "sensorImageWidth": frame_shape[1],
            "sensorPixelSize.height": spec.file_pixel_size_a * 1e-10,
            "sensorPixelSize.width": spec.file_pixel_size_a * 1e-10,
            "totalDose": dose}


def _frame_defects(detector: _Detector) -> dict:
    """Defects in raw frame orientation (what a frame-level corrector sees)."""
    return {"bad_rows": [int(r) for r in np.flatnonzero(detector.dead.all(axis=1))],
            "bad_cols": [int(c) for c in np.flatnonzero(detector.dead.all(axis=0))],
            "hot_pixels": [[int(x), int(y)] for y, x in np.argwhere(detector.hot)]}


def _truth(session: SimulatedSession, filename: str, frame_shape, ctf: calc.CtfParameters,
           shifts: np.ndarray, local: calc.LocalField, detector: _Detector, nframes: int,
           tilted: bool) -> dict:
    spec = session.spec
    defects = session.defects
    return {
        "filename": filename, "camera": spec.key, "camera_name": spec.name,
        "movie_format": spec.movie_format, "frame_shape": list(frame_shape),
        "frame_dtype": spec.frame_dtype, "nframes": nframes,
        "pixel_size_a": spec.file_pixel_size_a, **ctf.as_truth(),
        "astigmatism_azimuth_leginon_deg": calc.azimuth_before_orientation(
            ctf.astigmatism_azimuth_deg, spec.frame_rotate, spec.frame_flip),
        "orientation_note": "shifts, local_field, frame_shape and astigmatism_azimuth_deg "
                            "are in the raw frame orientation of the movie file; the "
                            "integrated .mrc, the norm and hot_pixels/bad_rows/bad_cols are "
                            "in Leginon orientation (frames = gain_to_frame_orientation("
                            "leginon, frame_rotate, frame_flip))",
        "dose_per_frame_e_a2": session.dose / nframes, "total_dose_e_a2": session.dose,
        "shifts_px": [[round(float(x), 6), round(float(y), 6)] for x, y in shifts],
        "local_field": local.as_truth(),
        "frame_rotate": spec.frame_rotate, "frame_flip": spec.frame_flip,
        "eer_frames": spec.eer,
        "hot_pixels": [list(p) for p in defects.hot_pixels],
        "bad_rows": list(defects.bad_rows), "bad_cols": list(defects.bad_cols),
        "frame_defects": _frame_defects(detector),
        "stage_alpha_deg": TILT_DEG if tilted else 0.0,
        "gain_path": str(session.gain_path), "dark_path": str(session.dark_path),
        "seed": session.seed,
    }
