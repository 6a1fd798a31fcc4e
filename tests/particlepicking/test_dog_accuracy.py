"""DoG picking finds simulated particles: precision and recall against the truth."""

from __future__ import annotations

import numpy as np
import pytest

from appion.particlepicking.calc.internal.dog import pick_dog
from appion.particlepicking.calc.internal.matching import Match, score_picks
from appion.particlepicking.contract import DogOptions
from appion.simulation import calc, particles

PIXEL_A = 1.0
DIAMETER_A = 200.0
SHAPE = (2048, 2880)
SEEDS = (0, 1, 2)


def _micrograph(seed: int):
    ctf = calc.CtfParameters(20000.0 + 3000.0 * seed, 19500.0 + 3000.0 * seed, 30.0,
                             bfactor_a2=40.0)
    settings = particles.ParticleSettings(count=36, diameter_a=DIAMETER_A)
    return calc.make_particle_micrograph(SHAPE, PIXEL_A, ctf, settings, seed=seed, dose=40.0)


def _pickable(field: particles.ParticleField) -> np.ndarray:
    """True centres at least a radius inside the image (classic's edge exclusion)."""
    ny, nx = SHAPE
    return np.array([[p.x, p.y] for p in field.particles
                     if min(p.x, p.y, nx - 1 - p.x, ny - 1 - p.y) >= p.diameter_a / PIXEL_A / 2])


@pytest.fixture(scope="module")
def micrographs():
    return [_micrograph(seed) for seed in SEEDS]


def test_dog_reaches_precision_and_recall_of_0_8(micrographs):
    options = DogOptions(diameter_a=DIAMETER_A, invert=True, threshold=0.35)
    matched = picks = truths = 0
    for image, field in micrographs:
        found = pick_dog(image, PIXEL_A, options).picks
        xy = np.array([[p.x, p.y] for p in found]).reshape(-1, 2)
        match = score_picks(xy, _pickable(field), 0.25 * DIAMETER_A / PIXEL_A)
        matched, picks, truths = (matched + match.matched, picks + match.picks,
                                  truths + match.truths)
    total = Match(matched, picks, truths)
    assert total.precision >= 0.8, total
    assert total.recall >= 0.8, total


def test_the_truth_holds_hard_cases(micrographs):
    everything = [p for _, field in micrographs for p in field.particles]
    assert any(p.overlapping for p in everything)
    assert any(p.near_edge for p in everything)
    assert any(p.on_carbon for p in everything)


def test_without_invert_dark_particles_are_not_found(micrographs):
    image, field = micrographs[0]
    found = pick_dog(image, PIXEL_A, DogOptions(diameter_a=DIAMETER_A, threshold=0.35)).picks
    xy = np.array([[p.x, p.y] for p in found]).reshape(-1, 2)
    assert score_picks(xy, _pickable(field), 50.0).recall < 0.5
