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

from django.db import connection

from pricing.enums import PaymentType

from .models import (
    LIVE_STATUSES,
    Account,
    Resource,
    ResourceMeter,
    ResourceStatusChange,
    StatusChangeReason,
)

_ACCOUNT = Account._meta.db_table
_METER = ResourceMeter._meta.db_table
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
    with connection.cursor() as cursor:
        _meters_freeze(cursor, [resource.pk], from_status=from_status, to_status=to_status)
    ResourceStatusChange.objects.create(resource=resource, from_status=from_status,
                                        to_status=to_status, reason=reason[:_REASON_MAX_CHARS],
                                        actor=actor, at=at)
    return True


def _meters_freeze(cursor, resource_ids: list[int], *, from_status: str,
                   to_status: str) -> None:
    """Credit-paid resources moved from a live status to one that is not keep their charged
    hours in meter rows: their account's watermark no longer speaks for them
    (`funding.charged_hours`). Other moves keep nothing."""
    from .services.lifecycle.sql import charged_hours_sql  # the lifecycle imports this module

    if not resource_ids or from_status not in LIVE_STATUSES or to_status in LIVE_STATUSES:
        return
    cursor.execute(f"""
        INSERT INTO {_METER} (resource_id, charged_hours)
        SELECT r.id, {charged_hours_sql(meter='m.charged_hours', metered_until='a.metered_until',
                                        created_at='r.created_at')}
        FROM {_RESOURCE} r JOIN {_ACCOUNT} a ON a.id = r.owner_id
        LEFT JOIN {_METER} m ON m.resource_id = r.id
        WHERE r.id = ANY(%(ids)s) AND r.payment_type = %(credit)s
        ON CONFLICT (resource_id) DO NOTHING""",
                   {"ids": list(resource_ids), "credit": PaymentType.CREDIT.value})


def resources_transition(cursor, *, candidates_sql: str, params: dict, from_status: str,
                         to_status: str, reason: str, actor: str, at: datetime,
                         run_id: int | None, set_sql: str) -> list[int]:
    """Move the resources selected by `candidates_sql` (ids, with `params`) that are in
    `from_status` to `to_status`, setting `set_sql` (`column = …, …` with `params`) too, with
    their audit rows: one statement, the guarded `UPDATE … WHERE status = from_status` feeding
    the audit's INSERT, so a resource someone else moved meanwhile is neither moved nor audited.
    Returns the ids moved, in id order. The caller holds the locks of the resources' accounts.
    The parameter names `from_status`, `to_status`, `audit_reason`, `audit_actor`, `audit_at`
    and `audit_run` are this function's.
    """
    params = {**params, "from_status": from_status, "to_status": to_status,
              "audit_reason": reason, "audit_actor": actor, "audit_at": at, "audit_run": run_id}
    cursor.execute(f"""
        WITH moved AS (
            UPDATE {_RESOURCE} SET status = %(to_status)s, {set_sql}
            WHERE id IN ({candidates_sql}) AND status = %(from_status)s
            RETURNING id)
        INSERT INTO {_STATUS_CHANGE} (resource_id, from_status, to_status,
                                      reason, actor, at, run_id)
        SELECT id, %(from_status)s, %(to_status)s, %(audit_reason)s, %(audit_actor)s,
               %(audit_at)s, %(audit_run)s
        FROM moved RETURNING resource_id""", params)
    ids = sorted(row[0] for row in cursor.fetchall())
    _meters_freeze(cursor, ids, from_status=from_status, to_status=to_status)
    return ids
