"""Which Dask cluster to run on, from the command line and an optional config file.

The command line (``appion.cli.runtime_options``) hands the cluster flags over as a
:class:`ClusterFlags`; :func:`cluster_settings` merges them over the config file.

The config file (``--cluster-config FILE``, else ``$APPION_HOME/cluster.cfg`` when
it exists) holds a site's defaults, so that the web's command lines need not carry
them; a flag given on the command line wins.  Its keys are the long flag names
without dashes::

    [cluster]
    cluster = slurm
    min-workers = 0
    max-workers = 8
    threads-per-worker = 2
    gpus-per-worker = 1

    [slurm]
    partition = gpu
    account = cryoem
    walltime = 04:00:00
    memory = 16GB
    job-extra =
        --constraint=a100
        --qos=high
    prologue =
        module load cuda/12
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from appion.base.errors import UsageError

KINDS = ("local", "slurm")
CONFIG_NAME = "cluster.cfg"

#: The Dask config of Appion's workers: handed by each Nanny of a local cluster to its
#: worker (a dotted key: a Nanny's merge is shallow), and exported by a Slurm worker's
#: job script (:func:`worker_config_exports`).  Dask's statistical profiler samples
#: every thread's stack 100 times a second and keeps one call tree per second for
#: ``distributed.admin.low-level-log-length`` (1000) seconds: with the engines' deep
#: numpy/matplotlib stacks that is ~100-200 kB a second, so a worker's memory grew by
#: ~120 kB per exposure for the first ~17 minutes of a run.  Nothing reads those
#: profiles (only the dashboard's Profile page would).
WORKER_CONFIG: dict[str, object] = {"distributed.worker.profile.enabled": False}


def worker_config_exports(config: Mapping[str, object] = WORKER_CONFIG) -> list[str]:
    """``export DASK_…=value`` lines setting ``config`` (dotted keys) in a worker started
    by a job script, as Dask reads its configuration from the environment."""
    return [f"export DASK_{key.upper().replace('.', '__').replace('-', '_')}={value!r}"
            for key, value in config.items()]


@dataclass(frozen=True)
class SlurmSettings:
    """``#SBATCH`` settings of the worker jobs."""

    partition: str | None = None
    account: str | None = None
    walltime: str = "01:00:00"
    memory: str = "4GB"
    job_extra: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterSettings:
    """A local cluster, Slurm jobs through dask-jobqueue, or an existing scheduler."""

    kind: str = "local"
    scheduler: str | None = None
    min_workers: int = 1
    max_workers: int = 2
    threads_per_worker: int = 1
    gpus_per_worker: int = 0
    gpu_ids: tuple[int, ...] = ()
    slurm: SlurmSettings = SlurmSettings()

    @property
    def adaptive(self) -> bool:
        return self.min_workers < self.max_workers

    def describe(self) -> str:
        if self.scheduler:
            return f"existing Dask scheduler at {self.scheduler}"
        workers = (f"{self.max_workers}" if not self.adaptive
                   else f"{self.min_workers}-{self.max_workers} (adaptive)")
        gpus = (f", GPUs {','.join(map(str, self.gpu_ids))}" if self.gpu_ids
                else f", {self.gpus_per_worker} GPU(s) each" if self.gpus_per_worker else "")
        return (f"{self.kind} cluster, {workers} worker(s) of "
                f"{self.threads_per_worker} thread(s){gpus}")


@dataclass(frozen=True)
class ClusterFlags:
    """The cluster flags given on the command line (``None``: not given)."""

    cluster: str | None = None                 # --cluster
    scheduler: str | None = None               # --scheduler
    cluster_config: str | None = None          # --cluster-config
    min_workers: int | None = None             # --min-workers
    max_workers: int | None = None             # --max-workers
    threads_per_worker: int | None = None      # --threads-per-worker
    gpus_per_worker: int | None = None         # --gpus-per-worker
    gpu_ids: str | None = None                 # --gpu-ids
    slurm_partition: str | None = None         # --slurm-partition
    slurm_account: str | None = None           # --slurm-account
    slurm_walltime: str | None = None          # --slurm-walltime
    slurm_memory: str | None = None            # --slurm-memory
    slurm_job_extra: tuple[str, ...] = ()      # --slurm-job-extra (repeatable)


