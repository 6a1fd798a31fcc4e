"""prepare_run / finish_run on both backends: session, run directory, job row, provenance."""

from __future__ import annotations

import pytest

import sinedon
from appion.base.errors import AppionError, UsageError
from appion.base.run import finish_run, prepare_run
from tests.base.builders import classic_parser, make_image, make_session, parse

PROGRAM = "makeDDAlignMotionCor2_UCSF.py"


@pytest.fixture
def databases(db, monkeypatch):
    """Point the environment at the test databases, as a console script would see them."""
    for key in ("SINEDON_CFG_PATH", "APPION_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key in ("SINEDON_CFG_PATH", "APPION_HOME", "HOME"):
        if key in db.env:
            monkeypatch.setenv(key, db.env[key])
    return db


@pytest.fixture
def session_id(databases, tmp_path):
    return make_session("25jan01a", str(tmp_path / "leginon" / "25jan01a" / "rawdata"))


def _args(tmp_path, *extra):
    return ["--projectid=1", "--session=25jan01a", "--bin=2", "--align",
            f"--rundir={tmp_path / 'appion' / 'ddstack1'}", *extra]


def _prepare(args):
    return prepare_run(parse(args), step_names=["motioncor"], parser=classic_parser(),
                       program=f"/opt/appion/bin/{PROGRAM}")


def test_run_context_session_and_rundir(session_id, tmp_path):
    run = _prepare(_args(tmp_path))
    assert run.session["id"] == session_id and run.session["name"] == "25jan01a"
    assert run.runname == "ddstack1" and run.rundir == tmp_path / "appion" / "ddstack1"
    assert run.rundir.is_dir() and run.projectid == 1 and run.commit
    assert run.extra["step_names"] == ["motioncor"]


def test_accepted_but_unused_classic_flags_are_said_once_each(session_id, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="appion"):
        _prepare([*_args(tmp_path), "--shuffle", "--sib-assess", "--parallel"])
    warnings = [record.getMessage() for record in caplog.records
                if record.levelname == "WARNING"]
    assert sorted(message.split()[0] for message in warnings) == [
        "--parallel", "--shuffle", "--sib-assess"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="appion"):
        _prepare(_args(tmp_path))
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


def test_default_rundir_follows_the_classic_image_path_rule(session_id, tmp_path):
    run = _prepare(["--projectid=1", "--expid", str(session_id), "--runname=ddstack7"])
    assert run.rundir == tmp_path / "appion" / "25jan01a" / "ddstack" / "ddstack7"


def test_session_found_from_mrclist(session_id, tmp_path):
    make_image(session_id, "25jan01a_00001_enn")
    run = _prepare(["--projectid=1", "--mrclist=25jan01a_00001_enn.mrc", "--runname=t1"])
    assert run.session["id"] == session_id


def test_new_job_row_is_classic_and_found_again(session_id, tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    run = _prepare(_args(tmp_path))
    job = sinedon.get("ApAppionJobData", {"id": run.extra["job_id"]})
    assert job["name"] == "ddstack1.appionsub.job" and job["status"] == "R"
    assert job["jobtype"] == "makeddalignmotioncor2_ucsf" and job["session"] == session_id
    assert job["clusterjobid"] is None
    assert sinedon.get("ApPathData", {"id": job["path"]})["path"] == str(run.rundir)
    finish_run(run, "D")
    assert sinedon.get("ApAppionJobData", {"id": job["id"]})["status"] == "D"
    again = _prepare(_args(tmp_path))
    assert again.extra["job_id"] == job["id"]
    assert sinedon.get("ApAppionJobData", {"id": job["id"]})["status"] == "R"
    assert sinedon.count("ApAppionJobData") == 1


def test_jobid_marks_the_web_row_running(session_id, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    web_job = sinedon.insert("ApAppionJobData", {"name": "ddstack1.appionsub.job",
                                                 "status": "Q", "jobtype": "makeddrawframestack"})
    run = _prepare(_args(tmp_path, f"--jobid={web_job}"))
    assert run.extra["job_id"] == web_job
    row = sinedon.get("ApAppionJobData", {"id": web_job})
    assert row["status"] == "R" and row["clusterjobid"] == "4242"
    finish_run(run, "E")
    assert sinedon.get("ApAppionJobData", {"id": web_job})["status"] == "E"
    assert sinedon.count("ApAppionJobData") == 1


def test_unknown_jobid_is_a_clear_error(session_id, tmp_path):
    with pytest.raises(AppionError, match="job 999 not found in ApAppionJobData.*--jobid"):
        _prepare(_args(tmp_path, "--jobid=999"))


def test_provenance_rows_with_classic_usages_recorded_once(session_id, tmp_path):
    first = _prepare(_args(tmp_path, "--no-commit", "--commit", "--preset=enn"))
    program = sinedon.get("ScriptProgramName", {"name": "makeDDAlignMotionCor2_UCSF"})
    assert program is not None
    run_row = sinedon.get("ScriptProgramRun", {"id": first.extra["program_run_id"]})
    assert run_row["progname"] == program["id"] and run_row["job"] == first.extra["job_id"]
    assert run_row["runname"] == "ddstack1" and run_row["session"] == session_id
    usages = {row["usage"] for row in sinedon.filter("ScriptParamValue",
                                                     {"progrun": run_row["id"]})}
    assert {"--bin=2.0", "--align", "--session=25jan01a", "--preset=enn", "--commit",
            f"--rundir={first.rundir}", "--projectid=1", "--tiltangle=all",
            "--continue"} <= usages
    counts = {table: sinedon.count(table) for table in (
        "ScriptProgramName", "ScriptProgramRun", "ScriptParamName", "ScriptParamValue",
        "ScriptUserName", "ScriptHostName", "ApPathData")}
    second = _prepare(_args(tmp_path, "--no-commit", "--commit", "--preset=enn"))
    assert second.extra["program_run_id"] == first.extra["program_run_id"]
    assert {table: sinedon.count(table) for table in counts} == counts


def test_no_commit_makes_the_rundir_but_no_rows(session_id, tmp_path):
    run = _prepare(_args(tmp_path, "--no-commit"))
    assert run.rundir.is_dir() and not run.commit and run.extra["job_id"] is None
    finish_run(run, "D")
    assert sinedon.count("ApAppionJobData") == 0 and sinedon.count("ScriptProgramRun") == 0


def test_dry_run_writes_nothing(session_id, tmp_path):
    options = parse(_args(tmp_path))
    options.dry_run = True
    run = prepare_run(options, step_names=["motioncor"], program=PROGRAM)
    assert not run.rundir.exists()
    assert sinedon.count("ApAppionJobData") == 0 and sinedon.count("ApPathData") == 0


def test_unknown_session_is_a_clear_error(databases, tmp_path):
    with pytest.raises(AppionError, match="session 'nosuch' not found in .*check --session"):
        _prepare(["--projectid=1", "--session=nosuch", f"--rundir={tmp_path}/r1"])


def test_session_of_another_project_is_refused(session_id, tmp_path):
    sinedon.insert("projectexperiments", {"project": 5, "session": session_id})
    with pytest.raises(UsageError, match="belongs to project 5, not --projectid 1"):
        _prepare(_args(tmp_path))


def test_unknown_status_is_a_programming_error(session_id, tmp_path):
    run = _prepare(_args(tmp_path))
    with pytest.raises(ValueError):
        finish_run(run, "X")
