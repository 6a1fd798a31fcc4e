import datetime
import re

import appion

VERSION_PATTERN = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})(?:\.(\d{2}))?([ab])?$")


def test_version_follows_the_date_scheme():
    match = VERSION_PATTERN.match(appion.__version__)
    assert match, f"{appion.__version__!r} is not YYYY.MM.DD[.HH][a|b]"
    year, month, day, hour, _ = match.groups()
    datetime.date(int(year), int(month), int(day))  # a real calendar date
    assert hour is None or 0 <= int(hour) <= 23


def test_appion_version_prints_it(cli):
    result = cli(["appion", "--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"appion {appion.__version__}"


def test_installed_metadata_matches():
    from importlib.metadata import version
    assert version("appion") == appion.__version__



def test_a_closed_pipe_ends_quietly(capsys, monkeypatch):
    """``appion ... | head`` closes stdout early: exit 141 (SIGPIPE), no traceback."""
    import os

    from appion.cli.entry import run_entry_point

    read_end, write_end = os.pipe()
    monkeypatch.setattr("sys.stdout", os.fdopen(os.dup(write_end), "w"))
    os.close(read_end)  # the reader went away

    def main(argv):
        raise BrokenPipeError(32, "Broken pipe")

    assert run_entry_point("appion", main, []) == 141
    os.close(write_end)


def test_a_command_imports_only_what_it_uses(tmp_path):
    """``appion ctf`` on a micrograph starts like a program of its own: neither Django
    (sinedon's models), the simulator nor the other steps (beyond their plug-in
    objects) are imported."""
    import subprocess
    import sys

    import mrcfile
    import numpy as np

    micrograph = tmp_path / "m.mrc"
    with mrcfile.new(micrograph) as mrc:
        mrc.set_data(np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32))
    probe = (
        "import sys\n"
        "from appion.cli.main import main\n"
        "try:\n"
        f"    main(['ctf', {str(micrograph)!r}, '--apix', '1', '--kv', '300', '--cs', '2.7',"
        " '--ac', '0.07', '--box', '128', '--resmax', '6', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('django', 'matplotlib', 'appion.simulation', 'appion.particlepicking.cli.',"
        " 'appion.particlepicking.engines', 'appion.motioncorrection.cli.',"
        " 'appion.motioncorrection.engines')\n"
        "print(sorted({h for h in heavy for m in sys.modules if m.startswith(h)}))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert '"defocus_1_A"' in done.stdout  # the command did run
    assert done.stdout.strip().splitlines()[-1] == "[]"
