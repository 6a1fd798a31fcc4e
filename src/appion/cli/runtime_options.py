"""The runtime flags every controller-driven command accepts, and their settings.

``--cluster``, ``--scheduler``, workers, retries, timeouts, polling and ordering are
parsed here and handed to the controller as one frozen
:class:`~appion.base.loop.options.RuntimeSettings`.
"""

from __future__ import annotations

import argparse

from appion.base.cluster.settings import KINDS, ClusterFlags, ClusterSettings
from appion.base.cluster.settings import cluster_settings as merge_cluster_settings
from appion.base.errors import UsageError
from appion.base.loop.options import CLASSIC_GIVE_UP_MINUTES, DEFAULT_INPUT_WAIT_S, RuntimeSettings
from appion.base.loop.policy import CATCHUP, CLASSIC, REVERSE


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """``--cluster``, ``--scheduler``, workers, retries, timeouts, polling and ordering."""
    group = parser.add_argument_group(
        "runtime (Dask cluster and controller; site defaults from --cluster-config, "
        "else $APPION_HOME/cluster.cfg)")
    group.add_argument("--cluster", choices=KINDS, default=None,
                       help="where the workers run (default local)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="use an existing Dask scheduler, e.g. tcp://host:8786")
    group.add_argument("--cluster-config", metavar="FILE",
                       help="INI file with [cluster] and [slurm] defaults")
    group.add_argument("--min-workers", type=int, metavar="N")
    group.add_argument("--max-workers", type=int, metavar="N")
    group.add_argument("--threads-per-worker", type=int, metavar="N")
    group.add_argument("--gpus-per-worker", type=int, metavar="N",
                       help="GPUs per worker (Slurm: --gres=gpu:N)")
    group.add_argument("--gpu-ids", metavar="LIST",
                       help="local cluster: one worker per GPU in this list, e.g. 0,1")
    group.add_argument("--retries", type=int, default=3, metavar="N",
                       help="retries of a failed or timed-out task (default 3)")
    group.add_argument("--retry-delay", type=float, default=2.0, metavar="SECONDS",
                       help="first retry's delay, doubled each time (default 2)")
    group.add_argument("--task-timeout", type=float, metavar="SECONDS",
                       help="cancel and retry a task running longer than this")
    group.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS",
                       help="how often to look for new images (default 1)")
    group.add_argument("--policy", choices=(CLASSIC, CATCHUP), default=None,
                       help="classic: oldest first (--reverse: newest first); catchup: "
                            "newest first in batches of --batch-size")
    group.add_argument("--batch-size", type=int, metavar="N",
                       help="images in flight at once, and the catch-up batch "
                            "(default 2 per worker thread, at least 8)")
    group.add_argument("--give-up-minutes", type=float, default=CLASSIC_GIVE_UP_MINUTES,
                       metavar="MIN", help="stop after this long without a new image "
                                           "(classic 180; 0: never)")
    group.add_argument("--input-wait", type=float, default=DEFAULT_INPUT_WAIT_S,
                       metavar="SECONDS",
                       help="how long to wait for an image's movie that is not there yet "
                            "before recording it as failed (default 600; with --no-wait "
                            "it is left for a later run)")
    group.add_argument("--stop-timeout", type=float, default=120.0, metavar="SECONDS",
                       help="on SIGTERM, how long running tasks may finish (default 120)")
    group.add_argument("--retry-failed", action="store_true", default=False,
                       help="try again the images recorded in failed.jsonl")
    group.add_argument("--display", choices=("auto", "live", "log"), default="auto",
                       help="live table on a terminal, log lines otherwise (default auto)")
    slurm = parser.add_argument_group("Slurm workers (--cluster slurm)")
    slurm.add_argument("--slurm-partition", metavar="NAME")
    slurm.add_argument("--slurm-account", metavar="NAME")
    slurm.add_argument("--slurm-walltime", metavar="HH:MM:SS")
    slurm.add_argument("--slurm-memory", metavar="SIZE", help="per worker job, e.g. 16GB")
    slurm.add_argument("--slurm-job-extra", action="append", metavar="LINE",
                       help="extra #SBATCH option (repeatable), e.g. --constraint=a100")


def cluster_flags(options: argparse.Namespace) -> ClusterFlags:
    """The cluster flags of the parsed command line."""
    return ClusterFlags(
        cluster=getattr(options, "cluster", None),
        scheduler=getattr(options, "scheduler", None),
        cluster_config=getattr(options, "cluster_config", None),
        min_workers=getattr(options, "min_workers", None),
        max_workers=getattr(options, "max_workers", None),
        threads_per_worker=getattr(options, "threads_per_worker", None),
        gpus_per_worker=getattr(options, "gpus_per_worker", None),
        gpu_ids=getattr(options, "gpu_ids", None),
        slurm_partition=getattr(options, "slurm_partition", None),
        slurm_account=getattr(options, "slurm_account", None),
        slurm_walltime=getattr(options, "slurm_walltime", None),
        slurm_memory=getattr(options, "slurm_memory", None),
        slurm_job_extra=tuple(getattr(options, "slurm_job_extra", None) or ()))


def cluster_settings(options: argparse.Namespace) -> ClusterSettings:
    """The cluster: the command line over the config file over the defaults."""
    return merge_cluster_settings(cluster_flags(options))


def _positive(value: float | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{flag} must be positive, not {value}")


def runtime_settings(options: argparse.Namespace) -> RuntimeSettings:
    """Settings from the parsed command line (classic ``--no-wait/--mrclist/--limit``
    mean: exit when nothing is pending)."""
    cluster = cluster_settings(options)
    policy = getattr(options, "policy", None) or CLASSIC
    if policy == CLASSIC and getattr(options, "reverse", False):
        policy = REVERSE
    retries = getattr(options, "retries", 3)
    if retries is None or retries < 0:
        raise UsageError(f"--retries must be 0 or more, not {retries}")
    for flag in ("task_timeout", "poll_interval", "stop_timeout", "retry_delay"):
        _positive(getattr(options, flag, None), "--" + flag.replace("_", "-"))
    input_wait = getattr(options, "input_wait", DEFAULT_INPUT_WAIT_S)
    if input_wait is None or not 0 <= input_wait < float("inf"):
        raise UsageError(f"--input-wait must be 0 or more seconds, not {input_wait}")
    batch = getattr(options, "batch_size", None)
    if batch is not None and batch < 1:
        raise UsageError(f"--batch-size must be at least 1, not {batch}")
    if batch is None:
        batch = max(8, 2 * cluster.max_workers * cluster.threads_per_worker)
    limit = getattr(options, "limit", None)
    wait = (getattr(options, "wait", True) and not getattr(options, "mrcnames", None)
            and limit is None)
    give_up = getattr(options, "give_up_minutes", CLASSIC_GIVE_UP_MINUTES)
    return RuntimeSettings(
        cluster=cluster, policy=policy, batch_size=batch, retries=retries,
        retry_delay_s=getattr(options, "retry_delay", 2.0) or 2.0,
        task_timeout_s=getattr(options, "task_timeout", None),
        poll_interval_s=getattr(options, "poll_interval", 1.0) or 1.0,
        give_up_s=give_up * 60 if give_up else None,
        stop_timeout_s=getattr(options, "stop_timeout", 120.0) or 120.0,
        input_wait_s=float(input_wait), wait=bool(wait), limit=limit,
        retry_failed=bool(getattr(options, "retry_failed", False)),
        display=getattr(options, "display", "auto") or "auto")


__all__ = ["add_runtime_options", "cluster_flags", "cluster_settings", "runtime_settings"]
