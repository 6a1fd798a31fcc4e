"""runJob.py: the classic web command lines, the wrapper rule, templates and Slurm."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from appion.cli.runjob import (
    is_wrapper_token,
    parse_job_request,
    slurm_walltime,
    split_launcher_flags,
)

DATA = Path(__file__).parent.parent / "data"
CLASSIC_LINES = [line.strip() for line in
                 (DATA / "classic-command-lines.txt").read_text().splitlines() if line.strip()]
LAUNCHER = re.compile(r"^--(ppn|nodes|walltime|queue)=(.*)$")


def _launcher_values(tokens):
    return dict(match.groups() for match in map(LAUNCHER.match, tokens) if match)


def _value(tokens, flag):
    return next(token.split("=", 1)[1] for token in tokens if token.startswith(flag + "="))


def test_the_reference_has_all_45_classic_lines():
    assert len(CLASSIC_LINES) == 45


@pytest.mark.parametrize("line", CLASSIC_LINES,
                         ids=[f"line{n + 1}" for n in range(len(CLASSIC_LINES))])
def test_dry_run_of_a_classic_line(cli, line, tmp_path):
    tokens = shlex.split(line)
    assert tokens[0] == "runJob.py"
    done = cli(["runJob.py", "--dry-run", *tokens[1:]], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    script = done.stdout
    expected = [token for token in tokens[2:] if not LAUNCHER.match(token)]
    command_lines = [row for row in script.splitlines() if row.startswith(tokens[2])]
    assert command_lines == [shlex.join(expected)]
    assert "memcappion" not in script
    launcher = _launcher_values(tokens)
    rundir, runname = _value(tokens, "--rundir"), _value(tokens, "--runname")
    sbatch = [row for row in script.splitlines() if row.startswith("#SBATCH")]
    assert sbatch == [f"#SBATCH --job-name={runname}",
                      f"#SBATCH --output={rundir}/{runname}.appionsub.log",
                      f"#SBATCH --chdir={rundir}",
                      f"#SBATCH -t {launcher['walltime']}:00:00",
                      f"#SBATCH -N {launcher['nodes']}",
                      f"#SBATCH --ntasks-per-node={launcher['ppn']}",
                      f"#SBATCH -p {launcher['queue']}"]
    assert list(tmp_path.iterdir()) == [] and not Path(rundir).exists()


def test_wrapper_rule():
    on_path = {"echo": "/bin/echo", "memcappion": None}.get
    assert is_wrapper_token("memcappion", None, on_path)
    assert not is_wrapper_token("makeDDAlignMotionCor2_UCSF.py", None, on_path)
    assert not is_wrapper_token("echo", None, on_path)
    assert is_wrapper_token("echo", "/usr/local/bin/echo", on_path)


def test_wrapper_path_tokens_are_dropped_anywhere():
    request = parse_job_request(
        ["/opt/wrap/appionwrap", "ctffind4.py", "/opt/wrap/appionwrap", "--rundir=/d/ctf/r1"],
        wrapper_path="/opt/wrap/appionwrap", which=lambda name: None)
    assert request.command == ("ctffind4.py", "--rundir=/d/ctf/r1")
    assert request.wrapper == "/opt/wrap/appionwrap" and request.runname == "r1"


def test_launcher_flags_with_separate_values_and_run_directory_spellings():
    kept, values = split_launcher_flags(["a.py", "--ppn", "4", "--queue=gpu", "--nodes=2",
                                         "--walltime", "2", "--bin=2"])
    assert kept == ["a.py", "--bin=2"]
    assert values == {"ppn": "4", "queue": "gpu", "nodes": "2", "walltime": "2"}
    for spelling in (["--outdir", "/d/x/r2"], ["-R", "/d/x/r2"], ["-R=/d/x/r2"],
                     ["--rundir=/d/x/r2"]):
        request = parse_job_request(["a.py", *spelling], which=lambda name: None)
        assert (request.rundir, request.runname) == ("/d/x/r2", "r2")
    request = parse_job_request(["a.py", "-R", "/d/x/r2", "--runname=other"],
                                which=lambda name: None)
    assert request.runname == "other"


def test_walltime_is_hours_unless_already_a_slurm_time():
    assert slurm_walltime("120") == "120:00:00"
    assert slurm_walltime("1-12:00:00") == "1-12:00:00"
    assert slurm_walltime(None) is None


def test_missing_rundir_is_one_line_usage_error(cli, tmp_path):
    done = cli(["runJob.py", "--dry-run", "memcappion", "ctffind4.py", "--projectid=1"],
               cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("runJob.py: error: ctffind4.py has no --rundir (or "
                                   "--outdir, -R); runJob.py writes batch.sh there, so give "
                                   "the run directory")


def test_site_template_from_the_environment(cli, tmp_path):
    (tmp_path / "site.sh.j2").write_text(
        "#!/bin/sh\n#SBATCH -A cryoem\nmodule load appion\n{{command}}\n")
    env = {"PATH": "/usr/bin:/bin", "APPION_TEMPLATE_DIR": str(tmp_path),
           "APPION_JOB_TEMPLATE": "site.sh.j2"}
    done = cli(["runJob.py", "--dry-run", "gctf.py", "--rundir=/d/gctf/r1", "--ppn=2"],
               env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("#!/bin/sh\n#SBATCH -A cryoem\nmodule load appion\n"
                           "gctf.py --rundir=/d/gctf/r1\n")


def test_missing_template_is_a_clear_error(cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "APPION_TEMPLATE_DIR": str(tmp_path),
           "APPION_JOB_TEMPLATE": "nosuch.j2"}
    done = cli(["runJob.py", "--dry-run", "gctf.py", "--rundir=/d/gctf/r1"], env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("runJob.py: error: job template nosuch.j2 not found in ")


def test_no_sbatch_is_a_clear_error_after_writing_the_script(cli, tmp_path):
    rundir = tmp_path / "run1"
    done = cli(["runJob.py", "gctf.py", f"--rundir={rundir}"], env={"PATH": str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr.startswith("runJob.py: error: sbatch not found on PATH")
    assert (rundir / "batch.sh").read_text().rstrip().endswith(f"gctf.py --rundir={rundir}")
    assert (rundir / "run_command.txt").read_text() == \
        f"runJob.py gctf.py --rundir={rundir}\n"


def _squeue_has(job_id: str) -> bool:
    done = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i"], capture_output=True,
                          text=True, timeout=30)
    return job_id in done.stdout.split()


@pytest.mark.slurm
def test_real_submission_runs_the_command(cli, slurm_cluster, tmp_path):
    rundir = tmp_path / "run1"
    done = cli(["runJob.py", "echo", "appion-job-ran", f"--rundir={rundir}",
                "--walltime=1", "--nodes=1", "--ppn=1"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert job_id.isdigit()
    log = rundir / "run1.appionsub.log"
    try:
        deadline = time.monotonic() + 120
        while (_squeue_has(job_id) or not log.exists()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert log.read_text() == f"appion-job-ran --rundir={rundir}\n"
        assert not _squeue_has(job_id)
    finally:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)
    script = (rundir / "batch.sh").read_text()
    assert "#SBATCH -t 1:00:00" in script and "--walltime" not in script.split("\n")[-2]
