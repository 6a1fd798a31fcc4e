"""Simulated particles: their truth agrees with the pixels and the orientation."""

from __future__ import annotations

import numpy as np
import pytest

from appion.motioncorrection.calc.internal.orientation import frame_to_gain_orientation
from appion.simulation import calc, particles


def test_particle_layout_has_the_asked_count_and_hard_cases():
    settings = particles.ParticleSettings(count=60, diameter_a=150.0)
    field = particles.random_field((2048, 2048), 1.0, np.random.default_rng(3), settings)
    assert len(field.particles) == 60
    assert sum(p.overlapping for p in field.particles) >= 4
    assert any(p.near_edge for p in field.particles)
    assert field.carbon is not None
    for p in field.particles:
        assert 0 <= p.x < 2048 and 0 <= p.y < 2048
        assert 150.0 * 0.9 <= p.diameter_a <= 150.0 * 1.1
        assert p.on_carbon == bool(field.carbon.covers(p.x, p.y))


def test_thickness_is_centred_on_the_particle_and_spans_its_diameter():
    particle = particles.Particle(60.0, 50.0, 40.0, particles.random_lobes(
        40.0, np.random.default_rng(0)))
    thickness = particles.thickness_map((100, 120), (particle,), 1.0)
    y, x = np.nonzero(thickness)
    assert abs(x.mean() - 60.0) < 5 and abs(y.mean() - 50.0) < 5
    assert 30 <= x.max() - x.min() <= 42


def test_particles_darken_the_micrograph():
    ctf = calc.CtfParameters(20000.0, 20000.0, 0.0, bfactor_a2=40.0)
    settings = particles.ParticleSettings(count=10, diameter_a=100.0, carbon=False)
    image, field = calc.make_particle_micrograph((512, 512), 1.0, ctf, settings, seed=2)
    smooth = calc.ndimage.gaussian_filter(image, 15.0)
    inside = [smooth[int(p.y), int(p.x)] for p in field.particles if not p.near_edge]
    assert np.mean(inside) < np.median(smooth)


def test_without_particles_the_micrograph_is_unchanged():
    ctf = calc.CtfParameters(15000.0, 14000.0, 20.0)
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    plain = calc.ideal_intensity((64, 64), 1.0, ctf, rng_a)
    same = calc.ideal_intensity((64, 64), 1.0, ctf, rng_b, extra_phase=None)
    assert np.array_equal(plain, same)


@pytest.mark.parametrize("rotate", [0, 1, 2, 3])
@pytest.mark.parametrize("flip", [0, 1, 2])
def test_frame_points_follow_the_sums_orientation(rotate, flip):
    frame = np.zeros((7, 11))
    frame[2, 8] = 1.0
    leginon = frame_to_gain_orientation(frame, rotate, flip)
    y, x = np.argwhere(leginon == 1.0)[0]
    assert particles.frame_point_to_leginon(8.0, 2.0, frame.shape, rotate, flip) == (x, y)
