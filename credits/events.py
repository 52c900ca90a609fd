"""Resource status transitions and their audit rows (`ResourceStatusChange`), written here only.

Every change of a resource's status goes through this module, in the caller's transaction: a
registration's first status, the owner's forget, the operators' restore, grace extension and
delete-now (one resource each), and the lifecycle's flag, restore and removal (set-based, a batch
of accounts at a time). Each transition is guarded by the status it starts from, and its audit
row is written with it or not at all. Notifications (the coming transactional outbox) hook in
here: a row per transition written in the same transaction, so none is sent for a change that
was rolled back, and none is missed.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .models import Resource, ResourceStatusChange, StatusChangeReason
from .temp_tables import drop_temps, temp

_RESOURCE = Resource._meta.db_table
_STATUS_CHANGE = ResourceStatusChange._meta.db_table
_REASON_MAX_CHARS = ResourceStatusChange._meta.get_field("reason").max_length


def resource_registered(*, resource: Resource, actor: str, at: datetime) -> ResourceStatusChange:
    """The audit row of a new resource's first status (from nothing), in the transaction that
    stores the resource."""
    return ResourceStatusChange.objects.create(
        resource=resource, from_status="", to_status=resource.status,
        reason=StatusChangeReason.REGISTERED, actor=actor, at=at)


def resource_transition(*, resource: Resource, from_status: str, to_status: str, reason: str,
                        actor: str, at: datetime,
                        changes: Mapping[str, Any] | None = None) -> bool:
    """Move one resource from `from_status` to `to_status` (setting the fields in `changes`
    too), with its audit row. Guarded: when the resource is no longer in `from_status` nothing
    is written and the answer is False (the caller says why, in its own terms). The caller holds
    the resource's lock; `resource` is not refreshed."""
    updated = (Resource.objects.filter(pk=resource.pk, status=from_status)
               .update(status=to_status, **(changes or {})))
    if updated != 1:
        return False
    ResourceStatusChange.objects.create(resource=resource, from_status=from_status,
                                        to_status=to_status, reason=reason[:_REASON_MAX_CHARS],
                                        actor=actor, at=at)
    return True


def resources_transition(cursor, *, candidates_sql: str, params: dict, from_status: str,
                         to_status: str, reason: str, actor: str, at: datetime,
                         run_id: int | None, set_sql: str) -> list[int]:
    """Move the resources selected by `candidates_sql` (ids, with `params`) that are in
    `from_status` to `to_status`, setting `set_sql` (`column = …, …` with `params`) too: their
    audit rows, then one `UPDATE … WHERE status = from_status`. Returns the ids moved.

    The caller holds the locks of the resources' accounts, so the set cannot change between the
    statements; should it change anyway, the transition is refused (RuntimeError) rather than
    audited wrongly. The parameter names `from_status`, `to_status`, `audit_reason`,
    `audit_actor`, `audit_at` and `audit_run` are this function's.
    """
    params = {**params, "from_status": from_status, "to_status": to_status,
              "audit_reason": reason, "audit_actor": actor, "audit_at": at, "audit_run": run_id}
    temp(cursor, "lc_move", f"""
        SELECT r.id FROM {_RESOURCE} r
        WHERE r.id IN ({candidates_sql}) AND r.status = %(from_status)s""", params)
    cursor.execute("SELECT id FROM lc_move ORDER BY id")
    ids = [row[0] for row in cursor.fetchall()]
    # Both statements run even for an empty set: a batch costs the same queries whatever
    # its data, which keeps a run's query count flat.
    cursor.execute(f"""
        INSERT INTO {_STATUS_CHANGE} (resource_id, from_status, to_status,
                                      reason, actor, at, run_id)
        SELECT id, %(from_status)s, %(to_status)s, %(audit_reason)s, %(audit_actor)s,
               %(audit_at)s, %(audit_run)s
        FROM lc_move""", params)
    cursor.execute(f"""
        UPDATE {_RESOURCE} SET status = %(to_status)s, {set_sql}
        WHERE id IN (SELECT id FROM lc_move) AND status = %(from_status)s""", params)
    if cursor.rowcount != len(ids):  # the guard: someone else moved one meanwhile
        raise RuntimeError(f"{from_status}→{to_status}: expected {len(ids)} rows, "
                           f"updated {cursor.rowcount}")
    drop_temps(cursor, "lc_move")
    return ids
