"""The picking step's flags (classic ``dogPicker.py``) and the typed options they make.

Classic names, ``dest`` names and defaults: ``particleLoop2`` (``--diam``, ``--thresh``,
``--maxthresh``, ``--maxsize``, ``--overlapmult``, ``--maxpeaks``, ``--peaktype`` …),
``filterLoop`` (``--bin``, ``--median``, ``--pixlimit``, ``--invert``, ``--lowpass`` …)
and ``dogPicker.py`` (``--kfactor``, ``--numslices``, ``--sizerange``).  In ``appion
pipeline`` the engine flag is ``--pick-engine`` and the binning ``--pick-bin`` (motion
correction owns ``--bin`` there); every other flag keeps its classic name.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from appion.base.errors import UsageError
from appion.particlepicking.contract import DogOptions, PickOptions
from appion.particlepicking.engines import ENGINES

log = logging.getLogger(__name__)

#: ``--numslices`` must stay below this (classic: "should be more like 2-6").
MAX_SLICES = 15
DEVICES = ("auto", "cpu", "cuda")
PEAK_TYPES = ("maximum", "centerofmass")
#: Flags classic accepts whose feature this version does not have: dest -> message.
UNSUPPORTED = {
    "defocpair": "--defocpair (shifts from the defocal pair) is not supported; pick "
                 "without it",
    "planereg": "--planereg (plane regression) is not supported; pick without it",
    "doubles": "--doubles applies to template picking only; remove it",
    "checkmask": "--checkmask is not supported; remove it",
}


def _add(group: Any, parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    """Add a flag unless another step of the chain already has it (``appion pipeline``)."""
    if any(flag in parser._option_string_actions for flag in flags):
        return
    group.add_argument(*flags, **kwargs)


def add_options(parser: argparse.ArgumentParser, *, pipeline: bool = False) -> None:
    """Classic ``dogPicker.py`` flags plus the engine choice and Topaz's settings."""
    group = parser.add_argument_group("particle picking (classic dogPicker.py)")
    engine_flags = ["--pick-engine"] if pipeline else ["--engine", "--pick-engine"]
    _add(group, parser, *engine_flags, dest="pick_engine", choices=ENGINES.names,
         default="dog", help="picking engine (default: dog, as classic dogPicker.py)")
    if pipeline:
        _add(group, parser, "--pick-bin", dest="pick_bin", type=int, default=4,
             help="binning of the micrograph for picking (classic --bin; default 4)")
    else:
        _add(group, parser, "--bin", "--binval", "--shrink", "--binby", dest="bin", type=int,
             default=4, help="binning of the micrograph for picking (default 4)")
    add_picking_flags(group, parser)
    _add(group, parser, "--topaz-model", dest="topaz_model", default="resnet16",
         help="Topaz model name or file (default resnet16)")
    _add(group, parser, "--topaz-threshold", dest="topaz_threshold", type=float,
         default=-3.0, help="Topaz log-likelihood threshold (default -3)")
    _add(group, parser, "--device", dest="pick_device", choices=DEVICES, default="auto",
         help="where Topaz runs (default: a GPU when there is one)")
    _add(group, parser, "--pick-timeout", dest="pick_timeout", type=float, default=600.0,
         help="seconds one micrograph may take")


