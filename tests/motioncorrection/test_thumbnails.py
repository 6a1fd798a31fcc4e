"""The worker-made thumbnail and preview of each aligned sum (``appion serve``'s pages).

After a real ``appion pipeline --steps motioncor`` run on a small simulated session
(built-in engine) and the classic drop-in with the fake MotionCor2/MotionCor3, every
exposure has ``<rundir>/<image>_c.thumb.jpg`` (longest side 256) and
``<image>_c.preview.jpg`` (1024, never enlarged): valid JPEGs of the aligned sum,
contrast-stretched, that the step's summaries name.  A thumbnail that cannot be
written fails the image as any output does (``OutputError``, not retried).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from appion.base.calc.internal.images import scale_to_longest, smooth
from appion.base.errors import OutputError, is_retryable
from appion.base.files import read_mrc, write_mrc
from appion.base.step import RunContext
from appion.motioncorrection import worker
from appion.motioncorrection.calc.internal.display import (
    PREVIEW_PX,
    THUMBNAIL_PX,
    aligned_output_path,
    display_paths,
    trajectory_a,
)
from appion.motioncorrection.contract import MotionCorStepOptions
from appion.motioncorrection.step import MotionCorrectionStep

from .session import make_session

SESSION = "sim25mar03t"
RUNNAME = "motion1"


def _expected_shape(shape: tuple[int, int], longest: int) -> tuple[int, int]:
    side = max(shape)
    if side <= longest:
        return shape
    return round(shape[0] * longest / side), round(shape[1] * longest / side)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def check_display_images(aligned_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The thumbnail and preview of an aligned sum: valid JPEGs of the right size, of
    the sum's content, stretched to the full grey range."""
    aligned = read_mrc(aligned_path, "aligned sum")
    aligned = aligned[0] if aligned.ndim == 3 else aligned
    thumbnail_path, preview_path = display_paths(str(aligned_path))
    found = []
    for path, longest in ((thumbnail_path, THUMBNAIL_PX), (preview_path, PREVIEW_PX)):
        pixels = imagecodecs.jpeg8_decode(Path(path).read_bytes())
        assert pixels.dtype == np.uint8 and pixels.ndim == 2, path
        assert pixels.shape == _expected_shape(aligned.shape, longest), path
        # stretched between the 0.5 and 99.5 percentiles: the full grey range is used
        assert np.percentile(pixels, 0.5) <= 12 and np.percentile(pixels, 99.5) >= 243, path
        assert 30 < np.median(pixels) < 225, path
        found.append(pixels)
    thumbnail, preview = found
    # each shows the sum: it follows the sum scaled to its size and lightly low-passed
    for pixels in (thumbnail, preview):
        expected = smooth(scale_to_longest(aligned, max(pixels.shape)))
        expected = np.clip(expected, *np.percentile(expected, (0.5, 99.5)))
        assert _correlation(pixels, expected) > 0.95
    return thumbnail, preview


def test_names_follow_the_aligned_sum(tmp_path):
    aligned = aligned_output_path(str(tmp_path), "sim_00001en")
    assert aligned == str(tmp_path / "sim_00001en_c.mrc")
    assert display_paths(aligned) == (str(tmp_path / "sim_00001en_c.thumb.jpg"),
                                      str(tmp_path / "sim_00001en_c.preview.jpg"))
    with pytest.raises(Exception, match="not a plain file name"):
        aligned_output_path(str(tmp_path), "../escape")
    assert trajectory_a([(0.0, 0.0), (1.0, -2.0)], 0.5) == [[0.0, 0.0], [0.5, -1.0]]
    assert trajectory_a([(0.0, 0.0)], None) is None and trajectory_a(None, 1.0) is None


