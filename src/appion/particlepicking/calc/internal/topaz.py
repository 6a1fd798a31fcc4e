"""The pure arithmetic of Topaz picking: the downsampling and the extraction radius.

Topaz's pretrained detectors (ResNet16 and ResNet8, receptive field 71 pixels) were
trained on micrographs downsampled so that particles span a few dozen pixels (the
Topaz tutorials downsample EMPIAR-10025 8× to about 5 Å per pixel).  The
downsampling chosen here brings the particle diameter to about
:data:`TARGET_DIAMETER_PX` pixels, never finer than the micrograph and never past
:data:`MAX_DIAMETER_PX` (what a 71-pixel receptive field sees whole).
"""

from __future__ import annotations

import math

#: Particle diameter (downsampled pixels) the downsampling aims for.
TARGET_DIAMETER_PX = 24.0
#: The largest diameter (downsampled pixels) the pretrained models see whole.
MAX_DIAMETER_PX = 70.0
#: Topaz's non-maximum suppression radius, as a fraction of the particle radius.
EXTRACT_RADIUS_FRACTION = 0.75


def downsample_factor(pixel_size_a: float, diameter_a: float) -> int:
    """The whole-number downsampling that brings ``diameter_a`` to about
    :data:`TARGET_DIAMETER_PX` pixels (at least 1)."""
    diameter_px = diameter_a / pixel_size_a
    factor = max(1, int(round(diameter_px / TARGET_DIAMETER_PX)))
    while diameter_px / factor > MAX_DIAMETER_PX:
        factor += 1
    return factor


def extract_radius_px(pixel_size_a: float, diameter_a: float, factor: int) -> int:
    """Topaz's extraction (non-maximum suppression) radius in downsampled pixels."""
    radius_px = diameter_a / pixel_size_a / factor / 2.0
    return max(1, int(math.floor(EXTRACT_RADIUS_FRACTION * radius_px)))


def downsampled_shape(shape: tuple[int, int], factor: int) -> tuple[int, int]:
    """Topaz's ``downsample`` shape: each side divided by ``factor``, rounded down."""
    return (max(1, int(shape[0] / factor)), max(1, int(shape[1] / factor)))


def to_micrograph_px(downsampled_px: float, full_length: int, downsampled_length: int
                     ) -> float:
    """A downsampled coordinate in pixels of the micrograph as stored.

    Fourier downsampling keeps the origin and samples every ``full / downsampled``
    pixels: pixel ``i`` is at ``i × full / downsampled``.
    """
    return float(downsampled_px) * full_length / downsampled_length


__all__ = ["downsample_factor", "downsampled_shape", "extract_radius_px", "to_micrograph_px"]
