"""``runJob.py``: submit a classic Appion command line to Slurm (classic drop-in).

Usage: ``runJob.py [--dry-run] [WRAPPER] PROGRAM ARGS...``, as the classic web UI
sends it (``runJob.py memcappion makeDDAlignMotionCor2_UCSF.py --bin=2 ...
--ppn=1 --nodes=1 --walltime=120 --queue=preprocessing --jobid=83``).

* The launcher flags ``--ppn --nodes --walltime --queue`` are removed from the
  command and become ``#SBATCH`` lines (walltime in hours, as classic Appion).
* The wrapper token is removed: every token equal to ``$APPION_WRAPPER_PATH`` (or its
  base name), and a first token that is not the program, i.e. one that neither ends
  in ``.py`` nor is an executable found on ``PATH``.
* ``--rundir``/``--outdir``/``-R`` is required; the run name is ``--runname``, else the
  run directory's last folder.
* The Jinja2 template ``$APPION_TEMPLATE_DIR/$APPION_JOB_TEMPLATE`` (defaults
  ``/etc/appion/templates`` and ``slurm_job.sh.j2``; the template shipped with Appion
  when that file does not exist; ``APPION_JOB_TEMPLATE`` may also be a path) is
  rendered into ``<rundir>/batch.sh``, the command line is appended to
  ``<rundir>/run_command.txt``, ``sbatch`` submits it and the Slurm job id is printed.
* ``--dry-run`` (before the command) prints the script and writes nothing.

Every value reaches the script through the template layer (:func:`render_script`),
which keeps it from becoming shell code: ``{{ value }}`` is shell-quoted unless it is
shell text already (``command``, or the output of the ``shell_quote`` filter), and an
``#SBATCH`` value goes through the ``sbatch`` filter, which refuses what a directive
cannot hold (spaces, quotes, control characters).  Before that the launcher flags are
checked: ``--ppn``, ``--nodes`` and ``--mem`` whole numbers, ``--walltime`` hours or a
Slurm time, ``--queue`` a partition name, and no value may hold a newline or another
control character.  A refused value is one line naming its flag.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from appion.base.errors import EngineError, UsageError
from appion.cli.entry import run_entry_point

PROG = "runJob.py"
#: Flags the launcher consumes: runJob.py flag -> template variable.
LAUNCHER_FLAGS = {"--ppn": "ppn", "--nodes": "nodes", "--walltime": "walltime",
                  "--queue": "queue"}
RUNDIR_FLAGS = ("--rundir", "--outdir", "-R")
DEFAULT_TEMPLATE_DIR = "/etc/appion/templates"
DEFAULT_TEMPLATE = "slurm_job.sh.j2"
SHIPPED_TEMPLATES = Path(__file__).resolve().parent / "templates"
SBATCH_TIMEOUT_S = 120
#: Template variables that may reach an ``#SBATCH`` line, and the flag each comes from.
DIRECTIVE_FLAGS = {"runname": "--runname", "job_name": "--runname", "rundir": "--rundir",
                   "log": "--rundir/--runname", "walltime": "--walltime", "nodes": "--nodes",
                   "ppn": "--ppn", "queue": "--queue", "jobid": "--jobid", "mem": "--mem"}
WHOLE_NUMBER = re.compile(r"[1-9][0-9]{0,6}")
#: Classic hours (``120``) or a Slurm time: ``M``, ``M:S``, ``H:M:S``, ``D-H``,
#: ``D-H:M``, ``D-H:M:S``.
WALLTIME = re.compile(r"[0-9]{1,6}|[0-9]{1,6}(:[0-9]{1,2}){1,2}|[0-9]{1,4}-[0-9]{1,2}"
                      r"(:[0-9]{1,2}){0,2}")
PARTITION = re.compile(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*")
#: What an ``#SBATCH`` value may hold: printable, no space, quote or backslash.
DIRECTIVE_VALUE = re.compile(r"[^\s'\"\\\x00-\x1f\x7f]*")
USAGE = f"usage: {PROG} [--dry-run] [WRAPPER] PROGRAM [ARGS...]"


@dataclass(frozen=True)
class JobRequest:
    """A parsed runJob.py command line: what to run and what to ask Slurm for."""

    command: tuple[str, ...]
    rundir: str
    runname: str
    walltime: str | None = None
    nodes: str | None = None
    ppn: str | None = None
    queue: str | None = None
    jobid: str | None = None
    wrapper: str | None = None
    mem: str | None = None


class ShellText(str):
    """Text that is shell code already (a quoted value, the command line): the
    template layer writes it as it is."""


class DirectiveError(ValueError):
    """A value that an ``#SBATCH`` line cannot hold."""


def has_control_characters(value: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in value)


def _check_value(flag: str, value: str | None, pattern: re.Pattern | None,
                 expected: str) -> None:
    if value is None:
        return
    if has_control_characters(value) or (pattern and not pattern.fullmatch(value)):
        raise UsageError(f"{flag} {value!r} is not {expected}; runJob.py refuses it")


