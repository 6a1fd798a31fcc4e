"""prepare_run / finish_run on both backends: session, run directory, job row, provenance."""

from __future__ import annotations

import pytest

import sinedon
from appion.base.errors import AppionError, UsageError
from appion.base.run import finish_run, job_guard, prepare_run
from appion.base.store import provenance
from sinedon.errors import SinedonError
from tests.base.builders import inputs, make_image, make_session

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
    return prepare_run(*inputs(args), step_names=["motioncor"],
                       program=f"/opt/appion/bin/{PROGRAM}")


def test_run_context_session_and_rundir(session_id, tmp_path):
    run = _prepare(_args(tmp_path))
    assert run.session["id"] == session_id and run.session["name"] == "25jan01a"
    assert run.runname == "ddstack1" and run.rundir == tmp_path / "appion" / "ddstack1"
    assert run.rundir.is_dir() and run.projectid == 1 and run.commit
    assert run.step_names == ("motioncor",)


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
    job = sinedon.get("ApAppionJobData", {"id": run.job_id})
    assert job["name"] == "ddstack1.appionsub.job" and job["status"] == "R"
    assert job["jobtype"] == "makeddrawframestack" and job["session"] == session_id
    assert job["clusterjobid"] is None
    assert sinedon.get("ApPathData", {"id": job["path"]})["path"] == str(run.rundir)
    finish_run(run, "D")
    assert sinedon.get("ApAppionJobData", {"id": job["id"]})["status"] == "D"
    again = _prepare(_args(tmp_path))
    assert again.job_id == job["id"]
    assert sinedon.get("ApAppionJobData", {"id": job["id"]})["status"] == "R"
    assert sinedon.count("ApAppionJobData") == 1


