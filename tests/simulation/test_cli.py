"""``appion simulate`` as a user runs it: batch, live with SIGINT, and user errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import tifffile

import sinedon
from tests.conftest import run_cli


def _images(name):
    session = sinedon.get("SessionData", {"name": name})
    return [] if session is None else sinedon.filter("AcquisitionImageData",
                                                     {"session": session["id"]})


def test_simulate_writes_a_session(db, tmp_path):
    root = tmp_path / "sessions"
    result = run_cli(["appion", "simulate", "--session", "sim25feb01a", "--camera", "k3",
                      "--exposures", "2", "--root", str(root), "--seed", "5"], env=db.env)
    assert result.returncode == 0, result.stderr
    frame_path = root / "frames" / "sim25feb01a" / "rawdata"
    assert f"frames:     {frame_path}" in result.stdout
    assert "wrote 2 exposures" in result.stdout
    images = _images("sim25feb01a")
    assert len(images) == 2
    for image in images:
        movie = frame_path / f"{image['filename']}.frames.tif"
        assert tifffile.imread(movie).shape == (8, 720, 1024)
        assert (root / "leginon" / "sim25feb01a" / "rawdata" / image["image"]).is_file()


def test_user_errors_are_one_line(sqlite_db, tmp_path):
    args = ["appion", "simulate", "--session", "sim25feb02a", "--exposures", "0",
            "--root", str(tmp_path)]
    assert run_cli(args, env=sqlite_db.env).returncode == 0
    again = run_cli(args, env=sqlite_db.env)
    assert again.returncode == 2
    assert again.stderr.strip() == ("appion: error: session 'sim25feb02a' already exists in "
                                    "the Leginon database; choose another session name")
    bad = run_cli(["appion", "simulate", "--session", "x", "--camera", "falcon3"],
                  env=sqlite_db.env)
    assert bad.returncode == 2 and "invalid choice: 'falcon3'" in bad.stderr
    assert "Traceback" not in bad.stderr + again.stderr


def test_live_mode_stops_cleanly_on_sigint(sqlite_db, tmp_path):
    root = tmp_path / "live"
    executable = Path(sys.executable).parent / "appion"
    process = subprocess.Popen(
        [str(executable), "simulate", "--session", "sim25feb03a", "--exposures", "5",
         "--interval", "60", "--root", str(root)],
        env=sqlite_db.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _images("sim25feb03a") and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "stopped after 1 of 5 exposures" in stdout
    images = _images("sim25feb03a")
    assert len(images) == 1
    frame_path = root / "frames" / "sim25feb03a" / "rawdata"
    assert (frame_path / f"{images[0]['filename']}.frames.tif").is_file()
    assert not list(root.rglob("*.partial"))