def test_the_worker_writes_a_stretched_thumbnail_and_preview(tmp_path):
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:1500, 0:2000]
    image = (np.sin(cols / 90.0) + np.cos(rows / 70.0) + 0.3 * rng.standard_normal(rows.shape)
             ).astype(np.float32)
    image[10, 10] = 1e5  # a hot pixel does not decide the grey levels
    aligned = tmp_path / "mic_c.mrc"
    write_mrc(aligned, image, 1.0)
    thumbnail_path, preview_path = worker.write_display_images(str(aligned))
    assert (thumbnail_path, preview_path) == display_paths(str(aligned))
    thumbnail, preview = check_display_images(aligned)
    assert thumbnail.shape == (192, 256) and preview.shape == (768, 1024)
    # the pattern without its noise, at the thumbnail's pixel centres
    y = (np.arange(192) + 0.5) * (1500 / 192) - 0.5
    x = (np.arange(256) + 0.5) * (2000 / 256) - 0.5
    pattern = np.sin(x / 90.0)[None, :] + np.cos(y / 70.0)[:, None]
    assert _correlation(thumbnail, pattern) > 0.95
    # named after another path when asked (the engine's sum is read, the names are the task's)
    named = worker.write_display_images(str(aligned), str(tmp_path / "other_c.mrc"))
    assert named == display_paths(str(tmp_path / "other_c.mrc"))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_a_thumbnail_that_cannot_be_written_is_an_output_error(tmp_path):
    aligned = tmp_path / "mic_c.mrc"
    write_mrc(aligned, np.random.default_rng(1).standard_normal((64, 80)).astype(np.float32))
    Path(display_paths(str(aligned))[0]).mkdir()  # a folder where the thumbnail goes
    with pytest.raises(OutputError, match="thumb.jpg exists and is a folder") as raised:
        worker.write_display_images(str(aligned))
    assert not is_retryable(raised.value)


@pytest.fixture
def motion_run(db, tmp_path, cli):
    """A small simulated session (2 exposures) after ``appion pipeline --steps motioncor``
    with the built-in engine."""
    import sinedon
    simulation = pytest.importorskip("appion.simulation.session")
    session = simulation.simulate_session(tmp_path / "sim", SESSION, camera="k3", exposures=2,
                                          size="small", extras=False)
    rundir = tmp_path / "appion" / SESSION / "pipeline" / RUNNAME
    done = cli(["appion", "pipeline", f"--projectid={db.projectid}", f"--session={SESSION}",
                "--preset=enn", f"--rundir={rundir}", f"--runname={RUNNAME}",
                "--steps", "motioncor", "--motioncor-engine", "builtin", "--doseweight",
                "--no-wait", "--max-workers", "1"], env=db.env)
    assert done.returncode == 0, done.stderr
    db.setup()
    row = sinedon.get("SessionData", {"id": session.session_id})
    return session, RunContext(runname=RUNNAME, rundir=rundir, projectid=db.projectid,
                               session=row)


def test_a_pipeline_run_leaves_images_that_the_summaries_name(motion_run):
    session, run = motion_run
    step = MotionCorrectionStep(MotionCorStepOptions(engine="builtin", preset="enn"))
    ids = [exposure.image_id for exposure in session.images]
    summaries = step.summaries(run, ids)
    assert sorted(summaries) == sorted(ids)
    for exposure in session.images:
        aligned = aligned_output_path(str(run.rundir), exposure.filename)
        thumbnail, preview = display_paths(aligned)
        summary = summaries[exposure.image_id]
        assert summary["thumbnail_path"] == str(Path(thumbnail).absolute())
        assert summary["preview_path"] == str(Path(preview).absolute())
        small, large = check_display_images(aligned)  # of the non-weighted sum
        assert max(small.shape) == THUMBNAIL_PX
    # an image gone from the run directory is no longer named; the rest of the summary stays
    first = session.images[0].image_id
    Path(summaries[first]["preview_path"]).unlink()
    again = step.summaries(run, ids)[first]
    assert "preview_path" not in again and again["thumbnail_path"]
    assert again["drift_total_a"] == summaries[first]["drift_total_a"]
    # another run directory has none
    other = dataclasses.replace(run, rundir=run.rundir.parent / "elsewhere")
    assert all("thumbnail_path" not in s for s in step.summaries(other, ids).values())


@pytest.mark.parametrize("engine", ["motioncor2", "motioncor3"])
def test_the_external_engines_sums_get_images_too(db, cli, tmp_path, fake_bin, engine):
    tiny = make_session(tmp_path / "site", 1)
    rundir = tmp_path / "run" / "ddstack1"
    env = {**db.env, "PATH": f"{fake_bin}:{db.env['PATH']}"}
    done = cli(["makeDDAlignMotionCor2_UCSF.py", "--session=s1", "--preset=enn",
                f"--projectid={db.projectid}", f"--rundir={rundir}", "--runname=ddstack1",
                "--doseweight", f"--engine={engine}", "--no-wait", "--max-workers=1"], env=env)
    assert done.returncode == 0, done.stderr
    thumbnail, preview = check_display_images(rundir / f"{tiny.names[0]}_c.mrc")
    assert thumbnail.shape == preview.shape  # a tiny sum is not enlarged