def test_jobid_marks_the_web_row_running(session_id, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    web_job = sinedon.insert("ApAppionJobData", {"name": "ddstack1.appionsub.job",
                                                 "status": "Q", "jobtype": "makeddrawframestack"})
    run = _prepare(_args(tmp_path, f"--jobid={web_job}"))
    assert run.job_id == web_job
    row = sinedon.get("ApAppionJobData", {"id": web_job})
    assert row["status"] == "R" and row["clusterjobid"] == 4242
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
    run_row = sinedon.get("ScriptProgramRun", {"id": first.program_run_id})
    assert run_row["progname"] == program["id"] and run_row["job"] == first.job_id
    assert run_row["runname"] == "ddstack1"
    assert "python_ver" not in run_row and "session" not in run_row  # not production columns
    usages = {row["usage"] for row in sinedon.filter("ScriptParamValue",
                                                     {"progrun": run_row["id"]})}
    assert {"--bin=2.0", "--align", "--session=25jan01a", "--preset=enn", "--commit",
            f"--rundir={first.rundir}", "--projectid=1", "--tiltangle=all",
            "--continue"} <= usages
    counts = {table: sinedon.count(table) for table in (
        "ScriptProgramName", "ScriptProgramRun", "ScriptParamName", "ScriptParamValue",
        "ScriptUserName", "ScriptHostName", "ApPathData")}
    second = _prepare(_args(tmp_path, "--no-commit", "--commit", "--preset=enn"))
    assert second.program_run_id == first.program_run_id
    assert {table: sinedon.count(table) for table in counts} == counts


def test_no_commit_makes_the_rundir_but_no_rows(session_id, tmp_path):
    run = _prepare(_args(tmp_path, "--no-commit"))
    assert run.rundir.is_dir() and not run.commit and run.job_id is None
    finish_run(run, "D")
    assert sinedon.count("ApAppionJobData") == 0 and sinedon.count("ScriptProgramRun") == 0


def test_dry_run_writes_nothing(session_id, tmp_path):
    run = prepare_run(*inputs(_args(tmp_path), with_parser=False, dry_run=True),
                      step_names=["motioncor"], program=PROGRAM)
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


def _job(run):
    return sinedon.get("ApAppionJobData", {"id": run.job_id})


def test_jobtype_flag_names_the_row_and_its_lookup(session_id, tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    first = _prepare(_args(tmp_path, "--jobtype=mytype"))
    assert _job(first)["jobtype"] == "mytype"
    again = _prepare(_args(tmp_path, "--jobtype=mytype"))
    assert again.job_id == first.job_id  # found by rundir + jobtype
    default = _prepare(_args(tmp_path))
    assert default.job_id != first.job_id
    assert _job(default)["jobtype"] == "makeddrawframestack"


@pytest.mark.parametrize("program, jobtype", [
    ("/opt/bin/ctffind4.py", "ctfestimate"), ("gctf.py", "gctf"),
    ("appion-pipeline", "appionpipeline"), ("otherScript.py", "otherscript")])
def test_each_program_gets_the_classic_web_jobtype(session_id, tmp_path, program, jobtype):
    run = prepare_run(*inputs(_args(tmp_path), with_parser=False), step_names=["x"],
                      program=program)
    assert _job(run)["jobtype"] == jobtype


def test_a_non_numeric_batch_job_id_is_stored_as_null(session_id, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "30157838.batch")
    assert _job(_prepare(_args(tmp_path)))["clusterjobid"] is None
    monkeypatch.setenv("SLURM_JOB_ID", "30157838")
    assert _job(_prepare(_args(tmp_path)))["clusterjobid"] == 30157838


def test_the_project_comes_from_the_session_without_projectid(session_id, tmp_path):
    sinedon.insert("projectexperiments", {"project": 1, "session": session_id})
    args = [arg for arg in _args(tmp_path) if not arg.startswith("--projectid")]
    run = _prepare(args)
    assert run.projectid == 1
    assert _job(run)["session"] == session_id  # written into project 1's database


def test_a_session_in_no_project_needs_projectid(session_id, tmp_path):
    args = [arg for arg in _args(tmp_path) if not arg.startswith("--projectid")]
    with pytest.raises(UsageError, match="'25jan01a' belongs to no project .*give --projectid"):
        _prepare(args)
    assert sinedon.count("ApAppionJobData") == 0


def test_a_failure_writing_provenance_sets_the_job_to_error(session_id, tmp_path,
                                                            monkeypatch):
    def fail(**_):
        raise SinedonError("ScriptProgramRun has no column 'python_ver'")

    monkeypatch.setattr(provenance, "record_program_run", fail)
    with pytest.raises(SinedonError):
        with job_guard() as job:
            _prepare_with(job, _args(tmp_path))
    assert job.id is not None
    assert sinedon.get("ApAppionJobData", {"id": job.id})["status"] == "E"


def _prepare_with(job, args):
    return prepare_run(*inputs(args), step_names=["motioncor"], program=PROGRAM, job=job)


@pytest.mark.parametrize("error", [AppionError("bad"), KeyboardInterrupt(), ValueError()])
def test_the_guard_sets_error_on_anything_raised(session_id, tmp_path, error):
    with pytest.raises(type(error)):
        with job_guard() as job:
            _prepare_with(job, _args(tmp_path))
            raise error
    assert sinedon.get("ApAppionJobData", {"id": job.id})["status"] == "E"


def test_the_guard_sets_done_unless_the_run_ended_in_error(session_id, tmp_path):
    with job_guard() as job:
        _prepare_with(job, _args(tmp_path))
    assert sinedon.get("ApAppionJobData", {"id": job.id})["status"] == "D"
    with job_guard() as again:
        _prepare_with(again, _args(tmp_path))
        again.finish("E")  # e.g. run_pipeline's exit status 1
    assert again.id == job.id
    assert sinedon.get("ApAppionJobData", {"id": job.id})["status"] == "E"


def test_the_guard_touches_no_row_before_the_job_exists(session_id, tmp_path):
    with pytest.raises(AppionError):
        with job_guard() as job:
            _prepare_with(job, ["--projectid=1", "--session=nosuch", f"--rundir={tmp_path}/r"])
    assert job.id is None and sinedon.count("ApAppionJobData") == 0
