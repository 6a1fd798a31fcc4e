"""The classic ``appionScript`` / ``appionLoop2`` command-line options.

Every classic drop-in (``makeDDAlignMotionCor2_UCSF.py``, ``ctffind4.py``,
``gctf.py``) and ``appion pipeline`` accept these with their classic spellings,
defaults and ``dest`` names, so the command lines the classic web UI sends keep
working.  :func:`run_inputs` applies classic Appion's checks and turns the parsed
flags into the typed values the run is built from: a
:class:`~appion.base.run.RunRequest` and an
:class:`~appion.base.selection.ImageSelection`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from appion.base.errors import UsageError
from appion.base.selection import TILT_CHOICES, ImageSelection, mrclist_names

if TYPE_CHECKING:
    from appion.base.run import RunRequest

log = logging.getLogger(__name__)

#: Flags that job launchers add and the programs accept and ignore (runJob.py strips
#: the first four; the web adds the others).
LAUNCHER_FLAGS = ("--ppn", "--nodes", "--walltime", "--queue", "--cput", "--mem")


class ClassicArgumentParser(argparse.ArgumentParser):
    """argparse with classic Appion's spelling: a usage error is one line and exit 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


def add_script_options(parser: argparse.ArgumentParser, *, procdir: str) -> None:
    """``appionScript`` options: run name and directory, project, commit, job bookkeeping."""
    group = parser.add_argument_group("run (classic appionScript options)")
    group.add_argument("-n", "--runname", dest="runname",
                       help="name of this run (default: a timestamp)")
    group.add_argument("-d", "--description", dest="description", default="")
    group.add_argument("-p", "--projectid", dest="projectid", type=int,
                       help="project id; selects the project's Appion database (default: "
                            "the project the session belongs to)")
    group.add_argument("-R", "--rundir", "--outdir", dest="rundir",
                       help="run directory (default: the session's image path with "
                            "'leginon' replaced by 'appion', then "
                            f"/{procdir}/<runname>)")
    group.add_argument("-C", "--commit", dest="commit", action="store_true", default=True,
                       help="store results in the database (default)")
    group.add_argument("--no-commit", dest="commit", action="store_false",
                       help="compute but store nothing in the database")
    group.add_argument("--expid", dest="expid", type=int, help="Leginon session id")
    group.add_argument("--nproc", dest="nproc", type=int, default=1)
    group.add_argument("--jobtype", dest="jobtype",
                       help="jobtype of the job row this run inserts (default: the classic "
                            "web's, e.g. makeddrawframestack, ctfestimate, gctf)")
    group.add_argument("--jobid", dest="jobid", type=int,
                       help="ApAppionJobData id the web created; its status is updated")
    for flag in LAUNCHER_FLAGS:
        group.add_argument(flag, dest=flag.lstrip("-"), help=argparse.SUPPRESS)
    parser.set_defaults(procdir=procdir)


def add_loop_options(parser: argparse.ArgumentParser, *, reprocess: bool = True) -> None:
    """``appionLoop2`` options: which images, in which order, and how to wait for more."""
    group = parser.add_argument_group("images (classic appionLoop options)")
    group.add_argument("-s", "--session", dest="sessionname", help="Leginon session name")
    group.add_argument("--preset", dest="preset", help="image preset, e.g. enn ('manual': none)")
    group.add_argument("-m", "--mrclist", dest="mrcnames",
                       help="comma-separated image names (excludes --preset)")
    if reprocess:
        group.add_argument("--reprocess", dest="reprocess", type=float,
                           help="process again images whose best score is below this")
    group.add_argument("--limit", dest="limit", type=int, help="process at most this many")
    group.add_argument("--tiltangle", dest="tiltangle", choices=TILT_CHOICES, default="all")
    group.add_argument("--startimgid", dest="startimgid", type=int)
    group.add_argument("--endimgid", dest="endimgid", type=int)
    group.add_argument("--continue", dest="continue", action="store_true", default=True,
                       help="skip images this run already did (default)")
    group.add_argument("--no-continue", dest="continue", action="store_false")
    group.add_argument("--background", dest="background", action="store_true", default=False)
    if reprocess:
        group.add_argument("--uncorrected", dest="uncorrected", action="store_true",
                           default=False)
    group.add_argument("--no-wait", dest="wait", action="store_false", default=True,
                       help="exit when no image is left instead of waiting for more")
    group.add_argument("--wait", dest="wait", action="store_true")
    group.add_argument("--no-rejects", dest="norejects", action="store_true", default=False,
                       help="skip hidden, trashed and assessment-rejected images")
    group.add_argument("--sib-assess", dest="sibassess", action="store_true", default=False)
    group.add_argument("--best-images", dest="bestimages", action="store_true", default=False,
                       help="only images marked exemplar or kept")
    group.add_argument("--shuffle", dest="shuffle", action="store_true", default=False)
    group.add_argument("--reverse", dest="reverse", action="store_true", default=False,
                       help="newest images first")
    group.add_argument("--parallel", dest="parallel", action="store_true", default=False)


