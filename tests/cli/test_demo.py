"""``appion demo`` (what ``make demo`` runs), shortened, through the real entry point."""

import os

from appion.cli.demo import exposure_label


def test_exposure_label_keeps_the_target_path_without_padding():
    assert exposure_label("demo_00001gr_00012sq_v01_00002hl_00004enn") == "1gr_12sq_v01_2hl_4enn"


def test_a_short_demo_processes_every_exposure_and_says_where_outputs_are(tmp_path, cli):
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINEDON_CFG_PATH", "APPION_HOME")}
    env["HOME"] = str(tmp_path)  # no sinedon.cfg: the embedded databases
    folder = tmp_path / "demo"
    done = cli(["appion", "demo", "--exposures", "2", "--interval", "0.5", "--workers", "1",
                "--folder", str(folder)], env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2 of 2 exposures went through motion correction and CTF." in out
    assert "1gr_12sq_v01_1hl_1enn" in out and "1gr_12sq_v01_1hl_2enn" in out
    assert str(folder / "runs" / "demo-run") in out
    assert (folder / "runs" / "demo-run" / "appion-status.json").is_file()
