"""``ctffind4.py`` and ``gctf.py``: the classic drop-ins for CTF estimation.

Both take classic Appion's flags plus ``--engine builtin|ctffind4|gctf`` and
``--dry-run`` (one JSON line per pending image with its search parameters;
writes nothing); they differ in their processing folder and Gctf's own flags.
"""

from __future__ import annotations

from appion.cli.classic import ClassicProgram, make_main


def _ctf_program(prog: str, procdir: str, flavour: str, program_name: str) -> ClassicProgram:
    return ClassicProgram(
        prog=prog, procdir=procdir,
        description=f"Estimate the CTF of micrographs with {program_name} (or the built-in "
                    "estimator) and store it as classic Appion does.",
        step_module="appion.ctfestimation.step",
        dry_run_help="print each pending image's CTF search as JSON and write nothing",
        step_option_kwargs={"flavour": flavour})


CTFFIND4 = _ctf_program("ctffind4.py", "ctf", "ctffind4", "CTFFIND 4/5")
GCTF = _ctf_program("gctf.py", "gctf", "gctf", "Gctf")

ctffind4_main = make_main(CTFFIND4)
gctf_main = make_main(GCTF)
