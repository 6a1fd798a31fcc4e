"""The contrast transfer function, in CTFFIND's conventions (the one formula of the project).

Conventions (CTFFIND 4/5):

* defocus is positive for underfocus, in Å;
* ``defocus_1_a`` is the defocus along the azimuth ``azimuth_deg``, measured from
  the image x axis (array axis 1) towards the y axis (array axis 0);
  ``defocus_2_a`` is the defocus perpendicular to it;
* ``chi(s) = π λ Δf(θ) s² − π/2 Cs λ³ s⁴ + phase_shift + atan(ac / sqrt(1 − ac²))``
  (the last term is arcsin(ac)) and ``CTF = −sin(chi)``, so the power spectrum goes
  as ``sin²(chi)``;
* λ is CTFFIND's relativistic wavelength (:data:`WAVELENGTH_CONSTANT`), Cs is
  converted from mm to Å.

The built-in estimator fits this :func:`chi`, and the simulator
(``appion.simulation.calc.ctf_values``) draws its truth with these same functions
(adding only a B-factor envelope), so truth and fit cannot drift apart.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np

#: CTFFIND's ``h / sqrt(2 m₀ e)`` in Å·V^½ (``ReturnWavelenthInAngstroms``); the
#: CODATA value is 12.26426.  Using CTFFIND's keeps the defoci of both engines on
#: one scale: the 3·10⁻⁵ difference is 0.4 Å at 1.5 µm.
WAVELENGTH_CONSTANT = 12.2639
#: ``e / (2 m₀ c²)`` in 1/V, the relativistic correction.
RELATIVISTIC_CORRECTION = 0.97845e-6
#: Å per mm (Cs is given in mm, used in Å).
ANGSTROM_PER_MM = 1e7


def electron_wavelength_a(kv: float) -> float:
    """Relativistic electron wavelength in Å for an acceleration voltage in kV (as CTFFIND)."""
    volts = kv * 1e3
    return WAVELENGTH_CONSTANT / math.sqrt(volts + RELATIVISTIC_CORRECTION * volts * volts)


def amplitude_contrast_phase(amplitude_contrast: float) -> float:
    """The phase (rad) that amplitude contrast adds to chi: ``atan(ac / sqrt(1 − ac²))``."""
    if not 0.0 <= amplitude_contrast < 1.0:
        raise ValueError(f"amplitude contrast must be in [0, 1), not {amplitude_contrast}")
    return math.atan2(amplitude_contrast, math.sqrt(1.0 - amplitude_contrast ** 2))


@overload
def defocus_phase_per_angstrom(s2: np.ndarray, kv: float) -> np.ndarray: ...
@overload
def defocus_phase_per_angstrom(s2: float, kv: float) -> float: ...
def defocus_phase_per_angstrom(s2: np.ndarray | float, kv: float) -> np.ndarray | float:
    """``π λ s²``: the phase (rad) each Å of defocus adds at squared frequency ``s2`` (1/Å²)."""
    return math.pi * electron_wavelength_a(kv) * s2


@overload
def spherical_aberration_phase(s2: np.ndarray, kv: float, cs_mm: float) -> np.ndarray: ...
@overload
def spherical_aberration_phase(s2: float, kv: float, cs_mm: float) -> float: ...
def spherical_aberration_phase(s2: np.ndarray | float, kv: float, cs_mm: float
                               ) -> np.ndarray | float:
    """``−π/2 · Cs · λ³ · s⁴`` (rad), with Cs converted from mm to Å."""
    wavelength = electron_wavelength_a(kv)
    return -0.5 * math.pi * cs_mm * ANGSTROM_PER_MM * wavelength ** 3 * s2 * s2


def frequency_grid(shape: tuple[int, int], pixel_size_a: float, *, half: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequencies (1/Å) ``(ky, kx)`` of an FFT of ``shape``, unshifted (FFT layout).

    ``half=True`` gives the ``rfft2`` half plane.
    """
    ny, nx = shape
    ky = np.fft.fftfreq(ny, d=pixel_size_a)[:, None]
    kx = (np.fft.rfftfreq(nx, d=pixel_size_a) if half
          else np.fft.fftfreq(nx, d=pixel_size_a))[None, :]
    return ky, kx


def defocus_at_angle(defocus_1_a: float, defocus_2_a: float, azimuth_deg: float,
                     angle_rad: np.ndarray) -> np.ndarray:
    """Defocus (Å) along the direction ``angle_rad`` (from the x axis)."""
    azimuth = math.radians(azimuth_deg)
    mean = 0.5 * (defocus_1_a + defocus_2_a)
    half_difference = 0.5 * (defocus_1_a - defocus_2_a)
    return mean + half_difference * np.cos(2.0 * (angle_rad - azimuth))


def chi(s2: np.ndarray, defocus_a: np.ndarray | float, kv: float, cs_mm: float,
        amplitude_contrast: float, phase_shift_rad: float = 0.0) -> np.ndarray:
    """CTF phase chi for squared spatial frequencies ``s2`` (1/Å²) and defocus (Å)."""
    return (defocus_phase_per_angstrom(s2, kv) * defocus_a
            + spherical_aberration_phase(s2, kv, cs_mm)
            + phase_shift_rad + amplitude_contrast_phase(amplitude_contrast))


def ctf_2d(shape: tuple[int, int], pixel_size_a: float, defocus_1_a: float,
           defocus_2_a: float, azimuth_deg: float, kv: float, cs_mm: float,
           amplitude_contrast: float, phase_shift_rad: float = 0.0, *,
           half: bool = False) -> np.ndarray:
    """The CTF ``−sin(chi)`` on the FFT grid of an image of ``shape`` (unshifted layout).

    Multiply ``np.fft.fft2(image)`` by it (or ``rfft2`` with ``half=True``) to
    apply the microscope's transfer function.
    """
    ky, kx = frequency_grid(shape, pixel_size_a, half=half)
    s2 = ky * ky + kx * kx
    angle = np.arctan2(ky, kx)
    defocus = defocus_at_angle(defocus_1_a, defocus_2_a, azimuth_deg, angle)
    return -np.sin(chi(s2, defocus, kv, cs_mm, amplitude_contrast, phase_shift_rad))


def ctf_filtered_noise(shape: tuple[int, int], pixel_size_a: float, defocus_1_a: float,
                       defocus_2_a: float, azimuth_deg: float, *, kv: float = 300.0,
                       cs_mm: float = 2.7, amplitude_contrast: float = 0.07,
                       phase_shift_rad: float = 0.0, bfactor_a2: float = 80.0,
                       signal_to_noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """A test micrograph: white noise through the CTF and a B-factor envelope, plus noise.

    ``signal_to_noise`` is the ratio of the CTF-modulated signal's variance to the
    added white noise's (low values make a hard, low-contrast image).
    """
    rng = np.random.default_rng(seed)
    ky, kx = frequency_grid(shape, pixel_size_a, half=True)
    s2 = ky * ky + kx * kx
    envelope = np.exp(-0.25 * bfactor_a2 * s2)
    transfer = ctf_2d(shape, pixel_size_a, defocus_1_a, defocus_2_a, azimuth_deg, kv, cs_mm,
                      amplitude_contrast, phase_shift_rad, half=True)
    signal = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * transfer * envelope,
                           s=shape)
    signal *= math.sqrt(signal_to_noise) / max(float(signal.std()), 1e-12)
    noise = rng.standard_normal(shape)
    return (signal + noise).astype(np.float32)