def check_request(request: JobRequest) -> None:
    """The launcher flags and the run's names, refused in one line when they could
    change what the batch script or Slurm does (see the module docstring)."""
    checks = (("--ppn", request.ppn, WHOLE_NUMBER, "a whole number of at least 1"),
              ("--nodes", request.nodes, WHOLE_NUMBER, "a whole number of at least 1"),
              ("--mem", request.mem, WHOLE_NUMBER, "a whole number of at least 1"),
              ("--walltime", request.walltime, WALLTIME,
               "hours or a Slurm time such as 1-12:00:00"),
              ("--queue", request.queue, PARTITION, "a Slurm partition name"),
              ("--jobid", request.jobid, WHOLE_NUMBER, "a job id (a whole number)"),
              ("--rundir", request.rundir, None, "a folder without control characters"),
              ("--runname", request.runname, None, "a name without control characters"))
    for flag, value, pattern, expected in checks:
        _check_value(flag, value, pattern, expected)


def is_wrapper_token(token: str, wrapper_path: str | None,
                     which: Callable[[str], str | None] = shutil.which) -> bool:
    """True when ``token`` is the wrapper, not a program (see the module docstring)."""
    if wrapper_path and token in (wrapper_path, os.path.basename(wrapper_path)):
        return True
    return not token.endswith(".py") and which(token) is None


def _flag_value(tokens: list[str], index: int, flags: Sequence[str]
                ) -> tuple[str, str, int] | None:
    """``(flag, value, tokens used)`` when ``tokens[index]`` is one of ``flags``."""
    token = tokens[index]
    for flag in flags:
        if token.startswith(flag + "="):
            return flag, token[len(flag) + 1:], 1
        if token == flag and index + 1 < len(tokens):
            return flag, tokens[index + 1], 2
        if len(flag) == 2 and token.startswith(flag) and len(token) > 2:
            return flag, token[2:], 1          # short option glued to its value: -R/x
    return None


