"""The no-op step (a test plug-in): exercises the controller end to end without an engine.

``run_task`` writes one small file per image under ``<rundir>/noop/`` (after an
optional sleep, failure or worker kill, for retry tests and benchmarks);
``store`` records an ``ApDDAlignImagePairData`` row (source = result = the image)
under the run's own ``ApDDStackRunData`` (method ``noop``), so exactly-once is
checked in the database, and hands the image to the next step.  With
``tests/plugins`` on the path, ``appion pipeline --steps noop`` (or ``noop,noop2``
to test chaining) runs it.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import sinedon
from appion.base.errors import EngineConfigError, EngineError
from appion.base.files import write_text
from appion.base.plugins import StepPlugin
from appion.base.step import RunContext
from appion.base.store import jobs


@dataclass(frozen=True)
class NoopTask:
    image_id: int
    output_dir: str
    sleep_s: float = 0.0
    fail_times: int = 0
    kill_worker_once: bool = False
    fail_retryable: bool = True
    step: str = "noop"


@dataclass(frozen=True)
class NoopResult:
    image_id: int
    output_path: str
    attempt: int
    worker_pid: int


def _attempt_number(task: NoopTask) -> int:
    """Count attempts at this image in a file (one byte appended per attempt)."""
    path = Path(task.output_dir) / f"{task.step}-{task.image_id}.attempts"
    with open(path, "ab") as stream:
        stream.write(b".")
        stream.flush()
        return stream.tell()


def run_task(task: NoopTask) -> NoopResult:
    """On a worker: leave one file for the image (after the failures asked for)."""
    attempt = _attempt_number(task)
    if task.kill_worker_once and attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    if attempt <= task.fail_times:
        error = EngineError if task.fail_retryable else EngineConfigError
        raise error(f"no-op engine told to fail image {task.image_id} "
                    f"(attempt {attempt} of the first {task.fail_times})")
    if task.sleep_s:
        time.sleep(task.sleep_s)
    output = Path(task.output_dir) / f"{task.step}-{task.image_id}.txt"
    write_text(output, f"{task.image_id} attempt {attempt} pid {os.getpid()}\n")
    return NoopResult(task.image_id, str(output), attempt, os.getpid())


@dataclass
class NoopStep:
    """A step that does nothing but leave a file and a row per image."""

    name: str = "noop"
    sleep_s: float = 0.0
    fail_times: int = 0
    kill_worker_once: bool = False
    fail_retryable: bool = True  # False: fail as a bad configuration (never retried)
    _run_ids: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    run_task = staticmethod(run_task)

    def program_check(self) -> None:
        """No external program."""
        return None

    @property
    def method(self) -> str:
        return f"appion-{self.name}"

    def _run_id(self, run: RunContext) -> int | None:
        if run.runname in self._run_ids:
            return self._run_ids[run.runname]
        params = sinedon.get("ApDDStackParamsData", {"method": self.method})
        if params is None:
            return None
        row = sinedon.get("ApDDStackRunData", {"runname": run.runname,
                                               "session": run.session["id"],
                                               "params": params["id"]})
        if row is None:
            return None
        self._run_ids[run.runname] = row["id"]
        return row["id"]

    def init_run(self, run: RunContext) -> None:
        (run.rundir / self.name).mkdir(parents=True, exist_ok=True)
        if not run.commit:
            return
        params = sinedon.set("ApDDStackParamsData", {"method": self.method})
        self._run_ids[run.runname] = sinedon.set("ApDDStackRunData", {
            "runname": run.runname, "params": params, "session": run.session["id"],
            "path": jobs.path_id(str(run.rundir))})

    def done_image_ids(self, run: RunContext) -> set[int]:
        run_id = self._run_id(run)
        if run_id is None:
            return set()
        rows = sinedon.filter("ApDDAlignImagePairData", {"ddstackrun": run_id},
                              fields=["source"])
        return {row["source"] for row in rows}

    def prepare(self, run: RunContext, image_ids: list[int]) -> list[NoopTask]:
        output_dir = str(run.rundir / self.name)
        return [NoopTask(image_id, output_dir, self.sleep_s, self.fail_times,
                         self.kill_worker_once, self.fail_retryable, self.name)
                for image_id in image_ids]

    def store(self, run: RunContext, result: NoopResult) -> list[int]:
        if not run.commit:
            return [result.image_id]
        run_id = self._run_id(run)
        with sinedon.atomic(sinedon.APPION):
            if not sinedon.ids("ApDDAlignImagePairData",
                               {"ddstackrun": run_id, "source": result.image_id}, limit=1):
                sinedon.insert("ApDDAlignImagePairData", {
                    "source": result.image_id, "result": result.image_id,
                    "ddstackrun": run_id})
        return [result.image_id]


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False) -> None:
    """``--noop-sleep``, ``--noop-fail``, ``--noop-kill-worker``."""
    group = parser.add_argument_group("no-op step (--steps noop)")
    group.add_argument("--noop-sleep", type=float, default=0.0, metavar="SECONDS",
                       help="seconds each task sleeps")
    group.add_argument("--noop-fail", type=int, default=0, metavar="N",
                       help="the first N attempts at each image fail")
    group.add_argument("--noop-kill-worker", action="store_true", default=False,
                       help="the first attempt at each image kills its worker (SIGKILL)")


def make_step(options: argparse.Namespace) -> NoopStep:
    """The first no-op step from its flags."""
    return NoopStep("noop", options.noop_sleep, options.noop_fail, options.noop_kill_worker)


def make_second_step(options: argparse.Namespace) -> NoopStep:
    """A second no-op step consuming the first one's output (``--steps noop,noop2``)."""
    return NoopStep("noop2", options.noop_sleep)


PLUGIN = StepPlugin(name="noop", summary="test step: a file and a row per image",
                    add_options=add_options, make_step=make_step)
SECOND_PLUGIN = StepPlugin(name="noop2", summary="test step: the next link of a chain",
                           add_options=add_options, make_step=make_second_step)
