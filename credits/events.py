"""Resource status transitions, their audit rows (`ResourceStatusChange`) and the events that
announce them (`Event`, the transactional outbox), written here only.

Every change of a resource's status goes through this module, in the caller's transaction: a
registration's first status, the owner's forget, the operators' restore, grace extension and
delete-now (one resource each), and the lifecycle's flag, restore and removal (set-based, a batch
of accounts at a time). Each transition is guarded by the status it starts from, and its audit
row and its event are written with it or not at all: no event for a change that was rolled back,
none missed. The lifecycle's events are inserted by the very statement that moves its resources.
A finished lifecycle run is announced here too (`lifecycle_run_finished`).

The account alerts are written here as well, with their state: `account.runway_low` (an
account's runway at or below a threshold, once per crossing: `Account.runway_alert_hours` keeps
the lowest threshold announced, lowered by the lifecycle's batches and re-armed by a top-up in
its transaction) and `account.credits_expiring` (a lot within the notice window, once:
`Lot.expiry_noticed_at`), both set-based, one statement moving the state and inserting the
events.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from pricing.costs import HOUR_SECONDS
from pricing.enums import PaymentType

from .funding import lot_spendable_sql
from .id_arrays import IdArray
from .models import (
    LIVE_STATUSES,
    Account,
    Event,
    EventType,
    LedgerEntry,
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
_LEDGER_ENTRY = LedgerEntry._meta.db_table
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
                   {"ids": IdArray(resource_ids), "credit": PaymentType.CREDIT.value})


def resources_transition(cursor, *, candidates_sql: str, params: dict, from_status: str,
                         to_status: str, reason: str, actor: str, at: datetime,
                         run_id: int | None, set_sql: str, needs_sql: str | None = None
                         ) -> list[int]:
    """Move the resources selected by `candidates_sql` (ids, with `params`) that are in
    `from_status` to `to_status`, setting `set_sql` (`column = …, …` with `params`) too, with
    their audit rows: one statement, the guarded `UPDATE … WHERE status = from_status` feeding
    the audit's INSERT, so a resource someone else moved meanwhile is neither moved nor audited.
    The same statement inserts the event of each move (`_events_sql`), when the move is one
    that is announced. Returns the ids moved, in id order. The caller holds the locks of the
    resources' accounts. The parameter names `from_status`, `to_status`, `audit_reason`,
    `audit_actor`, `audit_at`, `audit_run` and those of `_event_params` are this function's.
    A flag's events read their owners' needs from `needs_sql` when the caller has them at hand
    (`_events_sql`).
    """
    event_type = event_type_of(from_status=from_status, to_status=to_status)
    params = {**params, "from_status": from_status, "to_status": to_status,
              "audit_reason": reason, "audit_actor": actor, "audit_at": at, "audit_run": run_id,
              **_event_params(event_type)}
    flagged = event_type == EventType.RESOURCE_FLAGGED
    events = "" if event_type is None else \
        f", {_events_sql(source='moved', flagged=flagged, needs_sql=needs_sql)}"
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
    """The event announcing a move (every move of the status machine is announced; None for
    one that is not a move of it)."""
    if from_status == "":
        return EventType.RESOURCE_REGISTERED
    if (from_status, to_status) == (ResourceStatus.REMOVING, ResourceStatus.REMOVING):
        return EventType.RESOURCE_GRACE_EXTENDED  # an operator moved the deadline
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


def _events_sql(*, source: str, flagged: bool, needs_sql: str | None = None) -> str:
    """CTEs inserting one event per row of `source` (a relation with `_MOVED_COLUMNS`, after
    the move), in resource id order, with the parameters of `_event_params` and the audit's.
    A flag's event says the owner's shortfall at that instant, as
    `selectors.lifecycle.shortfalls_by_resource` computes it (held to it by a test): credit,
    one funding horizon of the cost of the owner's live credit-paid resources against its
    spendable credits; hold, the holds of its live hold-paid resources on the chain against its
    token balance there. The sums read the statement's snapshot, before the move: a flag moves
    a resource from one live status to another, so they are the same after it.

    `needs_sql` gives those sums where the caller has them (the lifecycle's batch), as rows
    `(owner_id, payment_type, chain, required, available)` for at least the moved resources'
    owners and payment types; by default they are read from the resources, lots and balances."""
    shortfall_ctes = shortfall_join = ""
    shortfall = "'{}'::jsonb"
    if flagged:
        # The needs per owner, payment and chain of the moved resources (a flag moves several
        # of an owner's at once); by default read for their owners only (`event_owners`).
        chain_of = "CASE WHEN {0}.payment_type = %(hold)s THEN {0}.payment_chain ELSE '' END"
        needs_sql = needs_sql or f"""
            SELECT r.owner_id, r.payment_type, {chain_of.format('r')} AS chain,
                   SUM(CASE WHEN r.payment_type = %(credit)s
                            THEN r.cost_credit_per_second * %(horizon_seconds)s
                            ELSE r.cost_hold END) AS required,
                   MAX(CASE WHEN r.payment_type = %(credit)s THEN COALESCE(c.available, 0)
                            ELSE COALESCE(t.balance, 0) END) AS available
            FROM {_RESOURCE} r JOIN event_owners o ON o.owner_id = r.owner_id
            LEFT JOIN (SELECT l.account_id, SUM(l.remaining) AS available
                       FROM {_LOT} l JOIN event_owners o ON o.owner_id = l.account_id
                       WHERE {lot_spendable_sql(lot='l', at='%(audit_at)s')}
                       GROUP BY 1) c ON r.payment_type = %(credit)s
                 AND c.account_id = r.owner_id
            LEFT JOIN {_TOKEN_BALANCE} t ON r.payment_type = %(hold)s
                 AND t.account_id = r.owner_id AND t.chain = r.payment_chain
            WHERE r.status = ANY(%(live_statuses)s)
              AND r.payment_type IN (%(credit)s, %(hold)s)
            GROUP BY 1, 2, 3"""
        required = "COALESCE(n.required, 0)"
        available = "COALESCE(n.available, 0)"
        # Each event joined straight to its owner's needs: when the planner misjudges how many
        # resources the statement moves (stale statistics after a bulk load), a join through
        # per-owner groups made from those same rows became loops over every pair of them
        # (minutes for a few thousand flags); the needs given by the lifecycle are a table it
        # has counted.
        shortfall_ctes = f"""
        event_owners AS (
            SELECT DISTINCT m.owner_id FROM {source} m
            WHERE m.payment_type IN (%(credit)s, %(hold)s)),
        event_needs AS ({needs_sql}),"""
        shortfall_join = f"""
            LEFT JOIN event_needs n ON n.owner_id = m.owner_id
                 AND n.payment_type = m.payment_type AND n.chain = {chain_of.format('m')}"""
        shortfall = f"""CASE WHEN m.payment_type IN (%(credit)s, %(hold)s) THEN
                   jsonb_build_object('shortfall', jsonb_build_object(
                       'unit', CASE WHEN m.payment_type = %(credit)s THEN 'credits'
                                    ELSE 'tokens' END,
                       'chain', {chain_of.format('m')},
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
    params = {"ids": IdArray(resource_ids), "from_status": from_status, "to_status": to_status,
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


# --- account alerts -------------------------------------------------------------------------

def runway_thresholds_hours() -> list[int]:
    """The runway thresholds of `account.runway_low`, highest first (EVENTS_RUNWAY_LOW_HOURS)."""
    return sorted(set(settings.EVENTS_RUNWAY_LOW_HOURS), reverse=True)


def runway_lasting_after(at: datetime) -> datetime | None:
    """Lots expiring after this instant (or never) last beyond the highest runway threshold
    after `at`, with an hour's margin (keeping clear of the runway's floor to hundredths):
    credits of theirs that alone pay for the account's rate until then keep its runway above
    every threshold (`accounts_runway_low_announce`). None without thresholds."""
    thresholds = runway_thresholds_hours()
    return at + timedelta(hours=thresholds[0] + 1) if thresholds else None


def accounts_runway_low_announce(cursor, *, accounts_sql: str, lots_sql: str, params: dict,
                                 at: datetime) -> int:
    """Announce `account.runway_low` for the accounts whose runway at `at` is at or below a
    threshold (EVENTS_RUNWAY_LOW_HOURS) not yet announced to them (`Account.runway_alert_hours`:
    the lowest announced; thresholds below it are armed), and lower their state to that
    threshold: one statement, one event per account (for the lowest threshold crossed, when it
    crossed several at once). Returns the events written.

    `accounts_sql` (with `params`) gives `(account_id, rate, lasting)`: the accounts to look at,
    their credit cost per second now and their spendable credits in lots expiring after
    `runway_lasting_after(at)` or never; `lots_sql` is a condition on `l.account_id` that finds
    their lots cheaply (the lifecycle's batch). The caller holds the accounts' locks.

    Only candidates get their runway computed (`selectors.ledger.runway_hours_sql`, the rule of
    `account_runway_hours`): an account already announced at the lowest threshold has nothing
    left to announce, and one whose lasting credits pay for its rate until
    `runway_lasting_after` cannot be at or below any threshold (spent first to last, they
    alone cover at least the lesser of their credits over the rate and their earliest expiry;
    the other lots only add to it: tests/credits/test_runway.py).
    """
    from .selectors.ledger import runway_hours_sql  # the selectors import the models only

    thresholds = sorted(runway_thresholds_hours())
    if not thresholds:
        return 0
    lasting_seconds = (runway_lasting_after(at) - at) // timedelta(seconds=1)
    params = {**params, "runway_at": at, "thresholds": thresholds, "lowest": thresholds[0],
              "lasting_seconds": lasting_seconds,
              "event_type": EventType.ACCOUNT_RUNWAY_LOW.value,
              "event_version": EVENT_SCHEMA_VERSION}
    runway = runway_hours_sql(credits="l.remaining", rate="c.rate", expires_at="l.expires_at",
                              at="%(runway_at)s")
    cursor.execute(f"""
        WITH candidate AS MATERIALIZED (
            SELECT r.account_id, r.rate, a.address, a.runway_alert_hours AS announced
            FROM ({accounts_sql}) r JOIN {_ACCOUNT} a ON a.id = r.account_id
            WHERE r.rate > 0 AND r.lasting < r.rate * %(lasting_seconds)s
              AND (a.runway_alert_hours IS NULL OR a.runway_alert_hours > %(lowest)s)),
        runway AS (
            SELECT c.account_id, c.rate, c.address, c.announced,
                   COALESCE(SUM(l.remaining), 0) AS balance, {runway} AS hours
            FROM candidate c
            LEFT JOIN {_LOT} l ON {lots_sql} AND l.account_id = c.account_id
                 AND {lot_spendable_sql(lot='l', at='%(runway_at)s')}
            GROUP BY c.account_id, c.rate, c.address, c.announced),
        crossed AS (
            SELECT w.*, (SELECT min(t) FROM unnest(CAST(%(thresholds)s AS integer[])) AS t
                         WHERE w.hours <= t AND (w.announced IS NULL OR t < w.announced))
                        AS threshold
            FROM runway w),
        lowered AS (
            UPDATE {_ACCOUNT} a SET runway_alert_hours = x.threshold
            FROM crossed x WHERE a.id = x.account_id AND x.threshold IS NOT NULL)
        INSERT INTO {_EVENT} (type, schema_version, occurred_at, account_id, resource_id,
                              payload)
        SELECT %(event_type)s, %(event_version)s, %(runway_at)s, x.account_id, NULL,
               jsonb_build_object(
                   'address', x.address, 'threshold_hours', x.threshold,
                   'runway_hours', CAST(x.hours AS text), 'balance', CAST(x.balance AS text),
                   'credit_cost_per_hour', {_amount_sql(f"x.rate * {HOUR_SECONDS}")})
        FROM crossed x WHERE x.threshold IS NOT NULL
        ORDER BY x.account_id""", params)
    announced = cursor.rowcount
    if announced:
        _kick_on_commit()
    return announced


def account_runway_rearm(*, account: Account, at: datetime) -> None:
    """After a top-up (credits in: a grant, a transfer in, a positive adjustment), in its
    transaction, with `account` locked and fresh: the thresholds its runway is now above are
    armed again, so a later crossing is announced again. One that it is still at or below stays
    announced. Nothing to do (no query) for an account with nothing announced."""
    from .selectors.ledger import account_runway_hours  # the selectors import the models only

    announced = account.runway_alert_hours
    if announced is None:
        return
    runway = account_runway_hours(account=account, at=at)
    still = [hours for hours in runway_thresholds_hours()
             if hours >= announced and runway is not None and runway <= hours]
    lowest = min(still, default=None)
    if lowest != announced:
        Account.objects.filter(pk=account.pk).update(runway_alert_hours=lowest)
        account.runway_alert_hours = lowest


def lots_expiring_announce(*, at: datetime, days: int | None = None,
                           batch_size: int = 2000) -> int:
    """Announce `account.credits_expiring` once per lot that expires within `days`
    (EVENTS_CREDITS_EXPIRING_DAYS) after `at` and still holds credits: the lots not yet noticed
    (`Lot.expiry_noticed_at`, through the partial index `lot_expiry_notice_due`) with an expiry
    up to `at` + `days` are noticed, in batches each committed or not at all, and the events of
    those expiring after `at` with credits left are inserted by the statement that notices
    them. A lot past its expiry or spent when first seen is noticed without an event (it never
    holds credits again). Accounts are locked before their lots, as every service does.
    Returns the events written."""
    from .locks import accounts_lock  # the locks import the models only

    days = settings.EVENTS_CREDITS_EXPIRING_DAYS if days is None else days
    params = {"at": at, "until": at + timedelta(days=days),
              "event_type": EventType.ACCOUNT_CREDITS_EXPIRING.value,
              "event_version": EVENT_SCHEMA_VERSION}
    announced = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"""
                SELECT id, account_id FROM {_LOT}
                WHERE expires_at IS NOT NULL AND expiry_noticed_at IS NULL
                  AND expires_at <= %(until)s
                ORDER BY expires_at LIMIT %(batch)s""", {**params, "batch": batch_size})
            candidates = cursor.fetchall()
            if not candidates:
                return announced
            accounts_lock({account_id for _, account_id in candidates})
            cursor.execute(f"""
                WITH noticed AS (
                    UPDATE {_LOT} SET expiry_noticed_at = %(at)s
                    WHERE id = ANY(%(ids)s) AND expiry_noticed_at IS NULL
                    RETURNING id, account_id, entry_id, remaining, expires_at)
                INSERT INTO {_EVENT} (type, schema_version, occurred_at, account_id,
                                      resource_id, payload)
                SELECT %(event_type)s, %(event_version)s, %(at)s, n.account_id, NULL,
                       jsonb_build_object('address', a.address, 'lot', n.id,
                                          'reference', e.reference,
                                          'remaining', CAST(n.remaining AS text),
                                          'expires_at', n.expires_at)
                FROM noticed n JOIN {_ACCOUNT} a ON a.id = n.account_id
                JOIN {_LEDGER_ENTRY} e ON e.id = n.entry_id
                WHERE n.remaining > 0 AND n.expires_at > %(at)s
                ORDER BY n.id""", {**params, "ids": IdArray(lot_id for lot_id, _ in candidates)})
            if cursor.rowcount:
                announced += cursor.rowcount
                _kick_on_commit()
        if len(candidates) < batch_size:
            return announced


def _kick_on_commit() -> None:
    """Once the transaction commits, wake the webhook dispatcher (debounced per process; the
    periodic dispatch catches whatever a skipped wake-up would have sent)."""
    from .services.webhooks import webhooks_kick  # the services import this module

    transaction.on_commit(webhooks_kick)
