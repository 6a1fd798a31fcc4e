"""Which images a step would process now: what ``--dry-run`` prints, where the
controller starts."""

from __future__ import annotations

from appion.base.step import RunContext, Step


def continuing(run: RunContext) -> bool:
    """Classic ``--continue`` (the default): skip what this run already did.

    ``--no-continue`` processes every selected image again; storing is idempotent,
    so that replaces a run's results instead of duplicating them.
    """
    return run.selection.continue_run


def done_image_ids(step: Step, run: RunContext) -> set[int]:
    """The images ``step`` has stored for this run, or none with ``--no-continue``."""
    return set(step.done_image_ids(run)) if continuing(run) else set()


def pending_image_ids(step: Step, run: RunContext) -> list[int]:
    """Selected images, minus done ones, in processing order, then ``--limit``."""
    from appion.base.retrieve.images import select_image_ids
    done = done_image_ids(step, run)
    pending = [image_id for image_id in select_image_ids(run.selection, run.session["id"])
               if image_id not in done]
    limit = run.selection.limit
    return pending[:limit] if limit else pending
