"""``appion simulate``: write a Leginon-like session, at once or live.

Live mode (``--interval S``) adds one exposure every ``S`` seconds until
``--exposures`` are written or SIGINT/SIGTERM arrives; a signal lets the exposure
being written finish (its records are written only once its files are complete)
and then exits 0.

Facility mode (``--scope NAME:CAMERA:INTERVAL[:EXPOSURES[:START_DELAY_S]]``,
repeatable) runs several microscopes at once, each writing its own live session
``<session>-<name in lower case>`` in its own thread (:mod:`.facility`).
``--session`` is then the prefix (default: today's Leginon-style date and the first
free letter, ``26nov30a``); the other options apply to every microscope, and the
N-th ``--scope`` gets seed ``--seed + N - 1``.  A microscope that fails is
reported in one line and makes the command exit 1 once the others are done.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

CAMERA_CHOICES = ("k3", "k2", "falcon4-eer", "de")
SCOPE_SYNTAX = "NAME:CAMERA:INTERVAL[:EXPOSURES[:START_DELAY_S]]"  # as facility.SCOPE_SYNTAX


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="write a simulated Leginon session (movies, references, records)",
        description="Write a simulated microscope session with ground truth: movies at "
                    "Leginon's frame path, references, integrated images and the Leginon "
                    "database records.  With --interval, exposures appear live.")
    parser.add_argument("--session", metavar="NAME",
                        help="session name; with --scope the prefix of the session names "
                             "(default: today's date and the first free letter, 26nov30a)")
    parser.add_argument("--camera", choices=CAMERA_CHOICES,
                        help="camera (default: k3)")
    parser.add_argument("--microscope", metavar="NAME",
                        help="the TEM's instrument name (default: TitanKrios)")
    parser.add_argument("--scope", action="append", type=_scope_text, metavar=SCOPE_SYNTAX,
                        help="facility mode, repeatable: a microscope named NAME with CAMERA "
                             "writing one exposure every INTERVAL seconds (EXPOSURES, "
                             "default --exposures), from START_DELAY_S seconds on, into its "
                             "own session <session>-<name in lower case>")
    parser.add_argument("--exposures", type=_non_negative_int, default=4, metavar="N")
    parser.add_argument("--preset", default="enn", help="preset name (default: enn)")
    parser.add_argument("--interval", type=_positive_float, metavar="SECONDS",
                        help="live mode: one exposure every SECONDS until N or SIGINT")
    parser.add_argument("--size", choices=("small", "full"), default="small",
                        help="small (about 1k x 1k, for tests) or full camera geometry")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dose", type=_positive_float, default=50.0, metavar="E_PER_A2",
                        help="total dose in e/Å² (default: 50)")
    parser.add_argument("--defocus", type=_positive_float, nargs=2, default=(1.0, 3.0),
                        metavar=("MIN", "MAX"), help="defocus range in µm (default: 1 3)")
    parser.add_argument("--root", type=Path, metavar="DIR",
                        help="where the files go (default: $APPION_HOME/sessions)")
    parser.add_argument("--project", type=int, default=1, metavar="N",
                        help="project id the session belongs to (default: 1)")
    parser.add_argument("--init-db", action="store_true",
                        help="create missing tables in existing databases first (new "
                             "databases are always set up; a site's Leginon needs nothing)")
    parser.add_argument("--no-extras", dest="extras", action="store_false",
                        help="no tilted, hidden, trashed or rejected exposures")
    parser.add_argument("--particles", type=_non_negative_int, default=0, metavar="N",
                        help="particles per exposure, with their centres in the truth JSON "
                             "(default: 0, none)")
    parser.add_argument("--particle-diameter", type=_positive_float, default=200.0,
                        metavar="A", help="particle diameter in Å (default: 200)")
    parser.set_defaults(func=run)


def _particle_settings(args: argparse.Namespace):
    from appion.simulation.particles import ParticleSettings
    if not getattr(args, "particles", 0):
        return None
    return ParticleSettings(count=args.particles, diameter_a=args.particle_diameter)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _scope_text(text: str) -> str:
    """A ``--scope`` value, checked now and parsed once ``--exposures`` is known."""
    from appion.simulation.facility import parse_scope_spec
    parse_scope_spec(text)
    return text


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it between exposures."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum, frame) -> None:
        self.event.set()

    def install(self) -> Callable[[], None]:
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


def run(args: argparse.Namespace) -> int:
    from sinedon import schema
    from sinedon.config import appion_home
    _check_mode(args)
    root = (args.root or appion_home() / "sessions").expanduser()
    if args.init_db:
        schema.init_all(args.project)  # leginon and project tables, then the project's appion
    else:
        schema.init_new_databases(args.project)
    stop = StopFlag()
    restore = stop.install()
    try:
        if args.scope:
            return _run_facility(args, root, stop.event)
        return _run_session(args, root, stop.event)
    finally:
        restore()


def _check_mode(args: argparse.Namespace) -> None:
    from appion.base.errors import UsageError
    if args.scope:
        given = [flag for flag, value in (("--camera", args.camera),
                                          ("--interval", args.interval),
                                          ("--microscope", args.microscope)) if value]
        if given:
            raise UsageError(f"{'/'.join(given)} cannot be used with --scope, which sets "
                             "each microscope's name, camera and interval")
    elif not args.session:
        raise UsageError("give --session NAME (or one --scope per microscope)")


def _run_session(args: argparse.Namespace, root: Path, stop: threading.Event) -> int:
    from appion.simulation.session import add_exposure, start_session
    from appion.simulation.store import TEM_NAME
    session = start_session(root, args.session, args.camera or "k3", size=args.size,
                            seed=args.seed, preset=args.preset, dose=args.dose,
                            defocus_um=tuple(args.defocus), projectid=args.project,
                            extras=args.extras and args.exposures >= 6,
                            particles=_particle_settings(args),
                            microscope=args.microscope or TEM_NAME)
    print(f"session {session.name} (SessionData id {session.session_id}), "
          f"camera {session.camera_name}, preset {session.preset_name}")
    print(f"  images:     {session.image_path}")
    print(f"  frames:     {session.frame_path}")
    print(f"  references: {session.gain_path.parent}")
    for index in range(args.exposures):
        if stop.is_set():
            break
        started = time.monotonic()
        exposure = add_exposure(session, index)
        print(f"  exposure {index + 1}/{args.exposures}: {exposure.filename} "
              f"(image id {exposure.image_id})", flush=True)
        if args.interval and index + 1 < args.exposures:
            stop.wait(max(0.0, args.interval - (time.monotonic() - started)))
    print(_summary(len(session.images), args.exposures, stop.is_set()))
    return 0


def _summary(written: int, planned: int, stopped: bool) -> str:
    if stopped and written < planned:
        return f"stopped after {written} of {planned} exposures"
    return f"wrote {written} exposures"


def _scope_specs(args: argparse.Namespace) -> list:
    from dataclasses import replace

    from appion.simulation.facility import parse_scope_spec
    return [replace(parse_scope_spec(text, args.exposures), seed=args.seed + number,
                    preset=args.preset, size=args.size, dose=args.dose,
                    defocus_um=tuple(args.defocus), extras=args.extras,
                    particles=_particle_settings(args))
            for number, text in enumerate(args.scope)]


def _print_session(spec, session) -> None:
    print(f"{spec.name}: session {session.name} (SessionData id {session.session_id}), "
          f"camera {session.camera_name}, preset {session.preset_name}, "
          f"one exposure every {spec.interval_s:g} s; frames: {session.frame_path}",
          flush=True)


def _print_exposure(exposure) -> None:
    print(f"  {exposure.microscope}: exposure {exposure.number}/{exposure.total}: "
          f"{exposure.filename} (image id {exposure.image_id})", flush=True)


def _run_facility(args: argparse.Namespace, root: Path, stop: threading.Event) -> int:
    from appion.simulation.facility import FacilityError, run_facility
    specs = _scope_specs(args)
    planned = {}

    def on_session(spec, session) -> None:
        planned[session.name] = spec.exposures
        _print_session(spec, session)

    try:
        written = run_facility(root, specs, session_prefix=args.session, stop=stop,
                               on_exposure=_print_exposure, on_session=on_session,
                               projectid=args.project)
    except FacilityError as error:
        _print_totals(error.written, planned, stop.is_set())
        raise
    _print_totals(written, planned, stop.is_set())
    return 0


def _print_totals(written: dict[str, int], planned: dict[str, int], stopped: bool) -> None:
    for name, count in written.items():
        print(f"{name}: {_summary(count, planned.get(name, count), stopped)}")
