"""Gain-reference orientation with MotionCor2/3's ``-RotGain`` / ``-FlipGain`` semantics.

The norm (gain) reference Leginon stores is in Leginon's image orientation; the
frames on disk are in the camera's raw orientation.  MotionCor3's open source
(``MrcUtil/CLoadRefs.cpp``, ``PostProcess``) rotates the gain first, then flips it:

* rotation (``G90Rotate2D``, angle = 90° × RotGain): output pixel at centred
  coordinates (X', Y') (X = column, Y = row = MRC line, row 0 first in the file)
  reads the input at X = X'·cos + Y'·sin, Y = −X'·sin + Y'·cos.  For RotGain 1 that
  is ``out[Y', X'] = in[−X', Y']``, which is ``np.rot90(a, k=-1)`` (clockwise with
  row 0 drawn on top; counter-clockwise drawn MRC-style with y up, as MotionCor2's
  help says);
* flip (``GFlip2D``): FlipGain 1 = vertical (rows reversed), 2 = horizontal
  (columns reversed).

Classic Appion's ``organizeAlignedSum`` undoes exactly this on the aligned sum
(flip, then ``np.rot90(+RotGain)``), which :func:`frame_to_gain_orientation` is.
The simulator writes frames with these functions, so both sides share them.
"""

from __future__ import annotations

import numpy as np


def _flip(image: np.ndarray, flip_gain: int) -> np.ndarray:
    if flip_gain == 0:
        return image
    if flip_gain == 1:
        return image[::-1, :]
    if flip_gain == 2:
        return image[:, ::-1]
    raise ValueError(f"FlipGain must be 0, 1 or 2, not {flip_gain}")


def gain_to_frame_orientation(image: np.ndarray, rot_gain: int, flip_gain: int) -> np.ndarray:
    """Orient a Leginon-oriented image (the gain) like the raw frames: rotate, then flip."""
    return _flip(np.rot90(image, k=-(rot_gain % 4)), flip_gain)


def frame_to_gain_orientation(image: np.ndarray, rot_gain: int, flip_gain: int) -> np.ndarray:
    """The inverse of :func:`gain_to_frame_orientation` (raw frames -> Leginon orientation)."""
    return np.rot90(_flip(image, flip_gain), k=rot_gain % 4)
