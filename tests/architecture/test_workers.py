"""Workers never touch a database: a step's worker module, imported in a fresh
interpreter as a Dask worker imports it, loads neither sinedon nor Django."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from appion.base.plugins import ENTRY_POINT_GROUP


def installed_worker_modules() -> list[str]:
    """``<step package>.worker`` of every step installed with appion."""
    modules = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        module = point.value.split(":")[0]
        if module.startswith("appion."):
            modules.append(module.rsplit(".cli", 1)[0] + ".worker")
    return sorted(modules)


def test_both_steps_are_installed():
    assert installed_worker_modules() == ["appion.ctfestimation.worker",
                                          "appion.motioncorrection.worker",
                                          "appion.particlepicking.worker"]


@pytest.mark.parametrize("worker", installed_worker_modules())
def test_a_worker_imports_no_database_layer(worker):
    probe = (f"import sys, json, {worker}\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
             "& {'sinedon', 'django', 'pymysql'})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("worker", installed_worker_modules())
def test_a_worker_has_run_task(worker):
    import importlib
    module = importlib.import_module(worker)
    assert callable(module.run_task) and callable(module.check_program)
