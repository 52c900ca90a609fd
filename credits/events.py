"""Resource status transitions, their audit rows (`ResourceStatusChange`) and the events that
announce them (`Event`, the transactional outbox), written here only.

Every change of a resource's status goes through this module, in the caller's transaction: a
registration's first status, the owner's forget, the operators' restore, grace extension and
delete-now (one resource each), and the lifecycle's flag, restore and removal (set-based, a batch
of accounts at a time). Each transition is guarded by the status it starts from, and its audit
row and its event are written with it or not at all: no event for a change that was rolled back,
none missed. The lifecycle's events are inserted by the very statement that moves its resources.
A finished lifecycle run is announced here too (`lifecycle_run_finished`).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from pricing.costs import HOUR_SECONDS
from pricing.enums import PaymentType

from .models import (
    LIVE_STATUSES,
    Account,
    Event,
    EventType,
    LifecycleRun,
    Lot,
    Resource,
    ResourceMeter,
    ResourceStatus,
    ResourceStatusChange,
    StatusChangeReason,
    TokenBalance,
)

# The version of each event type's payload schema (docs/api.md): raised when a payload changes
# in a way a receiver could notice (a field removed or its meaning changed).
EVENT_SCHEMA_VERSION = 1

_ACCOUNT = Account._meta.db_table
_EVENT = Event._meta.db_table
_LOT = Lot._meta.db_table
_TOKEN_BALANCE = TokenBalance._meta.db_table
_METER = ResourceMeter._meta.db_table
_RESOURCE = Resource._meta.db_table
_STATUS_CHANGE = ResourceStatusChange._meta.db_table
_REASON_MAX_CHARS = ResourceStatusChange._meta.get_field("reason").max_length


def resource_registered(*, resource: Resource, actor: str, at: datetime) -> ResourceStatusChange:
    """The audit row of a new resource's first status (from nothing), in the transaction that
    stores the resource."""
    change = ResourceStatusChange.objects.create(
        resource=resource, from_status="", to_status=resource.status,
        reason=StatusChangeReason.REGISTERED, actor=actor, at=at)
    _announce_resources([resource.pk], from_status="", to_status=resource.status,
                        reason=StatusChangeReason.REGISTERED, at=at)
    return change


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
    _announce_resources([resource.pk], from_status=from_status, to_status=to_status,
                        reason=reason[:_REASON_MAX_CHARS], at=at)
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
    The same statement inserts the event of each move (`_events_sql`), when the move is one
    that is announced. Returns the ids moved, in id order. The caller holds the locks of the
    resources' accounts. The parameter names `from_status`, `to_status`, `audit_reason`,
    `audit_actor`, `audit_at`, `audit_run` and those of `_event_params` are this function's.
    """
    event_type = event_type_of(from_status=from_status, to_status=to_status)
    params = {**params, "from_status": from_status, "to_status": to_status,
              "audit_reason": reason, "audit_actor": actor, "audit_at": at, "audit_run": run_id,
              **_event_params(event_type)}
    events = "" if event_type is None else \
        f", {_events_sql(source='moved', flagged=event_type == EventType.RESOURCE_FLAGGED)}"
    cursor.execute(f"""
        WITH moved AS (
            UPDATE {_RESOURCE} SET status = %(to_status)s, {set_sql}
            WHERE id IN ({candidates_sql}) AND status = %(from_status)s
            RETURNING {_MOVED_COLUMNS}),
        audited AS (
            INSERT INTO {_STATUS_CHANGE} (resource_id, from_status, to_status,
                                          reason, actor, at, run_id)
            SELECT id, %(from_status)s, %(to_status)s, %(audit_reason)s, %(audit_actor)s,
                   %(audit_at)s, %(audit_run)s
            FROM moved RETURNING resource_id){events}
        SELECT resource_id FROM audited""", params)
    ids = sorted(row[0] for row in cursor.fetchall())
    _meters_freeze(cursor, ids, from_status=from_status, to_status=to_status)
    if ids and event_type is not None:
        _kick_on_commit()
    return ids


# --- the outbox -----------------------------------------------------------------------------

