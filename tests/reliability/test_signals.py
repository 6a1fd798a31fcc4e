"""SIGTERM and SIGINT in the first instants of a run end it cleanly.

The signal is sent as soon as the run's job row exists (before the controller has
its own handlers: the cluster is still starting).  The process must end with exit
status 0 (the controller stopped it) or 128 + signal (stopped before), one line on
stderr and no traceback, and the job row must not stay ``R``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sinedon
from tests.motioncorrection.session import make_session

SCRIPT = Path(sys.executable).parent / "makeDDAlignMotionCor2_UCSF.py"


def _job_rows() -> list[dict]:
    return sinedon.filter("ApAppionJobData", {})


def _start(db, work: Path) -> subprocess.Popen:
    argv = [str(SCRIPT), "--session=s1", "--preset=enn", f"--projectid={db.projectid}",
            f"--rundir={work / 'run' / 'ddstack1'}", "--runname=ddstack1",
            "--engine=builtin", "--max-workers=1"]
    return subprocess.Popen(argv, env=db.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_job_row(process: subprocess.Popen) -> None:
    """Until the job row exists (or the process ended): the signal goes in then."""
    while process.poll() is None and not _job_rows():
        try:
            process.wait(timeout=0.01)
        except subprocess.TimeoutExpired:
            pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_as_the_job_row_appears_ends_the_run_cleanly(db, tmp_path, signum):
    make_session(tmp_path / "site", 1)
    process = _start(db, tmp_path)
    try:
        _wait_for_job_row(process)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (0, 128 + signum), stderr
    assert "Traceback" not in stderr
    if process.returncode:
        assert stderr.strip().splitlines()[-1] == (
            f"makeDDAlignMotionCor2_UCSF.py: stopped by {signal.Signals(signum).name}")
    statuses = [row["status"] for row in _job_rows()]
    assert statuses and "R" not in statuses


def test_the_stop_handlers_are_there_from_the_start():
    from appion.base.signals import Stopped
    from appion.cli.entry import run_entry_point

    def main(argv):
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)

    assert run_entry_point("prog", main, []) == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Stopped):
        raise Stopped(signal.SIGTERM)


def test_a_signal_while_the_job_row_is_written_waits_for_the_write():
    from appion.base.signals import deferred
    from appion.cli.entry import run_entry_point

    written = []

    def main(argv):
        with deferred():
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
            written.append("row")
        written.append("after")  # never reached: the held signal acts on leaving

    assert run_entry_point("prog", main, []) == 143
    assert written == ["row"]
