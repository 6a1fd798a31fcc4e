"""Particle picking: seconds per K3-size micrograph and precision/recall per engine.

    .venv/bin/python benchmarks/picking.py [--accuracy-micrographs N] [--no-topaz]

Prints one JSON object.  Timing: one 5760x4092 micrograph at the K3's 0.826 Å/px,
200 Å particles (DoG at --bin 4); the MRC read is not counted.  Accuracy: simulated
2880x2048 micrographs at 1 Å/px with 36 particles each (pairs, edge and carbon cases),
a pick matching a true centre within 0.25 diameter, one to one; recall counts the
particles whose centres lie at least a radius inside the image.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from appion.base.errors import EngineConfigError
from appion.particlepicking.calc.internal.dog import pick_dog
from appion.particlepicking.calc.internal.matching import Match, score_picks
from appion.particlepicking.contract import DogOptions
from appion.particlepicking.engines.topaz import Topaz
from appion.simulation import calc, particles

K3_SHAPE, K3_PIXEL_A = (4092, 5760), 0.826
SHAPE, PIXEL_A, DIAMETER_A = (2048, 2880), 1.0, 200.0


def _micrograph(shape, pixel, seed, count):
    ctf = calc.CtfParameters(20000.0 + 3000.0 * (seed % 3), 19500.0 + 3000.0 * (seed % 3),
                             30.0, bfactor_a2=40.0)
    settings = particles.ParticleSettings(count=count, diameter_a=DIAMETER_A)
    return calc.make_particle_micrograph(shape, pixel, ctf, settings, seed=seed, dose=40.0)


def _pickable(field, shape):
    ny, nx = shape
    return np.array([[p.x, p.y] for p in field.particles
                     if min(p.x, p.y, nx - 1 - p.x, ny - 1 - p.y)
                     >= p.diameter_a / field.pixel_size_a / 2])


def _engines(use_topaz: bool):
    engines = {"dog": lambda image, pixel: pick_dog(
        image, pixel, DogOptions(diameter_a=DIAMETER_A, invert=True, threshold=0.35)).picks}
    status = "not run (--no-topaz)"
    if use_topaz:
        try:
            Topaz().find_program()
            engines["topaz"] = lambda image, pixel: Topaz().pick(
                image, pixel, DIAMETER_A, threshold=-1.0, device="cpu")[0]
            status = f"installed ({Topaz().version()})"
        except EngineConfigError as error:
            status = str(error)
    return engines, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy-micrographs", type=int, default=3)
    parser.add_argument("--no-topaz", action="store_true")
    args = parser.parse_args()
    engines, topaz_status = _engines(not args.no_topaz)
    k3, _ = _micrograph(K3_SHAPE, K3_PIXEL_A, 100, 150)
    report: dict = {"k3_shape": list(K3_SHAPE[::-1]), "k3_pixel_a": K3_PIXEL_A,
                    "diameter_a": DIAMETER_A, "topaz": topaz_status, "seconds_per_k3": {},
                    "accuracy": {}}
    for name, run in engines.items():
        run(k3, K3_PIXEL_A)                     # warm up (model load, FFT plans)
        started = time.perf_counter()
        run(k3, K3_PIXEL_A)
        report["seconds_per_k3"][name] = round(time.perf_counter() - started, 3)
    micrographs = [_micrograph(SHAPE, PIXEL_A, seed, 36)
                   for seed in range(args.accuracy_micrographs)]
    for name, run in engines.items():
        total = Match(0, 0, 0)
        for image, field in micrographs:
            picks = run(image, PIXEL_A)
            xy = np.array([[p.x, p.y] for p in picks]).reshape(-1, 2)
            match = score_picks(xy, _pickable(field, SHAPE), 0.25 * DIAMETER_A / PIXEL_A)
            total = Match(total.matched + match.matched, total.picks + match.picks,
                          total.truths + match.truths)
        report["accuracy"][name] = {"micrographs": len(micrographs), "picks": total.picks,
                                    "particles": total.truths,
                                    "precision": round(total.precision, 3),
                                    "recall": round(total.recall, 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
