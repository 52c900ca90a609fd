"""Runs whose process died (killed, out of memory, connection lost): the next real run marks them
failed, with why, and closes the sharded runs they leave without a live shard.

A run is alive while its database session holds the run's own lock, taken before its row could be
seen (`run.lifecycle_run_claimed_create`) and kept until the run is recorded.
"""
from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ...events import lifecycle_run_finished
from ...locks import lifecycle_run_unclaimed_sql
from ...models import LifecycleRun, LifecycleRunStatus
from .parent import lifecycle_run_summarise

logger = logging.getLogger(__package__)

_DIED = ("its process died, or lost its database connection, before the run finished{found}. "
         "The batches it committed stand, counted here, and their charges are this run's; "
         "the batch in progress was rolled back, and a later run does it.")
_PARENT_DIED = ("the process running its shards died, or lost its database connection{found}; "
                "a later run does their accounts.")


def lifecycle_runs_fail_dead(*, found_by: LifecycleRun | None = None) -> list[int]:
    """Mark failed, with the reason, every run left `running` by a process that died, and close
    the sharded runs they leave without a live shard, each with its `lifecycle.run_finished`
    event. Returns the ids marked failed.

    A run is dead when nobody holds its lock: its process took it before the row could be seen
    and keeps it until the run is recorded, and nothing else ever takes it. So a live run, busy
    in any process, is never touched, and a dead one never comes back to life. The test and the
    update are one statement, guarded by the status: two of these at once mark each run once.
    Runs without a session (the parent of Celery shards, rows older than migration 0009) are
    not judged here: a parent closes when its shards have finished.
    """
    found = "" if found_by is None else f"; found by run {found_by.pk}"
    table = LifecycleRun._meta.db_table
    parent_sql = "parent_id IS NULL AND shard_index IS NULL AND shard_count > 1"
    params = {"running": LifecycleRunStatus.RUNNING, "failed": LifecycleRunStatus.FAILED,
              "now": timezone.now(), "newline": "\n", "reason": _DIED.format(found=found)}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""
            UPDATE {table} SET status = %(failed)s, finished_at = %(now)s, errors = errors + 1,
                error_messages = concat_ws(%(newline)s, NULLIF(error_messages, ''), %(reason)s)
            WHERE status = %(running)s AND session_pid IS NOT NULL AND NOT ({parent_sql})
              AND {lifecycle_run_unclaimed_sql(f"{table}.id")}
            RETURNING id, parent_id""", params)
        failed = cursor.fetchall()
        # Announced as any finished run is, in the transaction that records its end.
        for run in LifecycleRun.objects.filter(pk__in=[run_id for run_id, _ in failed]) \
                .order_by("pk"):
            lifecycle_run_finished(run=run)
        # A parent run in one process (`run_lifecycle --shards`) whose process died: its
        # shards that never started never will. One whose shard still runs is left to it.
        cursor.execute(f"""
            SELECT id FROM {table} p
            WHERE status = %(running)s AND session_pid IS NOT NULL AND {parent_sql}
              AND {lifecycle_run_unclaimed_sql("p.id")}
              AND NOT EXISTS (SELECT 1 FROM {table} s
                              WHERE s.parent_id = p.id AND s.status = %(running)s)""", params)
        dead_parents = [row[0] for row in cursor.fetchall()]
    for parent_id in dead_parents:
        lifecycle_run_summarise(parent_id=parent_id,
                                abandoned=_PARENT_DIED.format(found=found))
    for parent_id in sorted({parent_id for _, parent_id in failed} - {None, *dead_parents}):
        lifecycle_run_summarise(parent_id=parent_id)  # closes it if that was its last shard
    for run_id, _ in failed:
        logger.warning("lifecycle run %s: its process died; marked failed", run_id)
    return sorted([run_id for run_id, _ in failed] + dead_parents)


def dead_runs_fail_quietly(*, found_by: LifecycleRun) -> None:
    """`lifecycle_runs_fail_dead` as a run's housekeeping: were it to fail, the hour's billing
    must still go on (logged, not raised)."""
    try:
        with transaction.atomic():
            lifecycle_runs_fail_dead(found_by=found_by)
    except DatabaseError:
        logger.exception("lifecycle run %s: could not mark the dead runs failed", found_by.pk)
