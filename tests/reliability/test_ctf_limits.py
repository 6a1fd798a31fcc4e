"""A CTF search too fine to fit in memory is refused in one line before it starts."""

from __future__ import annotations

import mrcfile
import numpy as np


def test_appion_ctf_refuses_a_defocus_step_that_would_allocate_gibs(tmp_path, cli):
    micrograph = tmp_path / "m.mrc"
    with mrcfile.new(str(micrograph)) as mrc:
        mrc.set_data(np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32))
    done = cli(["appion", "ctf", str(micrograph), "--apix", "1.0", "--kv", "300", "--cs", "2.7",
                "--ac", "0.07", "--box", "256", "--resmax", "5", "--defstep", "0.001"])
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "candidates" in line and "use a step of at least" in line
