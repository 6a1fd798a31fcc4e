"""The Topaz engine: its pretrained detector finds simulated particles (when installed)."""

from __future__ import annotations

import numpy as np
import pytest

from appion.base.errors import EngineConfigError
from appion.particlepicking.calc.internal import topaz as topaz_calc
from appion.particlepicking.calc.internal.matching import score_picks
from appion.particlepicking.engines.topaz import Topaz
from appion.simulation import calc, particles


def _installed() -> str | None:
    try:
        Topaz().find_program()
    except EngineConfigError as error:
        return str(error)
    return None


MISSING = _installed()


def test_downsampling_brings_the_particle_to_about_24_pixels():
    assert topaz_calc.downsample_factor(1.0, 200.0) == 8
    assert topaz_calc.downsample_factor(0.826, 100.0) == 5
    assert topaz_calc.downsample_factor(4.0, 50.0) == 1
    assert topaz_calc.extract_radius_px(1.0, 200.0, 8) == 9
    assert topaz_calc.to_micrograph_px(10.0, 2880, 360) == 80.0


@pytest.mark.skipif(MISSING is None, reason="topaz is installed")
def test_missing_topaz_says_how_to_install_it():
    with pytest.raises(EngineConfigError, match="pip install 'appion\\[topaz\\]'"):
        Topaz().find_program()


@pytest.mark.skipif(MISSING is not None, reason=f"topaz is not installed: {MISSING}")
def test_topaz_pretrained_finds_simulated_particles():
    ctf = calc.CtfParameters(20000.0, 19500.0, 30.0, bfactor_a2=40.0)
    settings = particles.ParticleSettings(count=36, diameter_a=200.0)
    image, field = calc.make_particle_micrograph((2048, 2880), 1.0, ctf, settings, seed=0,
                                                 dose=40.0)
    picks, factor = Topaz().pick(image, 1.0, 200.0, threshold=-1.0, device="cpu")
    assert factor == 8
    xy = np.array([[p.x, p.y] for p in picks]).reshape(-1, 2)
    truth = np.array([[p.x, p.y] for p in field.particles])
    match = score_picks(xy, truth, 50.0)
    assert match.precision >= 0.8, match
    assert match.recall >= 0.8, match
