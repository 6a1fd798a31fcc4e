"""Start-up checks, resource limits and bad inputs: one line and a non-zero exit.

Each case runs the real entry point.  Where a full or read-only file system is
needed, a small tmpfs is mounted in a private mount namespace (``unshare -rm``);
those cases skip where the kernel allows no user namespaces.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sinedon
from appion.base.files import write_mrc
from sinedon.config import DatabaseLocation
from sinedon.errors import ConfigError
from tests.motioncorrection.session import make_session

MOTIONCOR = "makeDDAlignMotionCor2_UCSF.py"


def _motioncor_argv(db, work: Path, *extra: str) -> list[str]:
    return [MOTIONCOR, "--session=s1", "--preset=enn", f"--projectid={db.projectid}",
            f"--rundir={work / 'run' / 'ddstack1'}", "--runname=ddstack1",
            "--engine=builtin", "--no-wait", "--max-workers=1", *extra]


def _one_line(done: subprocess.CompletedProcess, prog: str) -> str:
    """The single stderr line of a refused command (log lines aside), without prefix."""
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith(f"{prog}: ")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"{prog}: error: "), done.stderr
    return errors[0][len(f"{prog}: error: "):]


def test_a_preset_the_session_lacks_is_one_line_and_no_job(db, cli, tmp_path):
    make_session(tmp_path / "site", 1)
    done = cli(_motioncor_argv(db, tmp_path, "--preset=nosuch"), env=db.env)
    assert done.returncode == 2
    assert _one_line(done, MOTIONCOR) == ("preset nosuch not found in session s1 (presets: "
                                          "enn); check --preset")
    assert sinedon.filter("ApAppionJobData", {}) == []


def test_a_waiting_run_only_warns_of_a_preset_not_there_yet(sqlite_db, tmp_path, caplog):
    from appion.base.errors import UsageError
    from appion.base.retrieve.session import check_preset
    make_session(tmp_path / "site", 1)
    session = sinedon.get("SessionData", {"name": "s1"})
    check_preset(session, "enn-a-DW", waiting=True)  # made by the first aligned image
    assert "preset enn-a-DW not found in session s1 (presets: enn)" in caplog.text
    with pytest.raises(UsageError):
        check_preset(session, "enn-a-DW", waiting=False)


def test_slurm_without_sbatch_is_one_line_at_start(sqlite_db, cli, tmp_path):
    make_session(tmp_path / "site", 1)
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {**sqlite_db.env, "PATH": str(bare)}
    done = cli(_motioncor_argv(sqlite_db, tmp_path, "--cluster=slurm"), env=env, timeout=120)
    assert done.returncode == 1
    assert _one_line(done, MOTIONCOR).startswith("--cluster slurm needs sbatch and scancel "
                                                 "on PATH")
    assert sinedon.filter("ApAppionJobData", {}) == []


@pytest.mark.parametrize("flags,message", [
    (["--bin=0"], "--bin 0 must be between 1 and 16"),
    (["--bin=-2"], "--bin -2 must be between 1 and 16"),
    (["--Patchrows=1000", "--Patchcols=1000"],
     "--Patchcols/--Patchrows 1000 1000: each must be between 0 and 32"),
    (["--Iter=0"], "--Iter 0 must be between 1 and 100"),
    (["--Tol=0"], "--Tol 0 must be positive"),
])
def test_motioncor_options_beyond_their_limits(sqlite_db, cli, tmp_path, flags, message):
    done = cli(_motioncor_argv(sqlite_db, tmp_path, *flags), env=sqlite_db.env)
    assert done.returncode == 2
    assert _one_line(done, MOTIONCOR) == message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags,message", [
    (["--numstep=100000"], "--numstep 100000 must be between 1 and 1000"),
    (["--fieldsize=100000"], "--fieldsize 100000 must be even, from 64 to 8192"),
])
def test_ctf_options_beyond_their_limits(sqlite_db, cli, tmp_path, flags, message):
    done = cli(["ctffind4.py", "--session=s1", f"--projectid={sqlite_db.projectid}",
                f"--rundir={tmp_path / 'ctf1'}", "--runname=ctf1", "--no-wait", *flags],
               env=sqlite_db.env)
    assert done.returncode == 2
    assert _one_line(done, "ctffind4.py") == message


def _movie(folder: Path) -> Path:
    import numpy as np
    import tifffile
    movie = folder / "movie.tif"
    frames = np.random.default_rng(0).poisson(2.0, (4, 32, 32)).astype(np.uint8)
    tifffile.imwrite(movie, frames, photometric="minisblack")
    return movie


@pytest.mark.parametrize("flags,message", [
    (["--patch", "1000", "1000"], "--patch 1000 1000: each must be between 0 and 32"),
    (["--ftbin", "0"], "--ftbin 0 must be between 1 and 16"),
    (["--iter", "100000"], "--iter 100000 must be between 1 and 100"),
])
def test_appion_motioncor_limits(cli, tmp_path, flags, message):
    done = cli(["appion", "motioncor", str(_movie(tmp_path)), "--out",
                str(tmp_path / "out.mrc"), *flags])
    assert done.returncode == 2
    assert _one_line(done, "appion") == message


def test_a_folder_given_as_the_movie_is_one_line(cli, tmp_path):
    folder = tmp_path / "movie.tif"
    folder.mkdir()
    done = cli(["appion", "motioncor", str(folder), "--out", str(tmp_path / "out.mrc")])
    assert done.returncode == 1
    assert str(folder) in _one_line(done, "appion")


def test_a_binary_sinedon_cfg_is_one_line(cli, tmp_path):
    cfg = tmp_path / "sinedon.cfg"
    cfg.write_bytes(bytes(range(256)) * 4)
    done = cli(["appion", "db", "check"], env={"PATH": "/usr/bin:/bin",
                                               "HOME": str(tmp_path),
                                               "SINEDON_CFG_PATH": str(cfg)})
    assert done.returncode != 0
    assert _one_line(done, "appion").startswith(f"{cfg} is not a text file")


def test_a_wrong_password_in_db_check_is_one_line(mariadb_databases, cli, tmp_path):
    text = Path(mariadb_databases.env["SINEDON_CFG_PATH"]).read_text()
    cfg = tmp_path / "sinedon.cfg"
    cfg.write_text(text.replace("passwd:", "passwd: wrong-password#", 1))
    env = {**mariadb_databases.env, "SINEDON_CFG_PATH": str(cfg)}
    done = cli(["appion", "db", "check"], env=env)
    assert done.returncode != 0
    assert "Access denied" in _one_line(done, "appion")


@pytest.mark.parametrize("home", ["/proc/appion-home", "{file}/home"])
def test_an_unusable_appion_home_is_one_line(cli, tmp_path, home):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "APPION_HOME": home.format(file=blocker)}
    done = cli(["appion", "db", "init"], env=env)
    assert done.returncode != 0
    assert home.format(file=blocker) in _one_line(done, "appion")


def test_a_processingdb_name_is_checked_before_sql():
    from sinedon.schema import ensure_database_exists
    location = DatabaseLocation("mysql", "ap1`; DROP DATABASE leginondb; -- ",
                                host="127.0.0.1", port=1)
    with pytest.raises(ConfigError, match="is not a plain name"):
        ensure_database_exists(location)


def test_a_hostile_processingdb_row_stops_setup_in_one_line(mariadb_db):
    sinedon.setup(config=mariadb_db.config)
    row = sinedon.get("processingdb", {"project": mariadb_db.projectid})
    sinedon.update("processingdb", row["id"], {"appiondb": "x`; DROP DATABASE y; -- "})
    try:
        with pytest.raises(ConfigError, match=r"processingdb \(project 1\) is not a plain"):
            sinedon.setup(projectid=mariadb_db.projectid, config=mariadb_db.config)
    finally:
        sinedon.setup(config=mariadb_db.config)
        sinedon.update("processingdb", row["id"],
                       {"appiondb": mariadb_db.names[sinedon.APPION]})
        mariadb_db.setup()


# -- full and read-only file systems (a private tmpfs) ----------------------------

def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(not _namespaces_work(),
                                      reason="no user and mount namespaces (unshare -rm)")


def _in_tmpfs(mount: Path, options: str, command: list[str], env: dict | None = None,
              fill: bool = False) -> subprocess.CompletedProcess:
    """``command`` in a private mount namespace where ``mount`` is a small tmpfs."""
    mount.mkdir(exist_ok=True)
    script = (f"mount -t tmpfs -o {options} tmpfs '{mount}' || exit 99\n"
              + (f"dd if=/dev/zero of='{mount}/fill' bs=4k count=64 2>/dev/null\n"
                 if fill else "")
              + 'exec "$@"\n')
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *command], env=env,
                          capture_output=True, text=True, timeout=300)


def _appion(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "appion"), *args]


@needs_namespaces
def test_a_full_disk_is_reported_as_a_full_disk(tmp_path):
    movie = _movie(tmp_path)
    full = tmp_path / "full"
    done = _in_tmpfs(full, "size=64k", _appion("motioncor", str(movie), "--out",
                                                str(full / "out.mrc")), fill=True)
    assert done.returncode == 1, done.stderr
    assert _one_line(done, "appion") == (f"cannot write {full / 'out.mrc'}: no space left "
                                         f"on the device of {full}; free space there")


@needs_namespaces
def test_a_read_only_output_folder_is_one_line(tmp_path):
    movie = _movie(tmp_path)
    readonly = tmp_path / "readonly"
    done = _in_tmpfs(readonly, "ro,size=64k", _appion("motioncor", str(movie), "--out",
                                                       str(readonly / "out.mrc")))
    assert done.returncode == 1, done.stderr
    assert _one_line(done, "appion") == (f"cannot write {readonly / 'out.mrc'}: {readonly} "
                                         "is on a read-only file system; give a writable "
                                         "folder")


def test_write_errors_are_output_errors_that_are_not_retried(tmp_path):
    import errno

    from appion.base.errors import OutputError, is_retryable
    from appion.base.files import output_error
    for number in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        error = output_error(OSError(number, "x"), tmp_path / "a.mrc")
        assert isinstance(error, OutputError) and not is_retryable(error)
        assert str(tmp_path) in str(error)
    assert output_error(OSError(errno.EIO, "x"), tmp_path / "a.mrc") is None
    write_mrc(tmp_path / "ok.mrc", __import__("numpy").zeros((2, 2), "float32"))


@needs_namespaces
def test_a_read_only_run_directory_is_one_line_and_no_running_job(sqlite_db, tmp_path):
    make_session(tmp_path / "site", 1)
    readonly = tmp_path / "ddstack1"
    argv = _motioncor_argv(sqlite_db, tmp_path)
    argv = [str(Path(sys.executable).parent / argv[0]),
            *[f"--rundir={readonly}" if arg.startswith("--rundir=") else arg
              for arg in argv[1:]]]
    done = _in_tmpfs(readonly, "ro,size=64k", argv, env=sqlite_db.env)
    assert done.returncode == 1, done.stderr
    line = _one_line(done, MOTIONCOR)
    assert str(readonly) in line and "read-only file system" in line.lower()
    assert "R" not in [row["status"] for row in sinedon.filter("ApAppionJobData", {})]