# What an event's payload reads of a moved resource (the UPDATE's RETURNING, or the row itself).
_MOVED_COLUMNS = ("id, owner_id, item_hash, type, payment_type, payment_chain, removal_reason, "
                  "removing_since, delete_after, ended_at")


def event_type_of(*, from_status: str, to_status: str) -> EventType | None:
    """The event announcing a move, or None for a move that is not announced (an operator's
    grace extension: removing → removing)."""
    if from_status == "":
        return EventType.RESOURCE_REGISTERED
    if (from_status, to_status) == (ResourceStatus.PROCESSED, ResourceStatus.REMOVING):
        return EventType.RESOURCE_FLAGGED
    if (from_status, to_status) == (ResourceStatus.REMOVING, ResourceStatus.PROCESSED):
        return EventType.RESOURCE_RESTORED
    if to_status == ResourceStatus.REMOVED:
        return EventType.RESOURCE_REMOVED
    if to_status == ResourceStatus.FORGOTTEN:
        return EventType.RESOURCE_FORGOTTEN
    return None


def _event_params(event_type: EventType | None) -> dict:
    params = {"event_type": None if event_type is None else event_type.value,
              "event_version": EVENT_SCHEMA_VERSION,
              "live_statuses": [status.value for status in LIVE_STATUSES],
              "credit": PaymentType.CREDIT.value, "hold": PaymentType.HOLD.value,
              "horizon_seconds": 0}
    if event_type == EventType.RESOURCE_FLAGGED:
        from .selectors.lifecycle import lifecycle_settings_get  # it imports the models only

        params["horizon_seconds"] = \
            lifecycle_settings_get().funding_horizon_hours * HOUR_SECONDS
    return params


def _amount_sql(expression: str) -> str:
    """An exact amount as the API writes it: a string with 18 decimals."""
    return f"CAST({expression} AS numeric(1000, 18))::text"


def _events_sql(*, source: str, flagged: bool) -> str:
    """CTEs inserting one event per row of `source` (a relation with `_MOVED_COLUMNS`, after
    the move), in resource id order, with the parameters of `_event_params` and the audit's.
    A flag's event says the owner's shortfall at that instant, as
    `selectors.lifecycle.shortfalls_by_resource` computes it (held to it by a test): credit,
    one funding horizon of the cost of the owner's live credit-paid resources against its
    spendable credits; hold, the holds of its live hold-paid resources on the chain against its
    token balance there. The sums read the statement's snapshot, before the move: a flag moves
    a resource from one live status to another, so they are the same after it."""
    shortfall_ctes = shortfall_join = ""
    shortfall = "'{}'::jsonb"
    if flagged:
        shortfall_ctes = f"""
        event_owners AS (SELECT DISTINCT owner_id FROM {source}),
        event_needs AS (
            SELECT r.owner_id, r.payment_type,
                   CASE WHEN r.payment_type = %(hold)s THEN r.payment_chain ELSE '' END AS chain,
                   SUM(CASE WHEN r.payment_type = %(credit)s
                            THEN r.cost_credit_per_second * %(horizon_seconds)s
                            ELSE r.cost_hold END) AS required
            FROM {_RESOURCE} r JOIN event_owners o ON o.owner_id = r.owner_id
            WHERE r.status = ANY(%(live_statuses)s)
              AND r.payment_type IN (%(credit)s, %(hold)s)
            GROUP BY 1, 2, 3),
        event_credits AS (
            SELECT l.account_id, SUM(l.remaining) AS available
            FROM {_LOT} l JOIN event_owners o ON o.owner_id = l.account_id
            WHERE l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > %(audit_at)s)
            GROUP BY 1),"""
        shortfall_join = f"""
            LEFT JOIN event_needs n ON n.owner_id = m.owner_id AND n.payment_type = m.payment_type
                 AND n.chain = CASE WHEN m.payment_type = %(hold)s THEN m.payment_chain
                                    ELSE '' END
            LEFT JOIN event_credits c ON m.payment_type = %(credit)s AND c.account_id = m.owner_id
            LEFT JOIN {_TOKEN_BALANCE} t ON m.payment_type = %(hold)s
                 AND t.account_id = m.owner_id AND t.chain = m.payment_chain"""
        available = ("CASE WHEN m.payment_type = %(credit)s THEN COALESCE(c.available, 0) "
                     "ELSE COALESCE(t.balance, 0) END")
        required = "COALESCE(n.required, 0)"
        shortfall = f"""CASE WHEN m.payment_type IN (%(credit)s, %(hold)s) THEN
                jsonb_build_object('shortfall', jsonb_build_object(
                    'unit', CASE WHEN m.payment_type = %(credit)s THEN 'credits'
                                 ELSE 'tokens' END,
                    'chain', CASE WHEN m.payment_type = %(hold)s THEN m.payment_chain
                                  ELSE '' END,
                    'amount', {_amount_sql(f"GREATEST({required} - {available}, 0)")},
                    'required', {_amount_sql(required)},
                    'available', {_amount_sql(available)}))
                ELSE jsonb_build_object('shortfall', NULL) END"""
    return f"""{shortfall_ctes}
        announced AS (
            INSERT INTO {_EVENT} (type, schema_version, occurred_at, account_id, resource_id,
                                  payload)
            SELECT %(event_type)s, %(event_version)s, %(audit_at)s, m.owner_id, m.id,
                   jsonb_build_object(
                       'item_hash', m.item_hash, 'owner', a.address, 'type', m.type,
                       'payment_type', m.payment_type, 'payment_chain', m.payment_chain,
                       'from_status', NULLIF(%(from_status)s, ''), 'status', %(to_status)s,
                       'reason', %(audit_reason)s,
                       'removal_reason', NULLIF(m.removal_reason, ''),
                       'removing_since', m.removing_since, 'delete_after', m.delete_after,
                       'ended_at', m.ended_at) || {shortfall}
            FROM {source} m JOIN {_ACCOUNT} a ON a.id = m.owner_id{shortfall_join}
            ORDER BY m.id
            RETURNING id)"""


