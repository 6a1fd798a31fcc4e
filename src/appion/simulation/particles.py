"""Particles in the simulated specimen: positions, shapes, a carbon region, and their truth.

Pure maths, like :mod:`appion.simulation.calc`: no file, no database; every draw
takes an explicit :class:`numpy.random.Generator`.

A particle is a roughly globular blob of protein: a core sphere and a few smaller
lobes around it, so that its projection is lumpy and not quite round, ``diameter_a``
across.  Its projected thickness (Å) times :data:`PHASE_PER_A` adds to the
specimen's phase, which the CTF then turns into weak, mostly negative (dark)
contrast, as in a real underfocused micrograph.  A carbon region (the film beyond a
hole's edge) adds a step of phase and its own texture: particles on it are harder to
pick.  Coordinates are pixels of the frame (``x`` column, ``y`` row) before any
motion; :func:`frame_point_to_leginon` turns them into the Leginon orientation of the
stored sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Phase (in units of the specimen texture's σ) per Å of particle thickness.
PHASE_PER_A = 0.03
#: The carbon film's thickness step over the ice and the σ of its own texture (Å of
#: particle-equivalent thickness).
CARBON_STEP_A = 60.0
CARBON_TEXTURE_A = 25.0
#: Gaussian softening (Å) of particle and carbon edges.
EDGE_SOFTENING_A = 3.0


@dataclass(frozen=True)
class ParticleSettings:
    """What particles a simulated exposure gets.

    ``count`` particles of about ``diameter_a`` (each varies by ±``diameter_spread``),
    a fraction of them in touching or overlapping pairs, a fraction with their
    centres nearer than a radius to an edge; with ``carbon`` a film covers about
    ``carbon_fraction`` of the image (its particles are marked ``on_carbon``).
    ``phase_per_a`` sets the contrast (specimen-texture σ per Å of thickness).
    """

    count: int = 40
    diameter_a: float = 200.0
    diameter_spread: float = 0.08
    pair_fraction: float = 0.1
    edge_fraction: float = 0.06
    carbon: bool = True
    carbon_fraction: float = 0.15
    phase_per_a: float = PHASE_PER_A

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must be >= 0")
        if self.diameter_a <= 0:
            raise ValueError("diameter_a must be positive")
        if not 0.0 <= self.carbon_fraction < 0.5:
            raise ValueError("carbon_fraction must be in [0, 0.5)")

    def as_truth(self) -> dict:
        return {"count": self.count, "diameter_a": self.diameter_a,
                "diameter_spread": self.diameter_spread, "pair_fraction": self.pair_fraction,
                "edge_fraction": self.edge_fraction, "carbon": self.carbon,
                "carbon_fraction": self.carbon_fraction, "phase_per_a": self.phase_per_a}


@dataclass(frozen=True)
class Lobe:
    """A sphere of a particle: offset from its centre (Å, projected) and radius (Å)."""

    dx_a: float
    dy_a: float
    radius_a: float


@dataclass(frozen=True)
class Particle:
    """One particle: centre (frame pixels), diameter (Å), its lobes and its situation."""

    x: float
    y: float
    diameter_a: float
    lobes: tuple[Lobe, ...]
    on_carbon: bool = False
    near_edge: bool = False
    overlapping: bool = False

    def as_truth(self) -> dict:
        return {"x": round(self.x, 3), "y": round(self.y, 3),
                "diameter_a": round(self.diameter_a, 3), "on_carbon": self.on_carbon,
                "near_edge": self.near_edge, "overlapping": self.overlapping}


@dataclass(frozen=True)
class CarbonEdge:
    """The film outside a circular hole: carbon where ``|p − centre| > radius`` (pixels)."""

    centre_x: float
    centre_y: float
    radius_px: float

    def covers(self, x, y) -> np.ndarray:
        return np.hypot(np.asarray(x) - self.centre_x, np.asarray(y) - self.centre_y) \
            > self.radius_px

    def as_truth(self) -> dict:
        return {"hole_centre_x": round(self.centre_x, 3),
                "hole_centre_y": round(self.centre_y, 3),
                "hole_radius_px": round(self.radius_px, 3),
                "rule": "carbon where hypot(x - hole_centre_x, y - hole_centre_y) > "
                        "hole_radius_px"}


@dataclass(frozen=True)
class ParticleField:
    """The particles of one exposure and its carbon film (``None``: all hole)."""

    particles: tuple[Particle, ...]
    carbon: CarbonEdge | None
    pixel_size_a: float


# --------------------------------------------------------------------------- layout

def random_carbon(shape: tuple[int, int], rng: np.random.Generator, fraction: float
                  ) -> CarbonEdge | None:
    """A hole edge crossing one corner so that the film covers about ``fraction``."""
    if fraction <= 0:
        return None
    ny, nx = shape
    corner_x, corner_y = (nx, 0.0) if rng.uniform() < 0.5 else (0.0, ny)
    if rng.uniform() < 0.5:
        corner_x, corner_y = nx - corner_x, ny - corner_y
    radius = 3.0 * math.hypot(nx, ny)
    # the hole's centre lies beyond the opposite corner, so the edge is a gentle arc
    direction = np.array([nx / 2.0 - corner_x, ny / 2.0 - corner_y])
    direction /= np.linalg.norm(direction)
    grid_y, grid_x = np.mgrid[0:ny:16, 0:nx:16]

    def covered(depth: float) -> float:
        centre = np.array([corner_x, corner_y]) + direction * (radius + depth)
        return float((np.hypot(grid_x - centre[0], grid_y - centre[1]) > radius).mean())

    low, high = 0.0, math.hypot(nx, ny)
    for _ in range(40):
        middle = 0.5 * (low + high)
        if covered(middle) > fraction:
            high = middle
        else:
            low = middle
    centre = np.array([corner_x, corner_y]) + direction * (radius + 0.5 * (low + high))
    return CarbonEdge(float(centre[0]), float(centre[1]), radius)


def random_lobes(diameter_a: float, rng: np.random.Generator) -> tuple[Lobe, ...]:
    """A core and 3–6 lobes whose union spans about ``diameter_a``."""
    radius = diameter_a / 2.0
    lobes = [Lobe(0.0, 0.0, radius * rng.uniform(0.62, 0.72))]
    for _ in range(int(rng.integers(3, 7))):
        lobe_radius = radius * rng.uniform(0.3, 0.45)
        reach = radius - lobe_radius
        angle = rng.uniform(0.0, 2.0 * math.pi)
        distance = reach * rng.uniform(0.7, 1.0)
        lobes.append(Lobe(distance * math.cos(angle), distance * math.sin(angle),
                          lobe_radius))
    return tuple(lobes)


def _too_close(x: float, y: float, placed: list[tuple[float, float, float]],
               diameter_px: float, factor: float) -> bool:
    return any(math.hypot(x - px, y - py) < factor * 0.5 * (diameter_px + pd)
               for px, py, pd in placed)


def random_particles(shape: tuple[int, int], pixel_size_a: float, rng: np.random.Generator,
                     settings: ParticleSettings, carbon: CarbonEdge | None = None
                     ) -> tuple[Particle, ...]:
    """``settings.count`` particles: isolated ones at least a diameter apart, touching or
    overlapping pairs (0.7–1.0 diameter apart) and some near the edges."""
    ny, nx = shape
    placed: list[tuple[float, float, float]] = []   # x, y, diameter (px)
    kinds: list[str] = []
    pairs = int(round(settings.count * settings.pair_fraction / 2.0))
    edges = int(round(settings.count * settings.edge_fraction))
    singles = settings.count - 2 * pairs - edges

    def diameter() -> float:
        spread = settings.diameter_spread
        return settings.diameter_a * rng.uniform(1.0 - spread, 1.0 + spread)

    def place(kind: str, attempts: int = 200) -> None:
        for _ in range(attempts):
            d_a = diameter()
            d_px = d_a / pixel_size_a
            margin = d_px / 2.0
            if kind == "edge":
                depth = rng.uniform(0.1, 0.45) * d_px
                side = int(rng.integers(4))
                along = rng.uniform(margin, (nx if side < 2 else ny) - margin)
                x, y = ((depth if side == 0 else nx - 1 - depth, along) if side < 2 else
                        (along, depth if side == 2 else ny - 1 - depth))
            else:
                x = rng.uniform(margin, nx - margin)
                y = rng.uniform(margin, ny - margin)
            if _too_close(x, y, placed, d_px, 1.1):
                continue
            if kind == "pair":
                angle = rng.uniform(0.0, 2.0 * math.pi)
                d2_a = diameter()
                gap = rng.uniform(0.7, 1.0) * 0.5 * (d_px + d2_a / pixel_size_a)
                x2, y2 = x + gap * math.cos(angle), y + gap * math.sin(angle)
                if not (margin <= x2 < nx - margin and margin <= y2 < ny - margin):
                    continue
                if _too_close(x2, y2, placed, d2_a / pixel_size_a, 1.1):
                    continue
                placed.extend([(x, y, d_px), (x2, y2, d2_a / pixel_size_a)])
                kinds.extend(["pair", "pair"])
                sizes.extend([d_a, d2_a])
                return
            placed.append((x, y, d_px))
            kinds.append(kind)
            sizes.append(d_a)
            return

    sizes: list[float] = []
    for _ in range(pairs):
        place("pair")
    for _ in range(edges):
        place("edge")
    for _ in range(max(singles, 0)):
        place("single")
    particles = []
    for (x, y, d_px), kind, d_a in zip(placed, kinds, sizes):
        edge_distance = min(x, y, nx - 1 - x, ny - 1 - y)
        on_carbon = bool(carbon is not None and carbon.covers(x, y))
        particles.append(Particle(float(x), float(y), float(d_a), random_lobes(d_a, rng),
                                  on_carbon=on_carbon,
                                  near_edge=bool(edge_distance < d_px / 2.0),
                                  overlapping=kind == "pair"))
    return tuple(particles)


def random_field(shape: tuple[int, int], pixel_size_a: float, rng: np.random.Generator,
                 settings: ParticleSettings) -> ParticleField:
    """The particles and carbon film of one exposure."""
    carbon = random_carbon(shape, rng, settings.carbon_fraction) if settings.carbon else None
    return ParticleField(random_particles(shape, pixel_size_a, rng, settings, carbon),
                         carbon, pixel_size_a)


# --------------------------------------------------------------------------- rendering

def _add_sphere_projection(out: np.ndarray, x: float, y: float, radius_px: float) -> None:
    """Add the projected thickness (pixels) of a sphere at ``(x, y)`` to ``out``."""
    ny, nx = out.shape
    x0, x1 = max(0, int(math.floor(x - radius_px))), min(nx, int(math.ceil(x + radius_px)) + 1)
    y0, y1 = max(0, int(math.floor(y - radius_px))), min(ny, int(math.ceil(y + radius_px)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    dy2 = (np.arange(y0, y1, dtype=np.float32) - np.float32(y)) ** 2
    dx2 = (np.arange(x0, x1, dtype=np.float32) - np.float32(x)) ** 2
    chord2 = np.float32(radius_px * radius_px) - dy2[:, None] - dx2[None, :]
    np.maximum(chord2, 0.0, out=chord2)
    out[y0:y1, x0:x1] += 2.0 * np.sqrt(chord2)


def thickness_map(shape: tuple[int, int], particles: tuple[Particle, ...],
                  pixel_size_a: float, offset_px: tuple[float, float] = (0.0, 0.0)
                  ) -> np.ndarray:
    """Projected particle thickness (Å) on a ``shape`` canvas, float32.

    A particle at frame pixel ``(x, y)`` is drawn at ``(x + offset_x, y + offset_y)``
    (the canvas margin).  Lobes of one particle do not double count: the particle's
    thickness is the largest of its lobes' at each pixel, so its outline is their union.
    """
    out = np.zeros(shape, dtype=np.float32)
    for particle in particles:
        cx, cy = particle.x + offset_px[0], particle.y + offset_px[1]
        reach = particle.diameter_a / pixel_size_a / 2.0 + 2.0
        x0, x1 = max(0, int(cx - reach)), min(shape[1], int(cx + reach) + 2)
        y0, y1 = max(0, int(cy - reach)), min(shape[0], int(cy + reach) + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        box = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        lobe_box = np.empty_like(box)
        for lobe in particle.lobes:
            lobe_box.fill(0.0)
            _add_sphere_projection(lobe_box, cx + lobe.dx_a / pixel_size_a - x0,
                                   cy + lobe.dy_a / pixel_size_a - y0,
                                   lobe.radius_a / pixel_size_a)
            np.maximum(box, lobe_box, out=box)
        out[y0:y1, x0:x1] += box * np.float32(pixel_size_a)
    return out


def carbon_map(shape: tuple[int, int], carbon: CarbonEdge | None, pixel_size_a: float,
               rng: np.random.Generator, offset_px: tuple[float, float] = (0.0, 0.0)
               ) -> np.ndarray:
    """The film's thickness (Å): a softened step plus its own smooth texture."""
    out = np.zeros(shape, dtype=np.float32)
    if carbon is None:
        return out
    ny, nx = shape
    y = np.arange(ny, dtype=np.float32)[:, None] - np.float32(offset_px[1] + carbon.centre_y)
    x = np.arange(nx, dtype=np.float32)[None, :] - np.float32(offset_px[0] + carbon.centre_x)
    outside = np.sqrt(x * x + y * y) - np.float32(carbon.radius_px)
    soft = max(EDGE_SOFTENING_A / pixel_size_a, 0.5)
    step = 0.5 * (1.0 + np.tanh(outside / np.float32(soft)))
    texture = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32),
                                      sigma=max(8.0 / pixel_size_a, 1.0), mode="wrap")
    texture *= np.float32(CARBON_TEXTURE_A / max(float(texture.std()), 1e-12))
    out += step * (np.float32(CARBON_STEP_A) + texture)
    return out


