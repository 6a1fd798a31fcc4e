"""Fixtures of the motion-correction tests: fake MotionCor2/MotionCor3 on PATH."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

FAKE = Path(__file__).parent / "fakes" / "fake_motioncor.py"


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A folder on PATH holding ``motioncor2`` and ``motioncor3`` that run the fake."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("motioncor2", "motioncor3"):
        script = folder / name
        program = "MotionCor3" if name == "motioncor3" else "MotionCor2"
        script.write_text(f"#!/bin/sh\nexport FAKE_MOTIONCOR_PROGRAM={program}\n"
                          f"exec '{sys.executable}' '{FAKE}' \"$@\"\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    from appion.motioncorrection.engines.motioncor import query_version
    query_version.cache_clear()
    yield folder
    query_version.cache_clear()
