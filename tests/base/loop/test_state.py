"""Run-directory state: the one-controller lock, failures, chain handoffs, status."""

import subprocess
import sys

import pytest

from appion.base.errors import AppionError
from appion.base.loop import state


def test_a_second_lock_on_the_same_rundir_names_the_owner(tmp_path):
    with state.RunLock(tmp_path):
        assert state.lock_owner(tmp_path).startswith("pid ")
        with pytest.raises(AppionError) as error:
            state.RunLock(tmp_path).acquire()
    message = str(error.value)
    assert "another controller (pid " in message and f"running in {tmp_path}" in message
    assert "choose another --rundir" in message
    assert state.lock_owner(tmp_path) is None


def test_the_lock_dies_with_its_process(tmp_path):
    code = ("import os, sys; from appion.base.loop.state import RunLock; "
            f"RunLock({str(tmp_path)!r}).acquire(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True)
    state.RunLock(tmp_path).acquire()  # a crashed owner leaves no stale lock


def test_failures_keep_the_latest_per_image_and_survive_a_torn_line(tmp_path):
    state.record_failure(tmp_path, state.Failure("noop", 7, "first", 4, 1.0))
    state.record_failure(tmp_path, state.Failure("noop", 7, "second", 4, 2.0))
    state.record_failure(tmp_path, state.Failure("ctf", 7, "other step", 1, 3.0))
    with open(tmp_path / state.FAILED_NAME, "a") as stream:
        stream.write('{"step": "noop", "image_')  # a crash mid-write
    failures = {(f.step, f.image_id): f.error for f in state.read_failures(tmp_path)}
    assert failures == {("noop", 7): "second", ("ctf", 7): "other step"}
    state.clear_failures(tmp_path)
    assert state.read_failures(tmp_path) == []
    assert (tmp_path / "failed.jsonl.old").exists()


def test_handoffs_are_read_back_per_step(tmp_path):
    state.record_handoff(tmp_path, "motioncor", 1, [101])
    state.record_handoff(tmp_path, "motioncor", 2, [102, 103])
    state.record_handoff(tmp_path, "ctf", 101, [])
    assert state.read_handoffs(tmp_path, "motioncor") == [101, 102, 103]
    assert state.read_handoffs(tmp_path, "ctf") == []


def test_status_is_replaced_atomically(tmp_path):
    state.write_status(tmp_path, {"steps": {"noop": {"done": 1}}})
    state.write_status(tmp_path, {"steps": {"noop": {"done": 2}}})
    assert state.read_status(tmp_path)["steps"]["noop"]["done"] == 2
    assert [p.name for p in tmp_path.iterdir()] == [state.STATUS_NAME]