def default_config_path() -> Path:
    home = os.environ.get("APPION_HOME") or Path.home() / ".appion"
    return Path(home).expanduser() / CONFIG_NAME


def read_config(path: Path | None, *, required: bool) -> dict[str, dict[str, str]]:
    """The sections of a cluster config file as dicts (empty when absent and optional)."""
    if path is None or (not required and not path.is_file()):
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except OSError as error:
        raise UsageError(f"cannot read the cluster config {path}: {error.strerror}; "
                         "check --cluster-config") from None
    except configparser.Error as error:
        raise UsageError(f"{path} is not a valid cluster config "
                         f"({str(error).splitlines()[0]}); see 'appion pipeline --help'"
                         ) from None
    return {name: dict(parser[name]) for name in parser.sections()}


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _int(value: str | int, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise UsageError(f"{name} must not be negative, not {number}")
    return number


def parse_gpu_ids(text: str | None) -> tuple[int, ...]:
    """``"0,1,3"`` -> ``(0, 1, 3)``; empty or ``None`` -> ``()``."""
    if not text:
        return ()
    try:
        return tuple(int(part) for part in str(text).replace(" ", "").split(",") if part)
    except ValueError:
        raise UsageError(f"--gpu-ids {text!r} is not a comma-separated list of GPU "
                         "numbers such as 0,1") from None


def cluster_settings(flags: ClusterFlags = ClusterFlags()) -> ClusterSettings:
    """Merge the command-line flags over the config file over the defaults."""
    explicit = flags.cluster_config
    path = Path(explicit).expanduser() if explicit else default_config_path()
    config = read_config(path, required=bool(explicit))
    general, slurm = config.get("cluster", {}), config.get("slurm", {})

    def pick(dest: str, key: str, section: dict[str, str], default):
        value = getattr(flags, dest)
        if value is None:
            value = section.get(key)
        return default if value is None else value

    kind = pick("cluster", "cluster", general, "local")
    if kind not in KINDS:
        raise UsageError(f"cluster {kind!r} is unknown; use one of {', '.join(KINDS)}")
    gpu_ids = parse_gpu_ids(pick("gpu_ids", "gpu-ids", general, None))
    gpus_per_worker = _int(pick("gpus_per_worker", "gpus-per-worker", general,
                                1 if gpu_ids else 0), "--gpus-per-worker")
    if gpu_ids and gpus_per_worker == 0:
        gpus_per_worker = 1
    default_max = (max(1, len(gpu_ids) // gpus_per_worker) if gpu_ids
                   else max(1, min(4, os.cpu_count() or 1)))
    max_workers = _int(pick("max_workers", "max-workers", general, default_max),
                       "--max-workers")
    min_default = 0 if kind == "slurm" else max_workers
    min_workers = _int(pick("min_workers", "min-workers", general, min_default),
                       "--min-workers")
    if max_workers < 1:
        raise UsageError("--max-workers must be at least 1")
    if min_workers > max_workers:
        raise UsageError(f"--min-workers {min_workers} is more than --max-workers "
                         f"{max_workers}; lower one of them")
    threads = _int(pick("threads_per_worker", "threads-per-worker", general,
                        1), "--threads-per-worker") or 1
    extra = list(_lines(slurm.get("job-extra")))
    extra += list(flags.slurm_job_extra)
    return ClusterSettings(
        kind=kind, scheduler=pick("scheduler", "scheduler", general, None),
        min_workers=min_workers, max_workers=max_workers, threads_per_worker=threads,
        gpus_per_worker=gpus_per_worker, gpu_ids=gpu_ids,
        slurm=SlurmSettings(
            partition=pick("slurm_partition", "partition", slurm, None),
            account=pick("slurm_account", "account", slurm, None),
            walltime=pick("slurm_walltime", "walltime", slurm, SlurmSettings.walltime),
            memory=pick("slurm_memory", "memory", slurm, SlurmSettings.memory),
            job_extra=tuple(extra), prologue=_lines(slurm.get("prologue"))))
