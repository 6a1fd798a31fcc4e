"""Which GPUs a worker owns: one worker per GPU, its ids handed to the engine.

A local cluster started with ``--gpu-ids 0,1`` runs one worker per GPU (or per
``--gpus-per-worker`` GPUs) with ``CUDA_VISIBLE_DEVICES`` and ``APPION_GPU_IDS``
set to its own devices; a Slurm worker gets its GPUs from ``--gres=gpu:N`` and
Slurm sets ``CUDA_VISIBLE_DEVICES``.  An engine calls :func:`worker_gpu_ids` inside
``run_task`` and passes the ids to the program (MotionCor2's ``-Gpu``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

GPU_IDS_VARIABLE = "APPION_GPU_IDS"


def worker_environment(gpu_ids: tuple[int, ...]) -> dict[str, str]:
    """The environment of a worker that owns ``gpu_ids``."""
    text = ",".join(str(gpu) for gpu in gpu_ids)
    return {"CUDA_VISIBLE_DEVICES": text, GPU_IDS_VARIABLE: text}


def worker_gpu_ids(environ: Mapping[str, str] | None = None) -> tuple[int, ...]:
    """The device numbers this worker may use, as the CUDA runtime numbers them.

    With ``CUDA_VISIBLE_DEVICES`` set the process sees its devices as ``0..n-1``;
    without it, ``APPION_GPU_IDS`` (physical ids) is used as given; with neither,
    ``(0,)`` (classic Appion's default ``--gpuids 0``).
    """
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip():
        return tuple(range(len([part for part in visible.split(",") if part.strip()])))
    assigned = environ.get(GPU_IDS_VARIABLE, "")
    ids = tuple(int(part) for part in assigned.split(",") if part.strip().isdigit())
    return ids or (0,)


def split_gpus(gpu_ids: tuple[int, ...], per_worker: int) -> list[tuple[int, ...]]:
    """Group GPU ids into workers of ``per_worker`` GPUs (leftovers stay unused)."""
    per_worker = max(1, per_worker)
    count = len(gpu_ids) // per_worker
    return [tuple(gpu_ids[i * per_worker:(i + 1) * per_worker]) for i in range(count)]
