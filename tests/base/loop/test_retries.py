"""Which failures are retried: the rule (errors), the worker's failure result, the
controller's decision and the engine preflight; no cluster, no database."""

import functools
import pickle

import pytest

from appion.base.errors import (
    AppionError,
    EngineConfigError,
    EngineError,
    InputFileError,
    InputNotReady,
    UsageError,
    is_retryable,
)
from appion.base.loop.controller import GIVE_UP, LEAVE, RETRY, after_failure
from appion.base.loop.preflight import program_checks, run_checks
from appion.base.loop.worker import TaskFailure, run_attempt


@pytest.mark.parametrize("error, retryable", [
    (EngineError("motioncor2 exited with status 139"), True),  # a crash may not recur
    (InputNotReady("frames file x.tif is missing"), True),  # the movie may still arrive
    (MemoryError(), True), (OSError("connection reset"), True),  # not ours: transient
    (EngineConfigError("motioncor2 not found on PATH"), False),
    (UsageError("--bin 0 must be positive"), False),
    (InputFileError("movie x.mrc is truncated"), False),
    (AppionError("image x has no pixel size"), False),
])
def test_the_error_class_says_whether_another_attempt_may_succeed(error, retryable):
    assert is_retryable(error) is retryable


@pytest.mark.parametrize("attempt, retryable, stopping, action", [
    (1, True, False, RETRY), (3, True, False, RETRY), (4, True, False, GIVE_UP),
    (1, True, True, LEAVE), (4, True, True, GIVE_UP),
    (1, False, False, GIVE_UP), (1, False, True, GIVE_UP),
])
def test_the_controller_retries_only_what_may_heal(attempt, retryable, stopping, action):
    assert after_failure(retryable=retryable, attempt=attempt, retries=3,
                         stopping=stopping) == action


class _Task:
    image_id = 7


def _raise(error, task):
    raise error


def test_the_worker_returns_a_failure_as_plain_data():
    failure = run_attempt(functools.partial(_raise, EngineConfigError("gctf not found")),
                       _Task())
    assert failure == TaskFailure(7, "EngineConfigError: gctf not found", False)
    assert pickle.loads(pickle.dumps(failure)) == failure
    not_yet = functools.partial(_raise, InputNotReady("no movie yet\nmore"))
    retried = run_attempt(not_yet, _Task())
    assert retried == TaskFailure(7, "InputNotReady: no movie yet", True, not_ready=True)
    assert run_attempt(lambda task: ("result", task.image_id), _Task()) == ("result", 7)


def _fail_with(problem):
    raise EngineConfigError(problem)


def _no_problem():
    return None


class _StepWithCheck:
    """A step whose own check fails with ``problem`` (none: passes)."""

    run_task = staticmethod(_no_problem)

    def __init__(self, problem=None):
        self.problem = problem

    def program_check(self):
        if self.problem:
            return functools.partial(_fail_with, self.problem)
        return _no_problem


class _StepWithEngine:
    """A step whose engine may drive an external program (CTFFIND)."""

    run_task = staticmethod(_no_problem)

    def __init__(self, engine, executable=None):
        self.engine, self.executable = engine, executable

    def program_check(self):
        if self.engine != "ctffind4":
            return None
        from appion.ctfestimation.worker import check_program
        return functools.partial(check_program, self.engine, self.executable)


class _StepWithoutEngine:
    run_task = staticmethod(_no_problem)

    def program_check(self):
        return None


def test_preflight_checks_each_external_engine_and_reports_the_first_problem(tmp_path):
    steps = [_StepWithCheck(), _StepWithEngine("builtin"),
             _StepWithEngine("ctffind4", str(tmp_path / "no-ctffind")), _StepWithoutEngine()]
    checks = program_checks(steps)
    assert len(checks) == 2  # the builtin engine and a step without engine need none
    problem = run_checks(checks)
    assert problem.startswith("CTFFIND executable") and "not found on PATH" in problem
    assert run_checks(program_checks([_StepWithCheck("motioncor2 not found on PATH")])) \
        == "motioncor2 not found on PATH"
    assert run_checks(program_checks([_StepWithCheck()])) is None
    assert pickle.loads(pickle.dumps(checks[1])) is not None  # runs on a worker


def test_the_motioncor_step_checks_its_program(tmp_path):
    from appion.motioncorrection.cli.options import make_step
    options = _motioncor_options(["--motioncor-engine", "motioncor2",
                                  "--motioncor-exe", str(tmp_path / "motioncor2")])
    problem = run_checks(program_checks([make_step(options)]))
    assert problem == (f"{tmp_path / 'motioncor2'} not found on PATH; install it or give "
                       "its path with --motioncor-exe")
    builtin = make_step(_motioncor_options(["--motioncor-engine", "builtin"]))
    assert run_checks(program_checks([builtin])) is None


def _motioncor_options(args):
    import argparse

    from appion.motioncorrection.cli.options import add_options as add_step_options
    parser = argparse.ArgumentParser()
    add_step_options(parser, pipeline=True)
    return parser.parse_args(args)


def test_a_movie_not_there_yet_is_retried_but_a_truncated_one_is_not(tmp_path):
    from appion.motioncorrection.engines.movie_io import open_movie
    with pytest.raises(InputNotReady):
        open_movie(str(tmp_path / "not-yet.mrc"), "mrc")
    (tmp_path / "cut.mrc").write_bytes(b"\0" * 100)
    with pytest.raises(InputFileError) as raised:
        open_movie(str(tmp_path / "cut.mrc"), "mrc")
    assert not is_retryable(raised.value)
