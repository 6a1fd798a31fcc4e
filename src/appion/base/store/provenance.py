"""Script provenance (``Script*`` tables), as classic ``appionScript.uploadScriptData``.

One ``ScriptProgramRun`` per run with its program, user, host and run directory,
and one ``ScriptParamName``/``ScriptParamValue`` pair per parameter that has a
command-line usage (``--bin=2``, ``--commit``), which the command line computes
(:func:`appion.cli.params.param_usages`).  Every row goes through
``sinedon.set``, so recording the same run twice adds nothing.
"""

from __future__ import annotations

import getpass
import os
import platform
import pwd
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import appion
import sinedon
from appion.base.store.jobs import path_id


@dataclass(frozen=True)
class ParamUsage:
    """One parameter: its ``dest`` name, its value as text and its command-line usage."""

    name: str
    value: str
    usage: str


def _total_memory_kb() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024
    except (ValueError, OSError):
        return None


def _cpu_vendor() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _distro() -> str | None:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        return None


def _ip_address(hostname: str) -> str | None:
    try:
        return socket.gethostbyname(hostname)
    except OSError:
        return None


def host_row() -> dict[str, Any]:
    """This host as a ``ScriptHostName`` row."""
    hostname = socket.gethostname()
    return {"name": hostname, "ip": _ip_address(hostname),
            "system": platform.system().lower(), "distro": _distro(),
            "arch": platform.machine(), "nproc": os.cpu_count(),
            "memory": _total_memory_kb(), "cpu_vendor": _cpu_vendor(),
            "gpu_vendor": "nvidia" if Path("/proc/driver/nvidia").exists() else None}


def user_row() -> dict[str, Any]:
    """The current user as a ``ScriptUserName`` row."""
    uid = os.getuid()
    try:
        fullname = pwd.getpwuid(uid).pw_gecos.split(",")[0] or None
    except KeyError:
        fullname = None
    return {"name": getpass.getuser(), "uid": uid, "gid": os.getgid(), "fullname": fullname}


def record_program_run(*, program: str, runname: str, rundir: str, job_id: int | None,
                       params: list[ParamUsage]) -> int:
    """Write the ``Script*`` rows of a run (idempotently); return the ``ScriptProgramRun`` id."""
    with sinedon.atomic(sinedon.APPION):
        program_id = sinedon.set("ScriptProgramName", {"name": program})
        run_id = sinedon.set("ScriptProgramRun", {
            "runname": runname, "progname": program_id,
            "username": sinedon.set("ScriptUserName", user_row()),
            "hostname": sinedon.set("ScriptHostName", host_row()),
            "rundir": path_id(rundir), "job": job_id,
            "appion_path": path_id(str(Path(appion.__file__).resolve().parent)),
            "unixshell": os.environ.get("SHELL"), "revision": appion.__version__})
        for param in params:
            name_id = sinedon.set("ScriptParamName", {"name": param.name,
                                                      "progname": program_id})
            sinedon.set("ScriptParamValue", {"value": param.value, "usage": param.usage,
                                             "paramname": name_id, "progrun": run_id})
    return run_id
