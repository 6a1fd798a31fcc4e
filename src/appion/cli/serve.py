"""``appion serve``: one service for every microscope.

    appion serve --config facility.toml [--listen 127.0.0.1:8770] \\
        [--preset enn --steps motioncor,ctf --motioncor-engine builtin ...] \\
        [--cluster slurm --max-workers 16 ...]

Finds sessions as Leginon records them (any microscope), processes each as ``appion
pipeline`` would, all on one Dask cluster, and reports lag, counts and alerts over HTTP
(``/healthz``, ``/metrics``, ``/api/sessions``).  Step flags on the command line apply
to every session; the configuration file refines them per microscope, camera, preset
or project (:mod:`appion.facility.config`).  SIGTERM or SIGINT stops it cleanly: running
tasks finish and are stored, and a restart resumes every session.
"""

from __future__ import annotations

import argparse
import copy
import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path

from appion.base.errors import UsageError
from appion.cli.pipeline import (
    PROGRAM,
    add_pipeline_run_options,
    installed_steps,
    make_steps,
    step_names,
)

log = logging.getLogger("appion.facility")



def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="process every microscope's sessions as they are collected, with "
                      "lag metrics, an HTTP API and alerts",
        description=__doc__.split("\n\n")[0], conflict_handler="resolve")
    add_serve_options(parser)
    parser.set_defaults(func=lambda options: run_command(options, parser))


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The service's own flags, then every ``appion pipeline`` flag (all installed
    steps' flags, since rules may choose any chain)."""
    from appion.base.plugins import step_plugin
    group = parser.add_argument_group("service")
    group.add_argument("--config", metavar="FILE",
                       help="facility.toml: which sessions, which steps and options, "
                            "alerts, tokens (default: every session, command-line options)")
    group.add_argument("--listen", metavar="HOST:PORT",
                       help="HTTP API and /metrics address (default from the config, else "
                            "127.0.0.1:8770)")
    group.add_argument("--hash-password", action="store_true",
                       help="read a password (typed, or one line on stdin), print its hash "
                            "for facility.toml [auth] users, and exit")
    group.add_argument("--state-dir", metavar="DIR",
                       help="where the service keeps its state (default from the config, "
                            "else $APPION_HOME/serve)")
    parser.add_argument("--steps", default=None, metavar="LIST",
                        help="default chain of steps (available: "
                             f"{', '.join(installed_steps())})")
    add_pipeline_run_options(parser)
    added = []
    for name in installed_steps():
        add_options = step_plugin(name).add_options
        if add_options not in added:
            added.append(add_options)
            add_options(parser, pipeline=True)


