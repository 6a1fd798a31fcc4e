"""The worker: reads and checks the micrograph, runs the engine, checks its answer."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

from appion.base.errors import AppionError, InputFileError
from appion.particlepicking import worker
from appion.particlepicking.contract import DogOptions, Pick, PickOptions, PickResult, PickTask

from .session import CENTRES, DIAMETER_A, PIXEL_SIZE_A, nearest_distance, particle_image


def _task(path, **changes) -> PickTask:
    options = PickOptions(dog=DogOptions(diameter_a=DIAMETER_A, bin=2, invert=True))
    return PickTask(image_id=5, engine="dog", micrograph_path=str(path),
                    pixel_size_a=PIXEL_SIZE_A, options=options, output_dir=str(path.parent),
                    name=path.stem, **changes)


def _write(path, data) -> None:
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.asarray(data, dtype=np.float32))


def test_run_task_finds_the_particles(tmp_path):
    path = tmp_path / "m.mrc"
    _write(path, particle_image(CENTRES))
    result = worker.run_task(_task(path))
    assert result.image_id == 5 and len(result.picks) == len(CENTRES)
    assert all(nearest_distance(p.x, p.y, CENTRES) <= 3 for p in result.picks)


@pytest.mark.parametrize("data", [np.zeros((128, 128)), np.full((128, 128), np.nan)])
def test_garbage_micrographs_fail_with_one_line(tmp_path, data):
    path = tmp_path / "bad.mrc"
    _write(path, data)
    with pytest.raises(InputFileError, match="bad.mrc"):
        worker.run_task(_task(path))


def test_a_particle_off_the_micrograph_is_refused(tmp_path):
    task = _task(tmp_path / "m.mrc")
    result = PickResult(image_id=5, engine="dog", binning=2,
                        picks=(Pick(x=600.0, y=10.0, score=1.0, diameter_a=80.0),))
    with pytest.raises(AppionError, match="off the 512×512"):
        worker.check_result(result, task, (512, 512))
    nan = PickResult(image_id=5, engine="dog", binning=2,
                     picks=(Pick(x=1.0, y=float("nan"), score=1.0, diameter_a=80.0),))
    with pytest.raises(AppionError, match="not finite"):
        worker.check_result(nan, task, (512, 512))


def test_check_program_of_an_engine_in_python_is_none():
    assert worker.check_program("dog", None) is None
