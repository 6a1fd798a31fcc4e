"""What the controller keeps in the run directory besides the database.

* ``.appion.lock``: an ``fcntl`` lock held while a controller runs, so that one run
  directory has one controller; it holds the owner's pid and host for the message
  a second controller prints.
* ``failed.jsonl``: images that failed after every retry, one JSON object a line,
  so that a restart does not retry them forever and ``appion status`` shows them.
  An image whose input never arrived within ``--input-wait`` is marked
  ``not_ready``: a restart waits for it again (the movie may have come since).
* ``handoff.jsonl``: for chained steps, the images a step produced for the next
  one (the aligned micrographs CTF consumes), so that a restart resumes a chain
  cut between the two steps.
* ``appion-status.json``: the latest counts, rewritten atomically every few
  seconds, read by ``appion status``.

Every append is one ``write`` of one line followed by ``flush``; every rewrite goes
to a temporary name in the same folder and is renamed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from appion.base.errors import AppionError
from appion.base.files import write_text

LOCK_NAME = ".appion.lock"
FAILED_NAME = "failed.jsonl"
HANDOFF_NAME = "handoff.jsonl"
STATUS_NAME = "appion-status.json"


class RunLock:
    """An exclusive, non-blocking ``fcntl`` lock on ``<rundir>/.appion.lock``.

    The kernel releases it when the process dies, so a crashed controller never
    leaves a stale lock behind.
    """

    def __init__(self, rundir: Path):
        self.path = Path(rundir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise already_running(owner, self.path.parent) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def already_running(owner: str, rundir: Path | str) -> AppionError:
    """The refusal of a second controller in ``rundir``, held by ``owner`` (see
    :func:`lock_owner`)."""
    return AppionError(f"another controller ({owner}) is already running in {rundir}; "
                       "stop it first or choose another --rundir")


def _read_owner(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode(errors="replace").split()
    if len(text) >= 2:
        return f"pid {text[0]} on host {text[1]}"
    return "pid unknown"


def lock_owner(rundir: Path) -> str | None:
    """``"pid N on host H"`` while a controller holds the run directory, else ``None``."""
    path = Path(rundir) / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_owner(fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Failure:
    """An image a step gave up on, with the last error; ``not_ready`` when it was only
    waiting for its input."""

    step: str
    image_id: int
    error: str
    attempts: int
    time: float
    not_ready: bool = False


def _append_line(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, sort_keys=True) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """JSON records of a JSON-lines file; a torn last line (a crash mid-write) is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def record_failure(rundir: Path, failure: Failure) -> None:
    _append_line(Path(rundir) / FAILED_NAME, asdict(failure))


def read_failures(rundir: Path) -> list[Failure]:
    """The recorded failures, the latest per (step, image)."""
    latest: dict[tuple[str, int], Failure] = {}
    for record in _read_lines(Path(rundir) / FAILED_NAME):
        error = str(record["error"])
        not_ready = bool(record.get("not_ready", error.startswith("InputNotReady:")))
        failure = Failure(str(record["step"]), int(record["image_id"]), error,
                          int(record.get("attempts", 0)), float(record.get("time", 0)),
                          not_ready)
        latest[(failure.step, failure.image_id)] = failure
    return list(latest.values())


def clear_failures(rundir: Path) -> None:
    """Forget recorded failures (``--retry-failed``), keeping them as ``failed.jsonl.old``."""
    path = Path(rundir) / FAILED_NAME
    if path.exists():
        os.replace(path, path.with_suffix(".jsonl.old"))


def record_handoff(rundir: Path, step: str, image_id: int, outputs: Iterable[int]) -> None:
    _append_line(Path(rundir) / HANDOFF_NAME,
                 {"step": step, "image_id": int(image_id), "outputs": [int(o) for o in outputs]})


def read_handoffs(rundir: Path, step: str) -> list[int]:
    """Every image id that ``step`` handed to the next step, in order."""
    outputs: list[int] = []
    for record in _read_lines(Path(rundir) / HANDOFF_NAME):
        if record.get("step") == step:
            outputs.extend(int(o) for o in record.get("outputs", ()))
    return outputs


def read_handoffs_by_image(rundir: Path, step: str) -> list[tuple[int, list[int]]]:
    """``(image_id, outputs)`` of every handoff ``step`` recorded, in order."""
    return [(int(record["image_id"]), [int(o) for o in record.get("outputs", ())])
            for record in _read_lines(Path(rundir) / HANDOFF_NAME)
            if record.get("step") == step]


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON through a temporary name next to ``path``."""
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def write_status(rundir: Path, status: dict[str, Any]) -> None:
    write_json_atomically(Path(rundir) / STATUS_NAME, {**status, "updated": time.time()})


def read_status(rundir: Path) -> dict[str, Any] | None:
    path = Path(rundir) / STATUS_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise AppionError(f"cannot read {path}: {error}; the controller rewrites it every "
                          "few seconds, try again") from None