def add_picking_flags(group: Any, parser: argparse.ArgumentParser) -> None:
    """The picking flags shared by ``dogPicker.py``, ``appion pipeline`` and ``appion pick``."""
    _add(group, parser, "--diam", "--pdiam", dest="diam", type=int,
         help="particle diameter (Å); required")
    _add(group, parser, "--thresh", "--minthresh", dest="thresh", type=float, default=0.5,
         help="threshold of the DoG map to pick particles (default 0.5)")
    _add(group, parser, "--maxthresh", dest="maxthresh", type=float, default=2.5,
         help="peaks above this are dropped (default 2.5)")
    _add(group, parser, "--maxsize", dest="maxsize", type=float, default=1.0,
         help="largest peak, in particle areas (default 1.0)")
    _add(group, parser, "--overlapmult", dest="overlapmult", type=float, default=1.5,
         help="nearest two particles, in radii (default 1.5)")
    _add(group, parser, "--maxpeaks", dest="maxpeaks", type=int, default=1500,
         help="most particles per micrograph (default 1500)")
    _add(group, parser, "--peaktype", dest="peaktype", choices=PEAK_TYPES,
         default="centerofmass", help="peak position: blob maximum or centre of mass")
    _add(group, parser, "--kfactor", dest="kfactor", type=float, default=1.2,
         help="k-factor of the difference of Gaussians (default 1.2)")
    _add(group, parser, "--numslices", dest="numslices", type=int,
         help="number of sizes to pick (2-6; with --sizerange)")
    _add(group, parser, "--sizerange", dest="sizerange", type=float,
         help="range of particle sizes (Å; with --numslices)")
    _add(group, parser, "--lowpass", "--lp", "--lpval", dest="lowpass", type=float,
         help="ignored by the DoG picker (classic)")
    _add(group, parser, "--highpass", "--hp", "--hpval", dest="highpass", type=float,
         help="ignored by the DoG picker (classic)")
    _add(group, parser, "--median", "--medianval", dest="median", type=int,
         help="median filter box (binned pixels; default none)")
    _add(group, parser, "--pixlimit", dest="pixlimit", type=float,
         help="clip pixels beyond this many standard deviations (default none)")
    _add(group, parser, "--invert", dest="invert", action="store_true", default=False,
         help="particles brighter than the background")
    for flag, dest in (("--nojpegs", "nojpegs"), ("--keepall", "keepall"),
                       ("--defocpair", "defocpair"), ("--planereg", "planereg"),
                       ("--doubles", "doubles"), ("--checkmask", "checkmask")):
        _add(group, parser, flag, dest=dest, action="store_true", default=False,
             help=argparse.SUPPRESS if dest in UNSUPPORTED else "accepted (no JPEGs are made)")


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def dog_options(namespace: argparse.Namespace) -> DogOptions:
    """The DoG flags of a parsed command line, checked as classic checks them."""
    get = namespace.__dict__.get
    for dest, message in UNSUPPORTED.items():
        if get(dest):
            raise UsageError(message)
    diam = get("diam")
    if diam is None:
        raise UsageError("--diam is required: give the particle diameter in Å, e.g. --diam 150")
    if diam < 1:
        raise UsageError(f"--diam {diam} must be a positive diameter in Å")
    binning = get("pick_bin") if "pick_bin" in namespace.__dict__ else get("bin")
    binning = 4 if binning is None else binning
    if binning != int(binning) or binning < 1:
        raise UsageError(f"--bin {binning} must be a whole number, 1 or more")
    for flag, dest in (("--lowpass", "lowpass"), ("--highpass", "highpass")):
        if (get(dest) or 0) > 0:
            log.warning("%s %s is ignored by the DoG picker (classic)", flag, get(dest))
    options = DogOptions(
        diameter_a=float(diam), bin=int(binning), threshold=float(_given(get("thresh"), 0.5)),
        max_threshold=get("maxthresh"), max_peaks=int(_given(get("maxpeaks"), 1500)),
        max_size=float(_given(get("maxsize"), 1.0)),
        overlap_mult=float(_given(get("overlapmult"), 1.5)),
        invert=bool(get("invert")), median=int(get("median") or 0),
        pixel_value_limit=float(get("pixlimit") or 0.0), kfactor=float(_given(get("kfactor"), 1.2)),
        size_range=get("sizerange"), num_slices=get("numslices"),
        peak_type=get("peaktype") or "centerofmass")
    check_dog(options)
    return options


def check_dog(options: DogOptions) -> None:
    """Classic ``dogPicker.py`` / ``particleLoop2`` checks and the ranges that keep the
    computation meaningful; a one-line :class:`UsageError` for the first one broken."""
    slices, size_range, diam = options.num_slices, options.size_range, options.diameter_a
    if slices is not None and slices >= MAX_SLICES:
        raise UsageError(f"--numslices {slices} is too many; use 2-6")
    if slices is not None and slices < 1:
        raise UsageError(f"--numslices {slices} must be 1 or more")
    if slices is not None and slices > 1 and size_range is None:
        raise UsageError(f"--numslices {slices} needs --sizerange (Å), e.g. --sizerange "
                         f"{int(diam // 2)}")
    if size_range is not None and size_range > 2 * diam - 3:
        raise UsageError(f"--sizerange {size_range:g} must be at most twice the diameter "
                         f"minus 3 ({2 * diam - 3:g})")
    if size_range is not None and size_range <= 0:
        raise UsageError(f"--sizerange {size_range:g} must be positive")
    if options.kfactor <= 1.0:
        raise UsageError(f"--kfactor {options.kfactor:g} must be larger than 1")
    if options.max_peaks < 1:
        raise UsageError(f"--maxpeaks {options.max_peaks} must be 1 or more")
    if options.max_size <= 0:
        raise UsageError(f"--maxsize {options.max_size:g} must be positive")
    if options.overlap_mult < 0:
        raise UsageError(f"--overlapmult {options.overlap_mult:g} must not be negative")
    if options.median < 0:
        raise UsageError(f"--median {options.median} must not be negative")
    if options.pixel_value_limit < 0:
        raise UsageError(f"--pixlimit {options.pixel_value_limit:g} must not be negative")


def step_options(namespace: argparse.Namespace) -> PickOptions:
    """The picking flags of a parsed command line, checked once."""
    get = namespace.__dict__.get
    engine = get("pick_engine") or "dog"
    ENGINES.get_engine(engine)
    dog = dog_options(namespace)
    device = get("pick_device") or "auto"
    if device not in DEVICES:
        raise UsageError(f"--device {device} is unknown; use one of {', '.join(DEVICES)}")
    timeout = float(get("pick_timeout") or 600.0)
    if timeout <= 0:
        raise UsageError(f"--pick-timeout {timeout:g} must be positive")
    return PickOptions(
        engine=engine, dog=dog, topaz_model=get("topaz_model") or "resnet16",
        topaz_threshold=float(_given(get("topaz_threshold"), -3.0)), device=device, label=engine,
        timeout_s=timeout, description=get("description") or "")


def make_step(namespace: argparse.Namespace) -> Any:
    """The picking step configured by a parsed command line (drop-in or pipeline)."""
    from appion.particlepicking.step import PickStep
    return PickStep(step_options(namespace))


__all__ = ["add_options", "add_picking_flags", "check_dog", "dog_options", "make_step",
           "step_options"]