def _announce_resources(resource_ids: list[int], *, from_status: str, to_status: str,
                        reason: str, at: datetime) -> None:
    """The events of resources already moved by this transaction (one at a time: registration,
    forget, the operators' desk), with the SQL of the lifecycle's."""
    event_type = event_type_of(from_status=from_status, to_status=to_status)
    if event_type is None or not resource_ids:
        return
    params = {"ids": list(resource_ids), "from_status": from_status, "to_status": to_status,
              "audit_reason": reason, "audit_at": at, **_event_params(event_type)}
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH moved AS (SELECT {_MOVED_COLUMNS} FROM {_RESOURCE} WHERE id = ANY(%(ids)s)),
            {_events_sql(source='moved', flagged=event_type == EventType.RESOURCE_FLAGGED)
             .lstrip().lstrip(',')}
            SELECT count(*) FROM announced""", params)
    _kick_on_commit()


def lifecycle_run_finished(*, run: LifecycleRun) -> Event:
    """The event of a recorded run (a real one: a dry run records nothing), in the transaction
    that records it. For the operators: it names no account."""
    return Event.objects.create(
        type=EventType.LIFECYCLE_RUN_FINISHED, schema_version=EVENT_SCHEMA_VERSION,
        occurred_at=run.finished_at, account=None, resource=None,
        payload={"run": run.pk, "status": run.status, "trigger": run.trigger,
                 "as_of": run.as_of.isoformat(), "started_at": run.started_at.isoformat(),
                 "finished_at": run.finished_at.isoformat(), "parent": run.parent_id,
                 "shard_index": run.shard_index, "shard_count": run.shard_count,
                 **{name: (str(value) if name.startswith(("credits_", "expired_")) else value)
                    for name in LifecycleRun.COUNT_FIELDS
                    for value in [getattr(run, name)]}})


def _kick_on_commit() -> None:
    """Once the transaction commits, wake the webhook dispatcher (debounced per process; the
    periodic dispatch catches whatever a skipped wake-up would have sent)."""
    from .services.webhooks import webhooks_kick  # the services import this module

    transaction.on_commit(webhooks_kick)