def run_command(options: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if options.hash_password:
        return print_password_hash()
    import sinedon
    from appion.base.cluster import check_cluster_programs, open_cluster
    from appion.cli.runtime_options import runtime_settings
    from appion.facility.config import load_config
    from appion.facility.web import parse_listen
    config = load_config(options.config)
    listen = options.listen or config.service.listen
    parse_listen(listen)  # a bad address fails before anything starts
    step_names(options.steps)
    settings = runtime_settings(options)
    check_cluster_programs(settings.cluster)
    sinedon.setup()
    state_dir = _state_dir(options, config)
    starter = SessionStarter(options, parser, settings, config.service.runname)
    with open_cluster(settings.cluster, name="appion-serve",
                      log_directory=str(state_dir / "dask-logs")) as handle:
        from appion.facility.service import FacilityService
        service = FacilityService(config, starter, handle.client,
                                  total_slots=settings.batch_size,
                                  default_preset=options.preset, state_dir=state_dir,
                                  cluster_description=handle.description)
        return _serve(service, config, listen, state_dir)


def print_password_hash() -> int:
    """``--hash-password``: a Django password hash for ``[auth] users``."""
    import getpass
    import sys

    from appion.facility.dashboard.auth import hash_password
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ; run it again")
    else:
        password = sys.stdin.readline().rstrip("\n")
    print(hash_password(password))
    return 0


def _state_dir(options: argparse.Namespace, config) -> Path:
    from sinedon.config import appion_home
    if options.state_dir:
        return Path(options.state_dir).expanduser().absolute()
    return (config.service.state_dir or appion_home() / "serve").absolute()


def _serve(service, config, listen: str, state_dir: Path) -> int:
    """The HTTP API and the alerts around the service's loop, until a signal."""
    from appion.facility.alerts import AlertManager
    from appion.facility.web import WebServer
    stop = threading.Event()
    web = WebServer(service, config.auth, listen, state_dir=state_dir)
    web.start()
    host, port = web.address
    log.info("listening on http://%s:%d (/healthz, /metrics, /api/sessions)", host, port)
    alerts = AlertManager(config.alert_rules, config.alert_settings, config.notifiers)
    service.alerts = alerts
    alert_thread = threading.Thread(target=_evaluate_alerts, name="appion-alerts",
                                    args=(alerts, service, stop,
                                          config.service.alert_seconds), daemon=True)
    alert_thread.start()
    previous = _stop_on_signals(stop)
    try:
        return service.run(stop)
    finally:
        stop.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        web.stop()
        alert_thread.join(timeout=15)


def _evaluate_alerts(alerts, service, stop: threading.Event, every_s: float) -> None:
    """Evaluate the alert rules on the latest snapshot every ``every_s`` seconds (its
    own thread: a slow mail server never holds up processing)."""
    while not stop.wait(every_s):
        try:
            alerts.evaluate(service.status())
        except Exception:  # an alert bug must not stop the service; said once a round
            log.exception("evaluating alerts failed")


def _stop_on_signals(stop: threading.Event) -> dict:
    def handler(signum, frame):
        if not stop.is_set():
            log.info("received %s: stopping; running tasks finish and are stored",
                     signal.Signals(signum).name)
        stop.set()
    return {signum: signal.signal(signum, handler)
            for signum in (signal.SIGTERM, signal.SIGINT)}


class SessionStarter:
    """Builds one session's run from the command line and its plan, as ``appion
    pipeline`` would with ``--session NAME --preset P --runname R``."""

    def __init__(self, options: argparse.Namespace, parser: argparse.ArgumentParser,
                 settings, runname: str):
        self.options = options
        self.parser = parser
        self.settings = settings
        self.runname = runname

    def __call__(self, sighting, plan):
        from appion.base.job import RunJob
        from appion.base.run import prepare_run
        from appion.cli.classic_options import run_inputs
        from appion.facility.service import StartedRun
        options = self.session_options(sighting, plan)
        names = step_names(plan.steps or self.options.steps)
        request, selection = run_inputs(options, self.parser)
        run = prepare_run(request, selection, step_names=names, program=PROGRAM,
                          job=RunJob())
        steps = make_steps(names, options)
        return StartedRun(run, steps, self.session_settings(options, plan),
                          options=plain_options(options, names))

    def session_options(self, sighting, plan) -> argparse.Namespace:
        """The command line's options, then the plan's, then the session's."""
        flags = [*plan.options, "--session", sighting.session, "--preset", plan.preset,
                 "--runname", self.runname]
        if plan.rundir:
            flags += ["--rundir", _rundir(plan.rundir, sighting, self.runname)]
        if sighting.project is not None and self.options.projectid is None:
            flags += ["--projectid", str(sighting.project)]
        try:
            return self.parser.parse_args(flags, namespace=copy.deepcopy(self.options))
        except SystemExit:
            raise UsageError(f"the options of session {sighting.session} are not valid "
                             f"flags: {' '.join(plan.options)}; fix options in the "
                             "configuration") from None

    def session_settings(self, options: argparse.Namespace, plan):
        """The runtime settings of one session: the shared cluster's, newest first unless
        ``--policy`` says otherwise, finished after the plan's idle minutes."""
        from appion.base.loop.policy import REVERSE
        from appion.cli.runtime_options import runtime_settings
        settings = runtime_settings(options)
        policy = settings.policy if getattr(options, "policy", None) else REVERSE
        return replace(settings, cluster=self.settings.cluster, policy=policy,
                       give_up_s=plan.idle_minutes * 60, wait=True, display="none")


def plain_options(options: argparse.Namespace, steps: list[str]) -> dict[str, object]:
    """The options a session ran with, for people: the chain and every set flag value."""
    values = {key: value for key, value in sorted(vars(options).items())
              if isinstance(value, (str, int, float, bool)) and key != "func"}
    return {"steps": ",".join(steps), **values}


def _rundir(template: str, sighting, runname: str) -> str:
    """A rule's ``rundir`` with ``{session}``, ``{microscope}``, ``{runname}`` filled."""
    try:
        return template.format(session=sighting.session, microscope=sighting.microscope,
                               runname=runname)
    except (KeyError, IndexError, ValueError) as error:
        raise UsageError(f"rundir template {template!r}: {error}; use {{session}}, "
                         "{microscope} and {runname}") from None
