"""How the controller runs: the runtime settings every controller-driven command has.

The command line (``appion.cli.runtime_options``) turns the runtime flags into one
frozen :class:`RuntimeSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

from appion.base.cluster.settings import ClusterSettings, cluster_settings
from appion.base.loop.policy import CATCHUP, CLASSIC, REVERSE

#: Classic appionLoop2 gives up after this long without a new image.
CLASSIC_GIVE_UP_MINUTES = 180.0
#: How long an input that is not there yet (a movie still being transferred) is waited
#: for before the image is recorded as failed (seconds).
DEFAULT_INPUT_WAIT_S = 600.0


@dataclass(frozen=True)
class RuntimeSettings:
    """How the controller runs: cluster, ordering, retries, timeouts, exit rules."""

    cluster: ClusterSettings
    policy: str = CLASSIC
    batch_size: int = 8
    retries: int = 3
    retry_delay_s: float = 2.0
    task_timeout_s: float | None = None
    poll_interval_s: float = 1.0
    give_up_s: float | None = CLASSIC_GIVE_UP_MINUTES * 60
    stop_timeout_s: float = 120.0
    input_wait_s: float = DEFAULT_INPUT_WAIT_S
    wait: bool = True
    limit: int | None = None
    retry_failed: bool = False
    display: str = "auto"


def default_settings(**changes) -> RuntimeSettings:
    """The settings of a command line without runtime flags (``changes`` applied)."""
    cluster = changes.pop("cluster", None) or cluster_settings()
    batch = max(8, 2 * cluster.max_workers * cluster.threads_per_worker)
    return RuntimeSettings(**{"cluster": cluster, "batch_size": batch, **changes})


__all__ = ["CATCHUP", "CLASSIC", "CLASSIC_GIVE_UP_MINUTES", "DEFAULT_INPUT_WAIT_S",
           "REVERSE", "RuntimeSettings", "default_settings"]
