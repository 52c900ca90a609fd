"""Celery tasks of the credits app: one-line wrappers around the lifecycle services.

`lifecycle_run_task` is the periodic task "credit lifecycle" (created by a data migration,
scheduled by django-celery-beat). Each returns the id of the run it recorded (the parent run
of a sharded one).
"""
from celery import shared_task

from .models import LifecycleTrigger
from .services.lifecycle_shards import lifecycle_run_start, lifecycle_shard_run


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
