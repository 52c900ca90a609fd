"""Celery tasks of the credits app: one-line wrappers around the lifecycle, repricing, ledger
check and webhook services.

`lifecycle_run_task` is the periodic task "credit lifecycle", `ledger_check_task` the periodic
tasks "ledger check" and "ledger audit", `webhooks_pump_task` "webhook dispatch" and
`events_prune_task` "event pruning" (created by data migrations, scheduled by
django-celery-beat). Each lifecycle task returns the id of the run it recorded (the
parent run of a sharded one).
"""
from celery import shared_task

from .models import LedgerCheckMode, LifecycleTrigger
from .services.ledger_check import ledger_check
from .services.lifecycle_shards import lifecycle_run_start, lifecycle_shard_run
from .services.repricing import recalculation_run
from .services.webhooks import events_prune, webhooks_pump


@shared_task(name="credits.tasks.lifecycle_run_task")
def lifecycle_run_task() -> int:
    """The hourly run: in this worker, or as `LIFECYCLE_SHARDS` shard tasks."""
    return lifecycle_run_start(trigger=LifecycleTrigger.BEAT).pk


@shared_task(name="credits.tasks.lifecycle_run_now_task")
def lifecycle_run_now_task() -> int:
    """A run asked for by an operator ("run now")."""
    return lifecycle_run_start(trigger=LifecycleTrigger.RUN_NOW).pk


@shared_task(name="credits.tasks.lifecycle_shard_task")
def lifecycle_shard_task(shard_index: int, shard_count: int, parent_id: int) -> int:
    """One shard (a range of account hashes) of a sharded run."""
    return lifecycle_shard_run(parent_id=parent_id, shard_index=shard_index,
                               shard_count=shard_count).pk


@shared_task(name="credits.tasks.ledger_check_task")
def ledger_check_task(mode: str = LedgerCheckMode.INCREMENTAL) -> int:
    """The periodic ledger checks ("ledger check", incremental, hourly; "ledger audit", full,
    weekly): returns the number of drifts found (each is logged and kept in the checkpoint)."""
    _checkpoint, drifts = ledger_check(mode=mode)
    return len(drifts)


# Its name is from when it lived in the pricing app: queued messages name it so.
@shared_task(name="pricing.tasks.recalculation_run_task")
def recalculation_run_task(recalculation_id: int) -> int | None:
    """Run a queued recalculation (or its dry run) to its end; a duplicate delivery does
    nothing. Returns the job's id (None: the job was deleted with its draft)."""
    job = recalculation_run(recalculation_id=recalculation_id)
    return job.pk if job is not None else None


@shared_task(name="credits.tasks.webhooks_pump_task")
def webhooks_pump_task() -> int:
    """The periodic task "webhook dispatch" (and queued on the commit of events): fan new events
    out to webhook endpoints and send what is due. Returns the deliveries attempted."""
    return webhooks_pump().sent


@shared_task(name="credits.tasks.events_prune_task")
def events_prune_task() -> int:
    """The periodic task "event pruning": events past EVENTS_RETENTION_DAYS. Returns how many
    were deleted."""
    return events_prune()