def phase_map(shape: tuple[int, int], field: ParticleField, settings: ParticleSettings,
              rng: np.random.Generator, offset_px: tuple[float, float] = (0.0, 0.0)
              ) -> np.ndarray:
    """The particles' and the film's phase, in units of the specimen texture's σ."""
    pixel = field.pixel_size_a
    thickness = thickness_map(shape, field.particles, pixel, offset_px)
    soft = EDGE_SOFTENING_A / pixel
    if soft >= 0.5:
        thickness = ndimage.gaussian_filter(thickness, sigma=soft, mode="wrap")
    thickness += carbon_map(shape, field.carbon, pixel, rng, offset_px)
    thickness *= np.float32(settings.phase_per_a)
    return thickness


# --------------------------------------------------------------------------- orientation

def frame_point_to_leginon(x: float, y: float, frame_shape: tuple[int, int], rotate: int,
                           flip: int) -> tuple[float, float]:
    """A frame pixel ``(x, y)`` in the Leginon orientation of the sums
    (``frame_to_gain_orientation``: flip, then ``np.rot90(k=rotate)``)."""
    ny, nx = frame_shape
    if flip == 1:
        y = ny - 1 - y
    elif flip == 2:
        x = nx - 1 - x
    for _ in range(rotate % 4):
        # np.rot90 (k=1): out[i, j] = in[j, nx - 1 - i]; out has shape (nx, ny)
        x, y = y, nx - 1 - x
        ny, nx = nx, ny
    return x, y


