"""Difference-of-Gaussians picking with classic ``dogPicker.py``'s semantics.

Classic Appion (``appionlib/apImage`` ``ImageFilter.processImage``, ``apDog`` and
``apPeaks``) picks one micrograph so:

1. **Filter**: bin by ``--bin`` (block means), median filter, clip pixels beyond
   ``--pixlimit`` σ of the mean, invert with ``--invert``, normalise to zero mean and
   unit σ.  (dogPicker ignores ``--lowpass``/``--highpass``: the DoG is the filter.)
2. **DoG map**: the radius ``r = diam / apix / bin / 2`` binned pixels sets
   ``σ1 = E(k)·r`` with ``E(k) = √((k² − 1) / (2 k² ln k))``; the map is
   ``G(σ1) − G(k σ1)`` (the second blur is ``σ' = σ1 √(k² − 1)`` on top of the first),
   normalised to zero mean and unit σ and divided by 4.  With ``--numslices N`` and
   ``--sizerange`` the k-factor is ``(dR + √(dR² + 1))^(2/N)`` with
   ``dR = range / (2 r)`` (both binned pixel radii), blurs ``σ_i = E(k) r k^(i − (N−1)/2)``
   … and map ``i`` (``G(σ_i) − G(σ_{i+1})``) is tuned to radius ``r k^(i − (N−1)/2)``.
3. **Peaks** (``findBlobs``): the pixels above ``--thresh`` (in the map's units: σ/4)
   form blobs; none when they cover more than 25 % of the map; blobs within 10 binned
   pixels of the border are cut off; a blob of ``maxsize · π d²`` pixels or more is
   dropped (classic's "area" is ``4 π r²``); a peak sits at the blob's centre of mass
   (``--peaktype centerofmass``, classic's default).
4. **Clean-up**: a peak with a stronger one nearer than ``--overlapmult`` × the
   (unbinned) radius goes, whether that one stays or not (``removeOverlappingPeaks``);
   peaks nearer than the exclusion to an edge go; the strongest ``--maxpeaks`` stay;
   peaks whose blob mean is at or above ``--maxthresh`` go.

Differences, on purpose: the median box counts binned pixels and runs after binning
(classic filters the unbinned image first; a 2-pixel median there is all but lost
in a 4× bin); the score is the blob's peak height (classic stores the blob's mean
as its "correlation", which ``--maxthresh`` still compares); coordinates map back to the
centre of the binned pixel's block, ``(i + ½)·bin − ½`` (classic: ``i·bin``); the
edge exclusion is the particle radius in unbinned pixels (classic compares the
binned radius with unbinned coordinates).  The Gaussian blurs are done in Fourier
space on a mirror-padded image, which matches ``ndimage.gaussian_filter(mode=
'reflect')`` to within rounding and costs two FFTs instead of two 200-tap
convolutions per map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage
from scipy.spatial import cKDTree

from appion.base.errors import UsageError
from appion.particlepicking.contract import DogOptions, Pick

#: Classic findBlobs: no peaks at all when the thresholded pixels cover more than this.
MAX_COVERAGE = 0.25
#: Classic findBlobs: blobs this close to the map's border (binned pixels) are cut off.
BLOB_BORDER_BINNED_PX = 10
#: Classic normalises each DoG map to unit σ and then divides it by this.
MAP_DIVISOR = 4.0
#: Gaussian tails kept by the mirror padding (σ of the widest blur).
_PAD_SIGMAS = 3.0
#: Threads per FFT.
_FFT_WORKERS = 1


@dataclass(frozen=True)
class DogMap:
    """One DoG map (binned pixels, classic units: σ/4) and the particle radius it finds."""

    values: np.ndarray
    radius_binned_px: float


@dataclass(frozen=True)
class Peaks:
    """Peaks in unbinned pixels: centres, heights and the radius of their map."""

    x_px: np.ndarray
    y_px: np.ndarray
    score: np.ndarray
    radius_px: np.ndarray
    mean: np.ndarray | None = None   # the blob's mean (classic "correlation")

    @classmethod
    def empty(cls) -> Peaks:
        nothing = np.zeros(0, dtype=np.float64)
        return cls(nothing, nothing, nothing, nothing, nothing)

    @property
    def blob_mean(self) -> np.ndarray:
        return self.score if self.mean is None else self.mean

    def __len__(self) -> int:
        return int(self.x_px.size)

    def take(self, which: np.ndarray) -> Peaks:
        return Peaks(self.x_px[which], self.y_px[which], self.score[which],
                     self.radius_px[which], self.blob_mean[which])

    @classmethod
    def concatenate(cls, parts: list[Peaks]) -> Peaks:
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.x_px for p in parts]),
                   np.concatenate([p.y_px for p in parts]),
                   np.concatenate([p.score for p in parts]),
                   np.concatenate([p.radius_px for p in parts]),
                   np.concatenate([p.blob_mean for p in parts]))


@dataclass(frozen=True)
class DogPicking:
    """What :func:`pick_dog` found, and the maps it found it in."""

    picks: tuple[Pick, ...]
    binning: int
    maps: tuple[DogMap, ...]


# --------------------------------------------------------------------------- filter

def bin_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor`` × ``factor`` pixels (the ragged edge is dropped), float32."""
    image = np.asarray(image, dtype=np.float32)
    if factor <= 1:
        return image.copy()
    ny, nx = image.shape[0] // factor, image.shape[1] // factor
    if ny < 1 or nx < 1:
        raise UsageError(f"a {image.shape[1]}x{image.shape[0]} image cannot be binned by "
                         f"{factor}; use a smaller --bin")
    blocks = image[:ny * factor, :nx * factor].reshape(ny, factor, nx, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def median_filter(image: np.ndarray, size_px: int) -> np.ndarray:
    """Median over a ``size_px`` box (none below 2)."""
    if size_px < 2:
        return image
    return ndimage.median_filter(image, size=size_px, mode="reflect")


def clip_pixels(image: np.ndarray, limit_sigma: float) -> np.ndarray:
    """Pixels beyond the mean ± ``limit_sigma`` σ set to that limit (none when ≤ 0)."""
    if limit_sigma <= 0:
        return image
    mean, sigma = float(image.mean()), float(image.std())
    return np.clip(image, mean - limit_sigma * sigma, mean + limit_sigma * sigma)


def normalise(image: np.ndarray) -> np.ndarray:
    """Zero mean, unit σ (a flat image stays zero), float32."""
    centred = np.asarray(image, dtype=np.float32) - np.float32(image.mean())
    sigma = float(centred.std())
    if sigma > 0:
        centred /= np.float32(sigma)
    return centred


def prepare_image(image: np.ndarray, options: DogOptions) -> np.ndarray:
    """Classic ImageFilter for DoG picking: bin, median, pixel limit, invert, normalise."""
    binned = bin_image(image, options.bin)
    binned = median_filter(binned, options.median)
    binned = clip_pixels(binned, options.pixel_value_limit)
    if options.invert:
        binned = -binned
    return normalise(binned)


# --------------------------------------------------------------------------- DoG maps

def e_of_k(kfactor: float) -> float:
    """Classic ``E(k) = √((k² − 1) / (2 k² ln k))``: σ1 = E(k) × the radius."""
    if kfactor <= 0 or kfactor == 1.0:
        raise UsageError(f"--kfactor must be neither 0 nor 1, not {kfactor}")
    k2 = kfactor * kfactor
    return math.sqrt((k2 - 1.0) / (2.0 * k2 * math.log(kfactor)))


def kfactor_for_range(radius_px: float, range_radius_px: float, num_slices: int) -> float:
    """Classic ``estimateKfactorIncrement``: the k spacing ``num_slices`` sizes over a range."""
    ratio = range_radius_px / (2.0 * radius_px)
    return (ratio + math.sqrt(ratio * ratio + 1.0)) ** (2.0 / num_slices)


def blur_sigmas_px(radius_px: float, kfactor: float, num_slices: int = 1
                   ) -> tuple[list[float], list[float]]:
    """The ``num_slices + 1`` blur σs (binned pixels) and the radius each map finds.

    One slice: ``[σ1, k σ1]`` and ``[r]``; more: classic's ladder centred on ``r``.
    """
    sigma1 = e_of_k(kfactor) * radius_px
    if num_slices < 2:
        return [sigma1, kfactor * sigma1], [radius_px]
    sigma0 = sigma1 * kfactor ** ((1.0 - num_slices) / 2.0)
    sigmas = [sigma0 * kfactor ** i for i in range(num_slices + 1)]
    radii = [radius_px * kfactor ** (i - (num_slices - 1) / 2.0) for i in range(num_slices)]
    return sigmas, radii


def _gaussian_transfer(fy2: np.ndarray, fx2: np.ndarray, sigma_px: float) -> np.ndarray:
    """The Fourier transform of a unit Gaussian of ``sigma_px`` on the rfft grid."""
    scale = np.float32(-2.0 * math.pi * math.pi * sigma_px * sigma_px)
    return np.exp(scale * fy2) * np.exp(scale * fx2)


def gaussian_differences(image: np.ndarray, sigmas_px: list[float]) -> list[np.ndarray]:
    """``G(σ_i) − G(σ_{i+1})`` of ``image`` for consecutive σs, mirror-padded, float32."""
    pad = int(math.ceil(_PAD_SIGMAS * max(sigmas_px)))
    pad = min(pad, max(image.shape) * 4)
    padded = np.pad(image, pad, mode="symmetric")
    shape = (scipy.fft.next_fast_len(padded.shape[0], real=True),
             scipy.fft.next_fast_len(padded.shape[1], real=True))
    spectrum = scipy.fft.rfft2(padded, s=shape, workers=_FFT_WORKERS)
    fy2 = (scipy.fft.fftfreq(shape[0]).astype(np.float32) ** 2)[:, None]
    fx2 = (scipy.fft.rfftfreq(shape[1]).astype(np.float32) ** 2)[None, :]
    transfers = [_gaussian_transfer(fy2, fx2, sigma) for sigma in sigmas_px]
    ny, nx = image.shape
    maps = []
    for low, high in zip(transfers[:-1], transfers[1:]):
        band = scipy.fft.irfft2(spectrum * (low - high), s=shape, workers=_FFT_WORKERS)
        maps.append(np.ascontiguousarray(band[pad:pad + ny, pad:pad + nx], dtype=np.float32))
    return maps


def dog_maps(prepared: np.ndarray, radius_binned_px: float, options: DogOptions,
             pixel_size_binned_a: float) -> list[DogMap]:
    """Classic ``diffOfGaussParam``: one map, or ``num_slices`` over ``size_range``."""
    slices = options.num_slices or 1
    kfactor = options.kfactor
    if slices >= 2:
        if not options.size_range:
            raise UsageError("--numslices needs --sizerange (Å)")
        range_radius_px = options.size_range / pixel_size_binned_a / 2.0
        if range_radius_px >= 2.0 * radius_binned_px:
            raise UsageError(f"--sizerange {options.size_range:g} must be less than twice "
                             f"the diameter {options.diameter_a:g}")
        kfactor = kfactor_for_range(radius_binned_px, range_radius_px, slices)
    sigmas, radii = blur_sigmas_px(radius_binned_px, kfactor, slices)
    maps = gaussian_differences(prepared, sigmas)
    return [DogMap(normalise(values) / np.float32(MAP_DIVISOR), radius)
            for values, radius in zip(maps, radii)]


# --------------------------------------------------------------------------- peaks

def max_blob_area_px(max_size: float, diameter_binned_px: float) -> int:
    """Classic ``maxsize``: ``round(maxsize × 4 π r²) + 1`` pixels (r: binned radius)."""
    radius = diameter_binned_px / 2.0
    return int(round(max_size * 4.0 * math.pi * radius * radius)) + 1


@dataclass(frozen=True)
class Blobs:
    """Blobs of a map (binned pixels): centres of mass, maxima, heights and means."""

    y: np.ndarray
    x: np.ndarray
    max_y: np.ndarray
    max_x: np.ndarray
    height: np.ndarray
    mean: np.ndarray

    @classmethod
    def empty(cls) -> Blobs:
        nothing = np.zeros(0, dtype=np.float64)
        return cls(nothing, nothing, nothing, nothing, nothing, nothing)

    def __len__(self) -> int:
        return int(self.y.size)


def find_blobs(values: np.ndarray, threshold: float, max_area_px: int,
               border_px: int = BLOB_BORDER_BINNED_PX) -> Blobs:
    """Blobs above ``threshold``: centres of mass, maxima, peak heights and means.

    Classic findBlobs: nothing when the blobs cover more than :data:`MAX_COVERAGE`;
    the border is cut off before labelling; blobs of ``max_area_px`` or more go.
    """
    mask = values > threshold
    if mask.mean() > MAX_COVERAGE:
        return Blobs.empty()
    if border_px > 0:
        mask[:border_px] = False
        mask[-border_px:] = False
        mask[:, :border_px] = False
        mask[:, -border_px:] = False
    labels, count = ndimage.label(mask)
    if count == 0:
        return Blobs.empty()
    inside = np.flatnonzero(labels)
    which = labels.ravel()[inside]
    weights = values.ravel()[inside].astype(np.float64)
    rows, cols = np.divmod(inside, values.shape[1])
    area = np.bincount(which, minlength=count + 1)[1:]
    total = np.bincount(which, weights, minlength=count + 1)[1:]
    y = np.bincount(which, weights * rows, minlength=count + 1)[1:]
    x = np.bincount(which, weights * cols, minlength=count + 1)[1:]
    order = np.lexsort((weights, which))          # by blob, then by value
    last = np.flatnonzero(np.diff(which[order], append=count + 1))  # each blob's maximum
    top = order[last]
    keep = (area < max_area_px) & (total != 0)
    return Blobs(y[keep] / total[keep], x[keep] / total[keep], rows[top][keep].astype(float),
                 cols[top][keep].astype(float), weights[top][keep],
                 total[keep] / area[keep])


def blob_peaks(dog_map: DogMap, options: DogOptions, binning: int) -> Peaks:
    """The peaks of one map in unbinned pixels (centre of the binned pixel's block)."""
    area = max_blob_area_px(options.max_size, 2.0 * dog_map.radius_binned_px)
    blobs = find_blobs(dog_map.values, options.threshold, area)
    radius = np.full(blobs.height.shape, dog_map.radius_binned_px * binning)
    maximum = options.peak_type == "maximum"
    x, y = (blobs.max_x, blobs.max_y) if maximum else (blobs.x, blobs.y)
    return Peaks(to_unbinned(x, binning), to_unbinned(y, binning), blobs.height, radius,
                 blobs.mean)


def to_unbinned(binned_px: np.ndarray, binning: int) -> np.ndarray:
    """Binned pixel coordinates to unbinned ones: ``(i + ½)·bin − ½``."""
    return (np.asarray(binned_px, dtype=np.float64) + 0.5) * binning - 0.5


def remove_overlaps(peaks: Peaks, cutoff_px: float) -> Peaks:
    """Classic removeOverlappingPeaks: a peak with a stronger one nearer than the cutoff
    goes (``d² < cutoff² + 1``), whether the stronger one stays or not."""
    if len(peaks) < 2 or cutoff_px <= 0:
        return peaks
    points = np.column_stack([peaks.x_px, peaks.y_px])
    pairs = cKDTree(points).query_pairs(math.sqrt(cutoff_px * cutoff_px + 1.0),
                                        output_type="ndarray")
    if pairs.size == 0:
        return peaks
    first, second = pairs[:, 0], pairs[:, 1]
    distance2 = ((points[first] - points[second]) ** 2).sum(axis=1)
    close = distance2 < cutoff_px * cutoff_px + 1.0
    first, second = first[close], second[close]
    weaker = np.where(peaks.score[first] < peaks.score[second], first, second)
    keep = np.ones(len(peaks), dtype=bool)
    keep[weaker] = False
    return peaks.take(keep)


def remove_edge_peaks(peaks: Peaks, shape: tuple[int, int], edge_px: float) -> Peaks:
    """Peaks strictly farther than ``edge_px`` from every edge of a ``shape`` image."""
    ny, nx = shape
    keep = ((peaks.x_px > edge_px) & (peaks.y_px > edge_px)
            & (peaks.x_px < nx - edge_px) & (peaks.y_px < ny - edge_px))
    return peaks.take(keep)


def strongest(peaks: Peaks, count: int) -> Peaks:
    """The ``count`` highest peaks, strongest first."""
    order = np.argsort(-peaks.score, kind="stable")[:max(count, 0)]
    return peaks.take(order)


def below_max_threshold(peaks: Peaks, max_threshold: float | None) -> Peaks:
    """Classic ``--maxthresh``: peaks whose blob mean is at or above it go."""
    if max_threshold is None:
        return peaks
    return peaks.take(peaks.blob_mean < max_threshold)


# --------------------------------------------------------------------------- picking

def check_options(options: DogOptions, pixel_size_a: float) -> None:
    """A one-line :class:`UsageError` for options classic dogPicker refuses."""
    if options.diameter_a <= 0:
        raise UsageError(f"--diam must be positive, not {options.diameter_a:g}")
    if pixel_size_a <= 0:
        raise UsageError(f"the pixel size must be positive, not {pixel_size_a:g}")
    if options.bin < 1:
        raise UsageError(f"--bin must be at least 1, not {options.bin}")
    if options.num_slices is not None and options.num_slices >= 15:
        raise UsageError("too many slices defined by --numslices; use 2-6")
    radius_binned_px = options.diameter_a / pixel_size_a / options.bin / 2.0
    if radius_binned_px < 1.0:
        raise UsageError(f"--diam {options.diameter_a:g} Å is under 2 pixels at --bin "
                         f"{options.bin}; use a smaller --bin")
    e_of_k(options.kfactor)


def pick_dog(image: np.ndarray, pixel_size_a: float, options: DogOptions) -> DogPicking:
    """Classic dogPicker on one micrograph (``pixel_size_a`` as stored); picks in
    unbinned pixels, strongest first, scored by their DoG peak height."""
    check_options(options, pixel_size_a)
    binning = options.bin
    radius_binned_px = options.diameter_a / pixel_size_a / binning / 2.0
    prepared = prepare_image(image, options)
    maps = dog_maps(prepared, radius_binned_px, options, pixel_size_a * binning)
    peaks = Peaks.concatenate([blob_peaks(m, options, binning) for m in maps])
    radius_px = radius_binned_px * binning
    peaks = remove_overlaps(peaks, options.overlap_mult * radius_px)
    edge_px = radius_px if options.edge_px is None else float(options.edge_px)
    peaks = remove_edge_peaks(peaks, (image.shape[0], image.shape[1]), edge_px)
    peaks = strongest(peaks, options.max_peaks)
    peaks = below_max_threshold(peaks, options.max_threshold)
    picks = tuple(Pick(x=float(x), y=float(y), score=float(s),
                       diameter_a=float(2.0 * r * pixel_size_a))
                  for x, y, s, r in zip(peaks.x_px, peaks.y_px, peaks.score, peaks.radius_px))
    return DogPicking(picks, binning, tuple(maps))


__all__ = ["Blobs", "DogMap", "DogPicking", "Peaks", "bin_image", "blur_sigmas_px", "check_options",
           "clip_pixels", "dog_maps", "e_of_k", "find_blobs", "gaussian_differences",
           "kfactor_for_range", "max_blob_area_px", "median_filter", "normalise",
           "pick_dog", "prepare_image", "remove_edge_peaks", "remove_overlaps",
           "strongest", "to_unbinned"]
