"""MotionCor2 (the motion-correction tests' fake) that prints given shifts for each movie.

``REPLAY_SHIFTS`` names a JSON file ``{movie file name: [[x, y], ...]}``: the shifts
MotionCor2 1.6.4 prints in its full-frame table (first frame at 0), so that the
fake finds, for a movie, the motion another engine found.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "motioncorrection" / "fakes"))
import fake_motioncor as fake  # noqa: E402

SHIFTS = json.loads(Path(os.environ["REPLAY_SHIFTS"]).read_text())
_align = fake.align


def _table(shifts: list[list[float]]) -> list[str]:
    x0, y0 = shifts[0]
    return ["Full-frame alignment", "  Frame   x Shift   y Shift"] + [
        fake.TABLE_ROW.format(index=i + 1, x=x - x0, y=y - y0)
        for i, (x, y) in enumerate(shifts)]


def align(movie: str, output: str, flags: dict, table: bool) -> list[str]:
    shifts = SHIFTS[Path(movie).name]
    fake.shift_lines = lambda n, table: _table(shifts)
    return _align(movie, output, flags, table)


fake.align = align

if __name__ == "__main__":
    sys.exit(fake.main(sys.argv[1:]))
