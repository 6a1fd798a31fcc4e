"""facility.toml: rules, plans and one-line errors."""

from __future__ import annotations

import pytest

from appion.base.errors import UsageError
from appion.facility.config import load_config, option_flags
from appion.facility.discovery import Sighting


def sighting(**changes) -> Sighting:
    values = dict(session_id=7, session="26nov30a", image_path="/data/leginon/26nov30a/rawdata",
                  microscope="Krios1", camera="GatanK3", preset="enn", project=3,
                  image_ids=(1, 2), newest_at=0.0)
    values.update(changes)
    return Sighting(**values)


def write(tmp_path, text: str):
    path = tmp_path / "facility.toml"
    path.write_text(text)
    return path


def test_without_rules_every_session_with_the_preset_is_processed(tmp_path):
    config = load_config(write(tmp_path, "[defaults]\nidle_minutes = 5\n"))
    plan = config.plan(sighting(), default_preset="enn")
    assert plan is not None and plan.idle_minutes == 5 and plan.rule is None
    assert config.plan(sighting(preset="sq"), default_preset="enn") is None
    assert load_config(None).plan(sighting(), default_preset=None) is None  # no preset


def test_the_first_matching_rule_refines_the_defaults(tmp_path):
    config = load_config(write(tmp_path, """
[defaults]
preset = "enn"
steps = "motioncor,ctf"
options = { "motioncor-engine" = "builtin", "no-rejects" = true, "retries" = 1 }

[[rule]]
microscope = "Talos*"
process = false

[[rule]]
microscope = ["Krios*", "Glacios"]
camera = "GatanK3"
project = [3, 4]
steps = "motioncor,ctf,pick"
idle_minutes = 30
options = { bin = 2, "ctf-engine" = "ctffind4" }
rundir = "/scratch/{microscope}/{session}/{runname}"
"""))
    plan = config.plan(sighting(), default_preset=None)
    assert plan is not None
    assert plan.rule == 2 and plan.steps == "motioncor,ctf,pick" and plan.idle_minutes == 30
    assert plan.options == ("--motioncor-engine", "builtin", "--no-rejects", "--retries", "1",
                            "--bin", "2", "--ctf-engine", "ctffind4")
    assert plan.rundir == "/scratch/{microscope}/{session}/{runname}"
    assert config.plan(sighting(microscope="TalosArctica"), default_preset=None) is None
    assert config.plan(sighting(project=9), default_preset=None) is None  # no rule matches
    assert config.plan(sighting(camera="Falcon4EC"), default_preset=None) is None


def test_option_flags():
    assert option_flags({"bin": 2, "doseweight": True, "no-wait": False,
                         "slurm-job-extra": ["--constraint=a100", "--qos=high"]}) == (
        "--bin", "2", "--doseweight", "--slurm-job-extra", "--constraint=a100",
        "--slurm-job-extra", "--qos=high")


@pytest.mark.parametrize("text, message", [
    ("[servce]\n", "unknown section [servce]"),
    ("[service]\npoll_seconds = 0\n", "poll_seconds must be positive"),
    ("[service]\nlisten = 8770\n", "[service] listen: expected str"),
    ("[[rule]]\nmicroscop = 'x'\n", "[[rule]] #1: unknown key 'microscop'"),
    ("[rule]\nmicroscope = 'x'\n", "rules are [[rule]] tables"),
    ("[defaults]\noptions = 'bin 2'\n", "options must be a table"),
    ("[defaults]\nidle_minutes = -1\n", "idle_minutes must be positive"),
    ("[defaults]\noptions = { bin = { x = 1 } }\n", "give a string or a number"),
    ("[[rule]]\nproject = 'three'\n", "[[rule]] #1 project: expected int"),
    ("[service\n", "is not valid TOML"),
])
def test_mistakes_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(UsageError) as caught:
        load_config(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(UsageError, match="no configuration file .*give an existing --config"):
        load_config(tmp_path / "nothere.toml")


def test_the_readme_example_is_a_valid_configuration(tmp_path, monkeypatch):
    import re
    from pathlib import Path
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = re.search(r"```toml\n# facility.toml\n(.*?)```", readme, re.S)
    assert example, "README.md lost its facility.toml example"
    monkeypatch.setenv("APPION_SMTP_PASSWORD", "smtp-password-for-the-test")
    monkeypatch.setenv("APPION_SERVE_TOKEN", "a-token-long-enough-for-the-rule")
    config = load_config(write(tmp_path, example.group(1)))
    assert [rule.process for rule in config.rules] == [True, False]
    assert len(config.alert_rules) == 2 and len(config.notifiers) == 2
    plan = config.plan(sighting(microscope="Krios3"), default_preset=None)
    assert plan is not None and "--bin" in plan.options
