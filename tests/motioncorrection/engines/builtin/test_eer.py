"""EER rendering: raw frames grouped as an FmIntFile says, at sampling 1 and 2."""

from __future__ import annotations

import numpy as np
import pytest

from appion.motioncorrection.engines.movie_io import open_movie

eer = pytest.importorskip("appion.simulation.eer", reason="the simulator's EER writer")


def _write(path, shape=(64, 64), raw_frames=10, seed=0):
    rng = np.random.default_rng(seed)
    frames, electrons = [], []
    for _ in range(raw_frames):
        x = rng.uniform(0, shape[1], 300)
        y = rng.uniform(0, shape[0], 300)
        frame = eer.frame_from_coordinates(x, y, shape)
        frames.append(frame)
        electrons.append(frame)
    eer.write_eer(path, frames, shape=shape, metadata={"exposureTime": 1.0})
    return electrons


def _counts(frame, shape, sampling):
    ny, nx = shape
    image = np.zeros((ny * sampling, nx * sampling), np.int64)
    rows, cols = np.divmod(frame.positions, nx)
    if sampling == 2:
        rows, cols = rows * 2 + frame.sub_y // 2, cols * 2 + frame.sub_x // 2
    np.add.at(image, (rows, cols), 1)
    return image


@pytest.mark.parametrize("sampling", [1, 2])
def test_eer_rendered_groups(tmp_path, sampling):
    path = tmp_path / "movie.eer"
    raw = _write(path)
    intfile = tmp_path / "intfile.txt"
    intfile.write_text("4 4 0.05\n6 3 0.05\n")
    with open_movie(str(path), "eer", eer_sampling=sampling,
                    fmintfile_path=str(intfile)) as movie:
        assert movie.shape == (64 * sampling, 64 * sampling)
        assert movie.nframes == 3 and movie.raw_frames == 10
        assert movie.doses == pytest.approx((0.2, 0.15, 0.15))
        rendered = list(movie.frames(threads=2))
    for frame, members in zip(rendered, (range(0, 4), range(4, 7), range(7, 10))):
        expected = sum(_counts(raw[i], (64, 64), sampling) for i in members)
        np.testing.assert_array_equal(frame, expected)


def _drifting_eer(path, shape=(128, 128), raw_frames=60, group=6, seed=3):
    """Electrons drawn from a smooth scene that drifts by a known amount per rendered frame."""
    from .conftest import drift, scene
    rng = np.random.default_rng(seed)
    expected = scene(shape, rng, 1.0)
    cumulative = np.cumsum(expected.ravel() / expected.sum())
    shifts = drift(raw_frames // group, rng, step=1.5)
    frames = []
    for index in range(raw_frames):
        dx, dy = shifts[index // group]
        flat = np.searchsorted(cumulative, rng.random(int(0.6 * shape[0] * shape[1])))
        y, x = np.divmod(flat, shape[1])
        frames.append(eer.frame_from_coordinates((x + rng.random(x.size) + dx) % shape[1],
                                                 (y + rng.random(y.size) + dy) % shape[0],
                                                 shape))
    eer.write_eer(path, frames, shape=shape, metadata={"exposureTime": 1.0})
    return shifts


def test_eer_engine_keeps_rendered_frames_and_matches_decoding_twice(tmp_path, monkeypatch):
    import mrcfile

    from appion.motioncorrection.contract import MotionCorParameters
    from appion.motioncorrection.engines import builtin_engine

    truth = _drifting_eer(tmp_path / "movie.eer")

    def run(name):
        params = MotionCorParameters(str(tmp_path / "movie.eer"), "eer", str(tmp_path / name),
                                     pixel_size_a=1.0, rendered_frame_size=6,
                                     dose_weight=True, fm_dose=1.0)
        result = builtin_engine.run_builtin(params, threads=2)
        return result, mrcfile.read(tmp_path / name), mrcfile.read(result.aligned_dw_path)

    kept, kept_sum, kept_dw = run("kept.mrc")
    monkeypatch.setattr(builtin_engine, "_keeps_frames", lambda movie, count: False)
    twice, twice_sum, twice_dw = run("twice.mrc")
    error = np.sqrt(np.mean(np.sum((np.array(kept.shifts_px) - truth) ** 2, axis=1)))
    assert len(kept.shifts_px) == 10 and error < 0.2
    assert kept.shifts_px == twice.shifts_px
    np.testing.assert_allclose(kept_sum, twice_sum, atol=1e-3)
    np.testing.assert_allclose(kept_dw, twice_dw, atol=1e-3)