def check_classic_options(options: argparse.Namespace) -> None:
    """Classic conflict checks that need no database."""
    if getattr(options, "mrcnames", None) and getattr(options, "preset", None):
        raise UsageError("--mrclist and --preset exclude each other; give one of them")
    if not (getattr(options, "sessionname", None) or getattr(options, "expid", None)
            or getattr(options, "mrcnames", None)):
        raise UsageError("no images selected: give --session (or --expid, or --mrclist)")
    if options.runname and options.rundir and Path(options.rundir).name != options.runname:
        raise UsageError(f"--runname {options.runname} differs from the last folder of "
                         f"--rundir {options.rundir}; make them match")
    start, end = getattr(options, "startimgid", None), getattr(options, "endimgid", None)
    if start is not None and end is not None and start > end:
        raise UsageError(f"--startimgid {start} is after --endimgid {end}")


#: Classic flags that are accepted (the web and old scripts send them) but not acted on.
IGNORED_CLASSIC_FLAGS = {
    "sibassess": "--sib-assess is not supported: a defocal-pair sibling's assessment is not "
                 "consulted (each image's own still is, with --no-rejects)",
    "shuffle": "--shuffle is ignored: the controller orders images by its policy "
               "(oldest first, --reverse, or --policy catchup)",
    "parallel": "--parallel is not needed: one controller per run directory hands the "
                "images to all its workers",
}


def ignored_classic_flags(options: argparse.Namespace) -> list[str]:
    """One warning per classic flag given that this version accepts but does not act on."""
    return [message for dest, message in IGNORED_CLASSIC_FLAGS.items()
            if getattr(options, dest, False)]


def image_selection(options: argparse.Namespace) -> ImageSelection:
    """The classic loop flags as an :class:`ImageSelection`."""
    names = mrclist_names(getattr(options, "mrcnames", None))
    if getattr(options, "mrcnames", None) and not names and not (
            getattr(options, "sessionname", None) or getattr(options, "expid", None)):
        raise UsageError("--mrclist names no image; give comma-separated image names")
    return ImageSelection(
        session_name=getattr(options, "sessionname", None),
        session_id=getattr(options, "expid", None),
        preset=getattr(options, "preset", None), image_names=names,
        limit=getattr(options, "limit", None),
        tilt_angle=getattr(options, "tiltangle", None) or "all",
        start_image_id=getattr(options, "startimgid", None),
        end_image_id=getattr(options, "endimgid", None),
        continue_run=bool(getattr(options, "continue", True)),
        wait=bool(getattr(options, "wait", True)),
        no_rejects=bool(getattr(options, "norejects", False)),
        best_images=bool(getattr(options, "bestimages", False)),
        shuffle=bool(getattr(options, "shuffle", False)),
        reverse=bool(getattr(options, "reverse", False)))


def run_request(options: argparse.Namespace,
                parser: argparse.ArgumentParser | None = None) -> RunRequest:
    """The classic script flags as a :class:`RunRequest`; ``parser`` (optional) gives
    the real flags of the ``ScriptParamValue`` usages."""
    from appion.base.run import RunRequest
    from appion.cli.params import param_usages
    return RunRequest(
        procdir=options.procdir, runname=options.runname, rundir=options.rundir,
        projectid=options.projectid, description=getattr(options, "description", "") or "",
        commit=bool(options.commit), dry_run=bool(getattr(options, "dry_run", False)),
        jobid=getattr(options, "jobid", None), jobtype=getattr(options, "jobtype", None),
        params=tuple(param_usages(options, parser)))


def run_inputs(options: argparse.Namespace, parser: argparse.ArgumentParser | None = None
               ) -> tuple[RunRequest, ImageSelection]:
    """Check the classic flags, warn about those accepted but not acted on, and return
    the run's request and image selection."""
    check_classic_options(options)
    for warning in ignored_classic_flags(options):
        log.warning(warning)
    return run_request(options, parser), image_selection(options)


__all__ = ["IGNORED_CLASSIC_FLAGS", "LAUNCHER_FLAGS", "TILT_CHOICES",
           "ClassicArgumentParser", "add_loop_options", "add_script_options",
           "check_classic_options", "ignored_classic_flags", "image_selection",
           "run_inputs", "run_request"]
