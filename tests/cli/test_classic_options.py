"""Image selection and run errors through a real console script (``appion pipeline``)."""

from __future__ import annotations

import json

from tests.base.builders import assess, make_image, make_preset, make_session, set_viewer_status


def _pipeline(cli, db, tmp_path, *flags):
    return cli(["appion", "pipeline", "--steps=noop", "--dry-run", "--projectid=1",
                f"--rundir={tmp_path / 'pipeline' / 'run1'}", *flags], env=db.env)


def test_dry_run_lists_the_classic_selection(cli, db, tmp_path):
    sid = make_session("25jan01a", str(tmp_path / "leginon" / "25jan01a" / "rawdata"))
    enn = make_preset(sid, "enn")
    plain = make_image(sid, "a_enn", preset_id=enn)
    hidden = make_image(sid, "b_enn", preset_id=enn)
    rejected = make_image(sid, "c_enn", preset_id=enn)
    make_image(sid, "d_enn", preset_id=enn, tilt_degrees=45)
    make_image(sid, "e_esn", preset_id=make_preset(sid, "esn"))
    newest = make_image(sid, "f_enn", preset_id=enn)
    set_viewer_status(sid, hidden, "trash")
    assess(sid, rejected, False)
    done = _pipeline(cli, db, tmp_path, "--session=25jan01a", "--preset=enn", "--no-rejects",
                     "--tiltangle=notilt", "--reverse")
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line)["image_id"] for line in done.stdout.splitlines()]
    assert listed == [newest, plain]
    assert not (tmp_path / "pipeline").exists()


def test_unknown_session_is_one_line(cli, db, tmp_path):
    done = _pipeline(cli, db, tmp_path, "--session=nosuch")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("appion: error: session 'nosuch' not found")
    assert lines[0].endswith("check --session")