def split_launcher_flags(tokens: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Remove ``--ppn --nodes --walltime --queue`` (``=value`` or separate value)."""
    tokens = list(tokens)
    kept: list[str] = []
    values: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        found = _flag_value(tokens, index, tuple(LAUNCHER_FLAGS))
        if found:
            flag, value, used = found
            values[LAUNCHER_FLAGS[flag]] = value
            index += used
        else:
            kept.append(tokens[index])
            index += 1
    return kept, values


def _find_value(tokens: list[str], flags: Sequence[str]) -> str | None:
    """The last value given to any of ``flags`` (argparse keeps the last one)."""
    value = None
    for index in range(len(tokens)):
        found = _flag_value(tokens, index, flags)
        if found:
            value = found[1].removeprefix("=")
    return value


def slurm_walltime(value: str | None) -> str | None:
    """Classic walltime is in hours (``120`` → ``120:00:00``); Slurm forms pass through."""
    if not value:
        return None
    return f"{int(value)}:00:00" if value.isdigit() else value


def parse_job_request(tokens: Sequence[str], *, wrapper_path: str | None = None,
                      which: Callable[[str], str | None] = shutil.which) -> JobRequest:
    """A :class:`JobRequest` from the tokens after ``runJob.py`` (without ``--dry-run``)."""
    wrapper = wrapper_path if wrapper_path and wrapper_path in tokens else None
    tokens = [token for token in tokens if not (wrapper_path and token == wrapper_path)]
    if tokens and is_wrapper_token(tokens[0], wrapper_path, which):
        wrapper, tokens = tokens[0], tokens[1:]
    if not tokens:
        raise UsageError(f"no program to run{f' after the wrapper {wrapper}' if wrapper else ''}"
                         f"; {USAGE}")
    command, launcher = split_launcher_flags(tokens)
    rundir = _find_value(command, RUNDIR_FLAGS)
    if not rundir:
        raise UsageError(f"{command[0]} has no --rundir (or --outdir, -R); runJob.py "
                         "writes batch.sh there, so give the run directory")
    rundir = os.path.abspath(rundir)
    runname = _find_value(command, ("--runname", "-n")) or os.path.basename(rundir)
    _check_value("--walltime", launcher.get("walltime"), WALLTIME,
                 "hours or a Slurm time such as 1-12:00:00")
    request = JobRequest(command=tuple(command), rundir=rundir, runname=runname,
                         walltime=slurm_walltime(launcher.get("walltime")),
                         nodes=launcher.get("nodes"), ppn=launcher.get("ppn"),
                         queue=launcher.get("queue"),
                         jobid=_find_value(command, ("--jobid",)), wrapper=wrapper,
                         mem=_find_value(command, ("--mem",)))
    check_request(request)
    return request


def _template_location(environ: dict[str, str]) -> tuple[list[Path], str]:
    """The folders to search, in order, and the template name."""
    name = environ.get("APPION_JOB_TEMPLATE") or DEFAULT_TEMPLATE
    if os.sep in name:
        return [Path(name).expanduser().resolve().parent], Path(name).name
    folder = Path(environ.get("APPION_TEMPLATE_DIR") or DEFAULT_TEMPLATE_DIR).expanduser()
    return [folder, SHIPPED_TEMPLATES], name


def shell_value(value: object) -> str:
    """How ``{{ value }}`` is written: shell text as it is, anything else shell-quoted."""
    if isinstance(value, ShellText):
        return value
    return shlex.quote("" if value is None else str(value))


def shell_quote(value: object) -> ShellText:
    """The ``shell_quote`` filter: one shell word."""
    return value if isinstance(value, ShellText) else ShellText(shlex.quote(str(value)))


def sbatch_value(value: object) -> ShellText:
    """The ``sbatch`` filter: a value for an ``#SBATCH`` line, which cannot be quoted."""
    text = "" if value is None else str(value)
    if not DIRECTIVE_VALUE.fullmatch(text):
        raise DirectiveError(text)
    return ShellText(text)


def template_environment(folders: list[Path]):
    """The Jinja2 environment of job templates: values are quoted or refused here."""
    import jinja2
    loader = jinja2.FileSystemLoader([str(folder) for folder in folders])
    env = jinja2.Environment(loader=loader, autoescape=False, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, finalize=shell_value)
    env.filters["shell_quote"] = shell_quote
    env.filters["sbatch"] = sbatch_value
    return env


def _refused_directive(values: dict, refused: str) -> UsageError:
    flag = next((DIRECTIVE_FLAGS.get(key, key) for key, value in values.items()
                 if str(value) == refused), "a value")
    return UsageError(f"{flag} {refused!r} cannot go into an #SBATCH line (it holds a "
                      "space, a quote or a control character); choose another")


def render_script(request: JobRequest, environ: dict[str, str] | None = None) -> str:
    """The batch script: the job template rendered with the request's values."""
    import jinja2
    check_request(request)
    folders, name = _template_location(dict(os.environ if environ is None else environ))
    env = template_environment(folders)
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise UsageError(f"job template {name} not found in {folders[0]}; set "
                         "APPION_TEMPLATE_DIR and APPION_JOB_TEMPLATE") from None
    except jinja2.TemplateSyntaxError as error:
        raise UsageError(f"job template {error.filename or name} line {error.lineno}: "
                         f"{error.message}; fix the template") from None
    values = {"command": ShellText(shlex.join(request.command)), "runname": request.runname,
              "job_name": request.runname, "rundir": request.rundir,
              "log": os.path.join(request.rundir, f"{request.runname}.appionsub.log"),
              "walltime": request.walltime, "nodes": request.nodes, "ppn": request.ppn,
              "queue": request.queue, "jobid": request.jobid, "program": request.command[0],
              "mem": request.mem}
    try:
        return template.render(**values)
    except DirectiveError as error:
        raise _refused_directive(values, str(error)) from None
    except jinja2.UndefinedError as error:
        raise UsageError(f"job template {name}: {error.message}; it may use only "
                         f"{', '.join(sorted(values))}") from None


def write_batch_script(rundir: str, text: str) -> Path:
    """``<rundir>/batch.sh``, written to a temporary name and renamed."""
    folder = Path(rundir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "batch.sh"
        temporary = folder / f".batch.sh.{os.getpid()}.tmp"
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o755)
        temporary.replace(target)
    except OSError as error:
        raise UsageError(f"cannot write the batch script in {rundir}: {error.strerror}; "
                         "check the permissions of --rundir") from None
    return target


def record_command(rundir: str, argv: Sequence[str]) -> None:
    """Append the command line as typed to ``<rundir>/run_command.txt``."""
    line = shlex.join([PROG, *argv]) + "\n"
    with open(Path(rundir) / "run_command.txt", "a", encoding="utf-8") as log:
        log.write(line)


def submit(script: Path) -> str:
    """``sbatch`` the script from its folder; return the Slurm job id."""
    if shutil.which("sbatch") is None:
        raise EngineError("sbatch not found on PATH; run runJob.py on a Slurm submit host "
                          "(or use --dry-run to see the script)")
    try:
        done = subprocess.run(["sbatch", "--parsable", str(script)], cwd=script.parent,
                              capture_output=True, text=True, timeout=SBATCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise EngineError(f"sbatch gave no answer in {SBATCH_TIMEOUT_S} s; check the Slurm "
                          "controller (sinfo)") from None
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[0]
        raise EngineError(f"sbatch refused {script}: {reason}")
    job_id = done.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise EngineError(f"sbatch answered {done.stdout.strip()!r}, not a job id")
    return job_id


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + __doc__.split("\n\n", 2)[2].strip())
        return 0 if argv else 2
    dry_run = argv[0] == "--dry-run"
    request = parse_job_request(argv[1:] if dry_run else argv,
                                wrapper_path=os.environ.get("APPION_WRAPPER_PATH"))
    script = render_script(request)
    if dry_run:
        sys.stdout.write(script)
        return 0
    path = write_batch_script(request.rundir, script)
    record_command(request.rundir, argv)
    print(submit(path))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run_entry_point(PROG, _main, argv))


if __name__ == "__main__":
    main()
