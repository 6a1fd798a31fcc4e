"""Gain, dark and defect correction of raw frames (MotionCor2's -Gain/-Dark/-DefectMap).

The gain and dark references arrive in Leginon's orientation and are turned into
the frames' orientation with :mod:`orientation` (``-RotGain``/``-FlipGain``); the
defect map is already in the frames' orientation, as classic Appion writes it.
Defective and hot pixels are replaced by the mean of their good neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from appion.base.calc.internal import validate
from appion.base.errors import InputFileError
from appion.motioncorrection.calc.internal.orientation import gain_to_frame_orientation

#: A pixel of the frame sum above mean + HOT_PIXEL_SIGMAS × std is hot (MotionCor2: 6).
HOT_PIXEL_SIGMAS = 6.0


@dataclass(frozen=True)
class DefectReplacement:
    """Where defective pixels are and which good neighbours (with weights) replace them."""

    pixels: np.ndarray  # flat indices of defective pixels, int64 (D,)
    neighbours: np.ndarray  # flat indices of candidate neighbours, int64 (D, K)
    weights: np.ndarray  # float32 (D, K), each row sums to 1 (or 0: use the frame mean)

    @property
    def count(self) -> int:
        return int(self.pixels.size)


@dataclass(frozen=True)
class FrameCorrection:
    """Everything applied to a raw frame before alignment, in the frames' orientation."""

    gain: np.ndarray | None = None  # multiplied
    dark: np.ndarray | None = None  # subtracted first
    defects: DefectReplacement | None = None


def _dims(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]}"


def orient_reference(image: np.ndarray, frame_shape: tuple[int, int], *, rot_gain: int,
                     flip_gain: int, what: str, path: str) -> np.ndarray:
    """Orient a Leginon-oriented reference like the frames and check its size.

    A reference exactly 2× or 4× smaller than the frames (EER rendered at sampling
    2 or 3 with a 4K gain) is expanded by pixel replication.
    """
    oriented = gain_to_frame_orientation(image, rot_gain, flip_gain)
    if oriented.shape != tuple(frame_shape):
        factor = frame_shape[0] // max(1, oriented.shape[0])
        if (factor in (2, 4) and oriented.shape[0] * factor == frame_shape[0]
                and oriented.shape[1] * factor == frame_shape[1]):
            oriented = np.repeat(np.repeat(oriented, factor, axis=0), factor, axis=1)
        else:
            raise InputFileError(
                f"{what} {path} is {_dims(image.shape)} but the frames are "
                f"{_dims(frame_shape)} (after RotGain {rot_gain}, FlipGain {flip_gain} it is "
                f"{_dims(oriented.shape)}); check --rot-gain/--flip-gain or the reference")
    return np.ascontiguousarray(oriented, dtype=np.float32)


REFERENCE_HINT = "it cannot correct frames; check the file or make the reference again"


def check_gain(image: np.ndarray, path: str) -> np.ndarray:
    """A gain reference read from ``path``, refused when not finite or not positive on average."""
    validate.check_positive_mean(image, f"gain reference {path}", REFERENCE_HINT)
    return image


def check_dark(image: np.ndarray, path: str) -> np.ndarray:
    """A dark reference read from ``path``, refused when it holds NaN or Inf."""
    validate.check_finite(image, f"dark reference {path}", REFERENCE_HINT)
    return image


def check_defect_map(image: np.ndarray, path: str) -> np.ndarray:
    """A defect map read from ``path``, refused when it holds NaN or Inf."""
    validate.check_finite(image, f"defect map {path}", REFERENCE_HINT)
    return image


def defect_mask_from_map(defect_map: np.ndarray, frame_shape: tuple[int, int], path: str
                         ) -> np.ndarray:
    """Boolean mask of defective pixels from a defect map (non-zero = defective)."""
    if defect_map.shape != tuple(frame_shape):
        raise InputFileError(f"defect map {path} is {_dims(defect_map.shape)} but the frames "
                             f"are {_dims(frame_shape)}; it must be in the frames' orientation")
    return defect_map != 0


