"""Celery tasks of the pricing app: one-line wrappers around its services."""
from celery import shared_task

from .recalculation import recalculation_run


@shared_task(name="pricing.tasks.recalculation_run_task")
def recalculation_run_task(recalculation_id: int) -> int | None:
    """Run a queued recalculation (or its dry run) to its end; a duplicate delivery does
    nothing. Returns the job's id (None: the job was deleted with its draft)."""
    job = recalculation_run(recalculation_id=recalculation_id)
    return job.pk if job is not None else None
