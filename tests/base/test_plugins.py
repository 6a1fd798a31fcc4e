"""A step plugs in through the ``appion.steps`` entry points, without an edit of appion.

A toy step is written as its own installed distribution (a package and its
``dist-info`` with ``entry_points.txt``) into a temporary folder; with that folder on
``PYTHONPATH`` the real ``appion pipeline`` finds it, shows its flags, lists its
images with ``--dry-run`` and runs it on the controller.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.plugin_path import PLUGINS

TOY = textwrap.dedent('''
    """A toy step: one greeting file per image."""

    from dataclasses import dataclass
    from pathlib import Path

    from appion.base.plugins import StepPlugin


    @dataclass(frozen=True)
    class ToyTask:
        image_id: int
        path: str
        greeting: str


    def run_task(task):
        Path(task.path).write_text(f"{task.greeting} {task.image_id}\\n")
        return task


    class ToyStep:
        name = "toy"
        run_task = staticmethod(run_task)

        def __init__(self, greeting):
            self.greeting = greeting

        def program_check(self):
            return None

        def init_run(self, run):
            (run.rundir / "toy").mkdir(parents=True, exist_ok=True)

        def done_image_ids(self, run):
            return {int(path.stem) for path in (run.rundir / "toy").glob("*.txt")}

        def prepare(self, run, image_ids):
            return [ToyTask(image_id, str(run.rundir / "toy" / f"{image_id}.txt"),
                            self.greeting) for image_id in image_ids]

        def store(self, run, result):
            return []


    def add_options(parser, *, pipeline=False):
        parser.add_argument("--toy-greeting", default="hello", help="what the toy writes")


    PLUGIN = StepPlugin(name="toy", summary="writes a greeting per image",
                        add_options=add_options,
                        make_step=lambda options: ToyStep(options.toy_greeting))
''')


def _install_toy(folder: Path) -> Path:
    """The toy step as an installed distribution in ``folder``."""
    (folder / "toy_step").mkdir(parents=True)
    (folder / "toy_step" / "__init__.py").write_text(TOY)
    info = folder / "toy_step-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy_step\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[appion.steps]\ntoy = toy_step:PLUGIN\n")
    return folder


@pytest.fixture
def toy_env(sqlite_db, tmp_path):
    """The test databases' environment with the toy step installed."""
    folder = _install_toy(tmp_path / "site")
    env = dict(sqlite_db.env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder),
                                                      env.get("PYTHONPATH")]))
    return env


def _pipeline(session, rundir: Path, *flags: str) -> list[str]:
    return ["appion", "pipeline", "--projectid", "1", "--session", session.name,
            "--preset", "enn", "--rundir", str(rundir), "--steps", "toy",
            "--max-workers", "1", "--poll-interval", "0.2", *flags]


def test_a_plain_installation_offers_no_test_step(cli):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = cli(["appion", "pipeline", "--help"], env=env)
    assert done.returncode == 0, done.stderr
    assert "noop" not in done.stdout and "motioncor" in done.stdout


def test_the_test_plugins_are_on_the_path_of_every_test(cli):
    assert str(PLUGINS) in os.environ["PYTHONPATH"].split(os.pathsep)
    done = cli(["appion", "pipeline", "--steps", "noop", "--help"])
    assert done.returncode == 0, done.stderr
    assert "--noop-sleep" in done.stdout


def test_an_installed_step_shows_its_flags(cli, toy_env):
    done = cli(["appion", "pipeline", "--steps", "toy", "--help"], env=toy_env)
    assert done.returncode == 0, done.stderr
    assert "--toy-greeting" in done.stdout and "toy" in done.stdout.split("available:")[1]


def test_an_installed_step_lists_and_processes_a_session(cli, toy_env, sqlite_session,
                                                          tmp_path):
    images = sqlite_session.add_images(3)
    rundir = tmp_path / "runs" / "toy1"
    listed = cli(_pipeline(sqlite_session, rundir, "--dry-run"), env=toy_env)
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["step"], r["image_id"]) for r in records] == [("toy", i) for i in images]
    assert not rundir.exists()
    done = cli(_pipeline(sqlite_session, rundir, "--no-wait", "--toy-greeting", "hi"),
               env=toy_env)
    assert done.returncode == 0, done.stderr
    assert sorted(int(path.stem) for path in (rundir / "toy").glob("*.txt")) == images
    assert (rundir / "toy" / f"{images[0]}.txt").read_text() == f"hi {images[0]}\n"