class HotPixels(NamedTuple):
    mask: np.ndarray  # bool, True at hot pixels
    mean: float  # of all pixels (the first pass)
    std: float


def hot_pixels(frame_sum: np.ndarray, sigmas: float = HOT_PIXEL_SIGMAS) -> HotPixels:
    """Pixels of a (gain-corrected) frame sum far above the rest, like MotionCor2's detection.

    Two passes: the first threshold from all pixels, the second from the pixels
    below it, so that a few very hot pixels do not hide the moderately hot ones.
    Returned with the first pass's mean and standard deviation.
    """
    mean_all, std_all = mean, std = mean_std(frame_sum)
    mask = frame_sum > mean + sigmas * std
    if not mask.all():
        mean, std = mean_std(frame_sum, ~mask)
        mask = frame_sum > mean + sigmas * std
    return HotPixels(mask, mean_all, std_all)


def mean_std(image: np.ndarray, where: np.ndarray | None = None, block_rows: int = 256
             ) -> tuple[float, float]:
    """Mean and standard deviation (of the pixels ``where`` is True), in float64.

    Row blocks at a time, so that no full-size temporary is made.
    """
    count = total = squares = 0.0
    for start in range(0, image.shape[0], block_rows):
        block = image[start:start + block_rows].astype(np.float64)
        if where is not None:
            block = block[where[start:start + block_rows]]
        count += block.size
        total += float(block.sum())
        squares += float(np.dot(block.ravel(), block.ravel()))
    if not count:
        return 0.0, 0.0
    mean = total / count
    return mean, float(np.sqrt(max(squares / count - mean * mean, 0.0)))


def defect_replacement(mask: np.ndarray, radius: int = 2) -> DefectReplacement:
    """Precompute, for each defective pixel, its good neighbours within ``radius``."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
               if (dy, dx) != (0, 0)]
    neighbour_rows = rows[:, None] + np.array([o[0] for o in offsets])[None, :]
    neighbour_cols = cols[:, None] + np.array([o[1] for o in offsets])[None, :]
    inside = ((neighbour_rows >= 0) & (neighbour_rows < height)
              & (neighbour_cols >= 0) & (neighbour_cols < width))
    neighbour_rows = np.clip(neighbour_rows, 0, height - 1)
    neighbour_cols = np.clip(neighbour_cols, 0, width - 1)
    valid = inside & ~mask[neighbour_rows, neighbour_cols]
    counts = valid.sum(axis=1, keepdims=True)
    weights = np.where(counts > 0, valid / np.maximum(counts, 1), 0.0).astype(np.float32)
    return DefectReplacement(
        pixels=(rows * width + cols).astype(np.int64),
        neighbours=(neighbour_rows * width + neighbour_cols).astype(np.int64),
        weights=weights)


def replace_defects(frame: np.ndarray, defects: DefectReplacement) -> None:
    """Replace defective pixels of a float32 frame (or a view of one) in place."""
    if not defects.count:
        return
    width = frame.shape[1]
    neighbours = frame[np.divmod(defects.neighbours, width)]
    estimate = np.einsum("dk,dk->d", neighbours, defects.weights)
    isolated = defects.weights.sum(axis=1) == 0
    if isolated.any():
        estimate[isolated] = float(frame.mean())
    frame[np.divmod(defects.pixels, width)] = estimate


def correct_frame(raw: np.ndarray, correction: FrameCorrection,
                  out: np.ndarray | None = None) -> np.ndarray:
    """A float32 copy of a raw frame with dark, gain and defects corrected.

    ``out`` may be a view (e.g. the top-left of a padded buffer).
    """
    if out is None:
        out = np.empty(raw.shape, np.float32)
    if correction.dark is not None:
        np.subtract(raw, correction.dark, out=out, dtype=np.float32)
        if correction.gain is not None:
            np.multiply(out, correction.gain, out=out)
    elif correction.gain is not None:
        np.multiply(raw, correction.gain, out=out, dtype=np.float32)
    else:
        np.copyto(out, raw, casting="unsafe")
    if correction.defects is not None:
        replace_defects(out, correction.defects)
    return out