def particles_truth(field: ParticleField, settings: ParticleSettings,
                    frame_shape: tuple[int, int], rotate: int, flip: int) -> dict:
    """The truth JSON's ``particles`` section, in the Leginon orientation of the sums."""
    listed = []
    for particle in field.particles:
        x, y = frame_point_to_leginon(particle.x, particle.y, frame_shape, rotate, flip)
        listed.append({**particle.as_truth(), "x": round(x, 3), "y": round(y, 3)})
    carbon = None
    if field.carbon is not None:
        cx, cy = frame_point_to_leginon(field.carbon.centre_x, field.carbon.centre_y,
                                        frame_shape, rotate, flip)
        carbon = {**field.carbon.as_truth(), "hole_centre_x": round(cx, 3),
                  "hole_centre_y": round(cy, 3)}
    return {
        "coordinates": "pixels of the stored (unbinned) sum in Leginon orientation, x the "
                       "column and y the row, where the specimen sits in frame 0: a sum "
                       "aligned to frame 0 shows each particle there (one aligned to frame "
                       "f, moved by that frame's shift)",
        "count": len(listed), "settings": settings.as_truth(), "carbon": carbon,
        "list": listed,
    }


__all__ = ["CarbonEdge", "Lobe", "Particle", "ParticleField", "ParticleSettings",
           "carbon_map", "frame_point_to_leginon", "particles_truth", "phase_map",
           "random_carbon", "random_field", "random_lobes", "random_particles",
           "thickness_map"]
