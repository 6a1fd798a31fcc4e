"""Steps for the tests of what the service asks of steps: the ``Step`` protocol's
methods doing nothing, and a step that reports nothing stored and no other run."""

from __future__ import annotations


class PlainStep:
    """A ``Step``: no task, no rows, nothing done."""

    name = "plain"
    run_task = staticmethod(print)

    def init_run(self, run): ...
    def done_image_ids(self, run): return set()
    def prepare(self, run, image_ids): return []
    def store(self, run, result): return []
    def program_check(self): return None


class QuietReportingStep(PlainStep):
    """A ``ReportingStep`` with nothing stored and no run in any session."""

    name = "reporting"

    def summaries(self, run, image_ids): return {}
    def classic_runs(self, session_id): return []
