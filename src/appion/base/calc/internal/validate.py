"""Checks of numbers read from files and of results made from them: finite, varying, plausible.

Garbage in an input (a gain reference full of NaN, a movie with one Inf pixel, a
micrograph that is all zero) travels silently through FFTs and sums and comes out
as a NaN or constant image, or as a CTF "fit" at the edge of the search.  These
checks stop it where it is read and where results are made, with an
:class:`~appion.base.errors.InputFileError` (one line, not retried): the same file
gives the same garbage however often it is tried.

Pure functions on NumPy arrays and numbers; no I/O.  The full checks cost two
reductions (``min`` and ``max``, which propagate NaN); :func:`sample_is_finite`
looks at a sample of rows only, cheap enough for every decoded frame.
"""

from __future__ import annotations

import math

import numpy as np

from appion.base.errors import InputFileError

#: :func:`sample_is_finite` looks at every SAMPLE_ROWS-th row of a frame (whole rows,
#: contiguous in memory, so the sample costs little more than its own size).
SAMPLE_ROWS = 32


def value_range(array: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of an array; NaN in either when the array holds a NaN."""
    if array.size == 0:
        return math.nan, math.nan
    return float(np.min(array)), float(np.max(array))


def count_non_finite(array: np.ndarray) -> int:
    """How many elements are NaN or ±Inf (a full pass; for messages, not for the hot path)."""
    if not np.issubdtype(array.dtype, np.inexact):
        return 0
    return int(array.size - np.count_nonzero(np.isfinite(array)))


def sample_is_finite(array: np.ndarray, rows: int = SAMPLE_ROWS) -> bool:
    """Whether every ``rows``-th row of ``array`` is free of NaN and Inf (integers always are).

    A whole bad frame, or a band of at least ``rows`` rows, is always seen; a lone bad
    pixel may not be, so the sum of the frames must be checked in full once
    (:func:`check_image`).  A sum that overflows also reads as not finite here: the
    caller confirms with :func:`count_non_finite` before refusing.
    """
    if not np.issubdtype(array.dtype, np.inexact):
        return True
    sample = array[::rows] if array.ndim > 1 else array[::rows * 64]
    if sample.dtype.itemsize >= 4:
        return bool(np.isfinite(sample.sum()))
    return bool(np.isfinite(sample).all())  # half floats: no slow conversion to sum them


def non_finite_error(what: str, array: np.ndarray, hint: str) -> InputFileError:
    """``<what>: N of its M values are NaN or infinite; <hint>``."""
    count = count_non_finite(array)
    values = (f"{count} of its {array.size} values are" if count > 1
              else f"{count} value is")
    return InputFileError(f"{what}: {values} NaN or infinite; {hint}")


def check_finite(array: np.ndarray, what: str, hint: str = "check the file") -> None:
    """Raise when any element of ``array`` is NaN or ±Inf."""
    low, high = value_range(array)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise non_finite_error(what, array, hint)


def check_image(array: np.ndarray, what: str, hint: str = "check the file") -> None:
    """Raise when ``array`` holds NaN or ±Inf, or is one constant value (no image at all)."""
    low, high = value_range(array)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise non_finite_error(what, array, hint)
    if low == high:
        raise InputFileError(f"{what} is constant ({low:g} everywhere): it holds no image; "
                             f"{hint}")


def check_positive_mean(array: np.ndarray, what: str, hint: str = "check the file") -> None:
    """Raise unless ``array`` is finite and its mean is positive (a gain multiplies counts)."""
    check_finite(array, what, hint)
    mean = float(np.mean(array, dtype=np.float64)) if array.size else 0.0
    if not mean > 0.0:
        raise InputFileError(f"{what} has mean {mean:g}, not a positive gain; {hint}")


def check_number(value: float, what: str, hint: str) -> None:
    """Raise when a single result number is NaN or ±Inf."""
    if not math.isfinite(float(value)):
        raise InputFileError(f"{what} is {value}; {hint}")


def check_in_range(value: float, low: float, high: float, what: str, hint: str,
                   tolerance: float = 0.0) -> None:
    """Raise when ``value`` is not finite or lies outside [low − tolerance, high + tolerance]."""
    check_number(value, what, hint)
    if not low - tolerance <= float(value) <= high + tolerance:
        raise InputFileError(f"{what} {value:g} is outside the search range {low:g}–{high:g}; "
                             f"{hint}")
