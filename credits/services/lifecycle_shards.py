"""Starting lifecycle runs: in one process, or split into shards over ranges of account hashes.

A sharded run is a parent `LifecycleRun` and one shard run per account-hash range, linked to it
from the moment the shard starts. Each shard, once recorded, adds up the finished shards into the
parent; the one that finds every shard finished closes the parent. So no Celery result backend (a
chord's) is needed. A shard whose process died is marked failed by the next run, which closes the
parent if that was its last shard; a parent whose shard task was lost before it started stays
`running`, visibly.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..locks import lifecycle_run_unclaim
from ..models import LifecycleRun, LifecycleRunStatus, LifecycleTrigger
from .lifecycle import (
    RunCounts,
    Shard,
    lifecycle_run,
    lifecycle_run_claimed_create,
    lifecycle_run_summarise,
    refuse_time_travel,
)

logger = logging.getLogger(__name__)


def lifecycle_run_start(*, trigger: str) -> LifecycleRun:
    """What the periodic task does: one run here, or `LIFECYCLE_SHARDS` shard tasks."""
    if settings.LIFECYCLE_SHARDS <= 1:
        return lifecycle_run(trigger=trigger)
    return lifecycle_run_sharded(shard_count=settings.LIFECYCLE_SHARDS, trigger=trigger)


def lifecycle_run_sharded(*, shard_count: int, trigger: str) -> LifecycleRun:
    """Record a parent run and send a Celery group of `shard_count` shard tasks for it.

    The group is sent once the parent is committed, so a worker always finds it. Returns the
    parent, still `running`: the last shard to finish closes it.
    """
    from celery import group

    from ..tasks import lifecycle_shard_task

    parent = lifecycle_run_parent_create(shard_count=shard_count, trigger=trigger)
    shards = group(lifecycle_shard_task.s(index, shard_count, parent.pk)
                   for index in range(shard_count))
    transaction.on_commit(shards.apply_async)
    return parent


def lifecycle_run_sharded_here(*, shard_count: int, trigger: str, at: datetime | None = None,
                               wait: bool = False, batch_size: int | None = None,
                               on_progress: Callable[[int], None] | None = None) -> LifecycleRun:
    """Run every shard in this process, one after another (`manage.py run_lifecycle --shards`).

    The same shard service as the Celery tasks; the parent gets `.counts`, the shards' counts
    added up (with the ids of the resources flagged, restored and removed). This process runs
    the parent too: should it die between shards, the next run closes the parent as failed.
    A dry run is never sharded (it records nothing: `lifecycle_run(dry_run=True)`).
    `on_progress` is called with the accounts of each batch done, as `lifecycle_run` calls it.
    """
    # Checked before a parent is recorded for nothing.
    refuse_time_travel(at=at, dry_run=False)
    parent = lifecycle_run_parent_create(shard_count=shard_count, trigger=trigger, at=at,
                                         run_here=True)
    counts = RunCounts()
    try:
        for index in range(shard_count):
            shard = lifecycle_shard_run(parent_id=parent.pk, shard_index=index,
                                        shard_count=shard_count, at=at, wait=wait,
                                        batch_size=batch_size, on_progress=on_progress)
            counts.add(getattr(shard, "counts", RunCounts()))  # a skipped shard has none
    except BaseException as exc:  # the shards after this one will not run
        try:
            lifecycle_run_summarise(parent_id=parent.pk,
                                    abandoned=f"stopped: {type(exc).__name__}: {exc}"[:500])
        except Exception:  # e.g. the connection is gone: the next run finds the parent dead
            logger.exception("lifecycle run %s: could not record why it stopped", parent.pk)
        raise
    finally:
        lifecycle_run_unclaim(parent.pk)
    parent.refresh_from_db()
    parent.counts = counts
    return parent


def lifecycle_shard_run(*, parent_id: int, shard_index: int, shard_count: int,
                        at: datetime | None = None, wait: bool = False,
                        batch_size: int | None = None,
                        on_progress: Callable[[int], None] | None = None) -> LifecycleRun:
    """One shard of a sharded run, linked to its parent as it starts; once recorded, added up
    into the parent."""
    run = lifecycle_run(at=at, trigger=LifecycleTrigger.SHARD,
                        shard=Shard(index=shard_index, count=shard_count, parent_id=parent_id),
                        wait=wait, batch_size=batch_size, on_progress=on_progress)
    lifecycle_run_summarise(parent_id=parent_id)
    return run


def lifecycle_run_parent_create(*, shard_count: int, trigger: str,
                                at: datetime | None = None,
                                run_here: bool = False) -> LifecycleRun:
    """The parent run of `shard_count` shard runs (`lifecycle_shard_run`), still running.

    `run_here`: this process runs the shards, and holds the parent's lock until it is done
    (`lifecycle_run_unclaim`). Otherwise (Celery) no process runs the parent: its shards close it.
    """
    now = timezone.now()
    if run_here:
        return lifecycle_run_claimed_create(started_at=now, as_of=at or now, trigger=trigger,
                                            shard_count=shard_count)
    return LifecycleRun.objects.create(started_at=now, as_of=at or now, trigger=trigger,
                                       shard_count=shard_count,
                                       status=LifecycleRunStatus.RUNNING)
