"""runJob.py: hostile values never become shell code or extra Slurm options.

Each command line is submitted with a fake ``sbatch``; the ``batch.sh`` it wrote is
then run with bash in a sandbox folder where the program is a fake that records its
arguments.  A value that cannot be made safe is refused in one line naming its flag.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PROGRAM = "gctf.py"


def _fake_bin(sandbox: Path) -> Path:
    folder = sandbox / "bin"
    folder.mkdir()
    (folder / "sbatch").write_text("#!/bin/sh\necho 4242\n")
    (folder / PROGRAM).write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    for name in ("sbatch", PROGRAM):
        (folder / name).chmod(0o755)
    return folder


@pytest.fixture
def sandbox(tmp_path: Path) -> dict:
    """A folder with a fake ``sbatch`` and program on ``PATH``."""
    folder = _fake_bin(tmp_path)
    env = {"PATH": f"{folder}:/usr/bin:/bin", "HOME": str(tmp_path),
           "ARGS_FILE": str(tmp_path / "args.txt"),
           "APPION_TEMPLATE_DIR": str(tmp_path / "no-site-templates")}
    return {"root": tmp_path, "env": env}


def _injected(root: Path) -> list[Path]:
    """Files an injected ``touch pwned…`` made (a folder named after the text is not)."""
    return [path for path in root.rglob("*") if path.name.startswith("pwned")]


def _submit_and_run(cli, sandbox: dict, args: list[str]) -> subprocess.CompletedProcess:
    """``runJob.py PROGRAM ARGS`` with the fake sbatch, then ``bash batch.sh``."""
    root, env = sandbox["root"], sandbox["env"]
    done = cli(["runJob.py", PROGRAM, *args], env=env, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4242"
    script = next(root.rglob("batch.sh"))
    ran = subprocess.run(["bash", str(script)], cwd=root, env=env, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return ran


@pytest.mark.parametrize("flag,value", [
    ("--runname", "r1\ntouch pwned"),
    ("--queue", "gpu\ntouch pwned"),
    ("--walltime", "1\ntouch pwned"),
    ("--ppn", "1 --uid=0"),
    ("--ppn", "1\ntouch pwned"),
    ("--nodes", "$(touch pwned)"),
    ("--mem", "8;touch pwned"),
    ("--queue", "gpu --uid=0"),
    ("--walltime", "`touch pwned`"),
    ("--jobid", "1\ntouch pwned"),
])
def test_a_value_that_cannot_be_made_safe_is_refused_in_one_line(cli, sandbox, flag, value):
    rundir = sandbox["root"] / "run1"
    done = cli(["runJob.py", PROGRAM, f"--rundir={rundir}", f"{flag}={value}"],
               env=sandbox["env"], cwd=sandbox["root"])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"runJob.py: error: {flag} "), done.stderr
    assert not rundir.exists() and not _injected(sandbox["root"])


def test_a_newline_in_the_run_directory_is_refused(cli, sandbox):
    rundir = f"{sandbox['root']}/run1\ntouch pwned"
    done = cli(["runJob.py", PROGRAM, "--rundir", rundir], env=sandbox["env"],
               cwd=sandbox["root"])
    assert done.returncode == 2
    assert done.stderr.startswith("runJob.py: error: --rundir ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not _injected(sandbox["root"])


def test_a_space_in_the_run_directory_cannot_reach_an_sbatch_line(cli, sandbox):
    rundir = sandbox["root"] / "my run"
    done = cli(["runJob.py", PROGRAM, f"--rundir={rundir}"], env=sandbox["env"],
               cwd=sandbox["root"])
    assert done.returncode == 2
    assert "cannot go into an #SBATCH line" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


HOSTILE_ARGS = ["--description=$(touch pwned1)", "--label=`touch pwned2`",
                "--comment=a; touch pwned3", "--note=x\ntouch pwned4", "--q='\"$HOME"]


def test_hostile_command_arguments_reach_the_program_unchanged(cli, sandbox):
    rundir = sandbox["root"] / "run1"
    _submit_and_run(cli, sandbox, [f"--rundir={rundir}", *HOSTILE_ARGS])
    assert not _injected(sandbox["root"])
    recorded = (sandbox["root"] / "args.txt").read_text()
    assert recorded == "\n".join([f"--rundir={rundir}", *HOSTILE_ARGS]) + "\n"


@pytest.mark.parametrize("runname", ["$(touch${IFS}pwned)", "`touch${IFS}pwned`",
                                     "r;touch${IFS}pwned"])
def test_shell_syntax_in_names_stays_text(cli, sandbox, runname):
    rundir = sandbox["root"] / "d$(touch${IFS}pwned-dir)"
    _submit_and_run(cli, sandbox, [f"--rundir={rundir}", f"--runname={runname}",
                                   "--ppn=2", "--nodes=1", "--walltime=2", "--queue=gpu"])
    assert not _injected(sandbox["root"])
    script = (rundir / "batch.sh").read_text()
    assert f"#SBATCH --job-name={runname}\n" in script
    assert "#SBATCH --ntasks-per-node=2\n" in script and "#SBATCH -t 2:00:00\n" in script


def test_a_site_template_without_filters_gets_its_values_quoted(cli, sandbox):
    site = sandbox["root"] / "site"
    site.mkdir()
    (site / "job.sh.j2").write_text("#!/bin/bash\ncd {{ rundir }} || exit 1\n"
                                    "echo {{ runname }} > name.txt\n{{ command }}\n")
    env = {**sandbox["env"], "APPION_TEMPLATE_DIR": str(site),
           "APPION_JOB_TEMPLATE": "job.sh.j2"}
    rundir = sandbox["root"] / "run two"
    runname = "$(touch pwned)`touch pwned2`;touch pwned3"
    done = cli(["runJob.py", PROGRAM, f"--rundir={rundir}", f"--runname={runname}"],
               env=env, cwd=sandbox["root"])
    assert done.returncode == 0, done.stderr
    ran = subprocess.run(["bash", str(rundir / "batch.sh")], cwd=sandbox["root"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert not _injected(sandbox["root"])
    assert (rundir / "name.txt").read_text() == runname + "\n"


def test_the_batch_script_is_executable_text_only(cli, sandbox):
    rundir = sandbox["root"] / "run1"
    _submit_and_run(cli, sandbox, [f"--rundir={rundir}", "--ppn=4"])
    assert os.access(rundir / "batch.sh", os.X_OK)
    assert (sandbox["root"] / "args.txt").read_text() == f"--rundir={rundir}\n"
