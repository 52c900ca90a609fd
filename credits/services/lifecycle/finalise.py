"""Step 4: a resource of the batch still pending deletion at its deadline is removed (final),
ended at its deadline."""
from __future__ import annotations

from ...events import resources_transition
from ...models import ResourceGrace, ResourceStatus, StatusChangeReason
from .batch import Batch, RunCounts
from .sql import in_batch

_GRACE = ResourceGrace._meta.db_table


def finalise(cursor, batch: Batch) -> RunCounts:
    """Remove the batch's resources whose grace is over at `batch.now`; returns them."""
    ids = resources_transition(
        cursor, params=batch.params,
        candidates_sql=f"SELECT resource_id FROM {_GRACE} WHERE {in_batch('owner_id')} "
                       f"AND delete_after <= %(now)s",
        from_status=ResourceStatus.REMOVING, to_status=ResourceStatus.REMOVED,
        reason=StatusChangeReason.GRACE_EXPIRED, actor=batch.actor, at=batch.now,
        run_id=batch.run_id, set_sql="ended_at = delete_after")
    return RunCounts(removed=len(ids), removed_ids=ids)
