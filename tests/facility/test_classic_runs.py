"""Beside classic web-launched runs: a step that already has another run in the session
is not run again by the service, nor are the steps after it."""

from __future__ import annotations

from dataclasses import dataclass

from appion.base.step import RunContext
from appion.facility.config import FacilityConfig, SessionPlan
from appion.facility.discovery import Sighting
from appion.facility.service import FacilityService, SessionRunner, StartedRun
from tests.facility.fake_steps import QuietReportingStep


@dataclass
class Reporting(QuietReportingStep):
    """A step that reports the runs its kind has in a session (ReportingStep)."""

    name: str
    runs: tuple[str, ...] = ()

    def classic_runs(self, session_id):
        return list(self.runs)


def chain_after_classic_runs(steps, tmp_path, *, reprocess: bool = False):
    service = FacilityService(FacilityConfig(), starter=None, client=None, total_slots=4,
                              default_preset="enn", state_dir=tmp_path)
    sighting = Sighting(7, "26nov30a", "", "Krios1", "GatanK3", "enn", 1, (), 0.0)
    plan = SessionPlan(steps=None, preset="enn", idle_minutes=60, reprocess_classic=reprocess,
                       rundir=None, options=(), rule=None)
    runner = SessionRunner(sighting, plan)
    run = RunContext(runname="appion-serve", rundir=tmp_path, projectid=1,
                     session={"id": 7, "name": "26nov30a"})
    chain = service._steps_without_classic_runs(runner, StartedRun(run, list(steps), None))
    return [step.name for step in chain], runner


def test_the_chain_stops_before_a_step_with_another_run(tmp_path):
    steps = [Reporting("motioncor", ("appion-serve",)), Reporting("ctf", ("acerun1",)),
             Reporting("pick")]
    names, runner = chain_after_classic_runs(steps, tmp_path)
    assert names == ["motioncor"]  # its own earlier run does not count
    assert not runner.skipped


def test_a_session_whose_first_step_has_another_run_is_not_processed(tmp_path):
    names, runner = chain_after_classic_runs([Reporting("motioncor", ("ddstack1",)),
                                              Reporting("ctf")], tmp_path)
    assert names == [] and runner.skipped
    assert "ddstack1" in runner.error and "reprocess_classic" in runner.error


def test_reprocess_classic_runs_every_step(tmp_path):
    names, runner = chain_after_classic_runs([Reporting("motioncor", ("ddstack1",)),
                                              Reporting("ctf", ("acerun1",))], tmp_path,
                                             reprocess=True)
    assert names == ["motioncor", "ctf"] and not runner.skipped
