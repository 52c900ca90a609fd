"""Step 2: charge every whole hour each live credit-paid resource of the batch ran since its last
charge: one expense entry per account, drained from its lots soonest-expiring first, and one
`Charge` per resource-hour. Then the accounts' watermark (`Account.metered_until`) moves to the
run's instant, and `ResourceMeter` rows are kept only where it does not say how far a resource is
charged (`funding.charged_hours`): one account row per run instead of one per resource.

Reads the batch's live resources from `lc_res` (made by the run for its batch, with `from_hour`,
`to_hour` (the hours ended by `metering_end`) and `per_hour`), and the credits each account's
hours due ask from `lc_owner` (made by the run too).
"""
from __future__ import annotations

from pricing.enums import PaymentType

from ...funding import lot_spendable_sql
from ...models import (
    METERING_REASON,
    Account,
    Charge,
    EntryKind,
    LedgerEntry,
    Lot,
    LotDrain,
    ResourceMeter,
)
from ...temp_tables import temp
from .batch import Batch, RunCounts
from .sql import charge_hour_sql, in_batch, in_batch_range, whole_hours_between

_ACCOUNT = Account._meta.db_table
_CHARGE = Charge._meta.db_table
_LEDGER_ENTRY = LedgerEntry._meta.db_table
_LOT = Lot._meta.db_table
_LOT_DRAIN = LotDrain._meta.db_table
_METER = ResourceMeter._meta.db_table

# The hours charged after the run, and the hours the moved watermark says. The watermark moves
# to where metering ended for all but a resource metered up to its deadline (or a clock moved
# back): there it says `to_hour`, already worked out, and only the others need the exact epoch
# arithmetic again (a million of them cost half a second).
_CHARGED_AFTER = "GREATEST(r.from_hour, r.to_hour)"
_WATERMARK = "GREATEST(COALESCE(r.metered_until, %(now)s), %(now)s)"
_WATERMARK_SAYS = (f"GREATEST(0, CASE WHEN {_WATERMARK} = r.metering_end THEN r.to_hour ELSE "
                   + whole_hours_between(_WATERMARK, "r.created_at") + " END)")


def meter(cursor, batch: Batch) -> RunCounts:
    """Charge the hours due up to `batch.now` (a resource pending deletion: up to its deadline,
    if that came first). Returns the charges made and the credits drained and short."""
    counts = RunCounts()
    # The expense entries' reference names the run, as their actor does.
    params = {**batch.params, "ref": batch.actor,
              "key": f"meter:run:{batch.run_id or 'dry'}:account:", "reason": METERING_REASON,
              "credit": PaymentType.CREDIT.value, "expense": EntryKind.EXPENSE.value}
    # The accounts asked for credits: `lc_owner` (made by the run) with something due.
    temp(cursor, "lc_account", """
        SELECT account_id, requested FROM lc_owner WHERE requested > 0""", params)
    # Soonest-expiring lots first, non-expiring last, then oldest: each lot gives what the
    # account still needs after the lots before it, and never more than it has. (The join to
    # `lc_account` keeps to the batch; the range finds the lots through their account index.)
    temp(cursor, "lc_drain", f"""
        SELECT lot_id, account_id,
               CASE WHEN requested - before_lot >= remaining THEN remaining
                    ELSE requested - before_lot END AS amount
        FROM (SELECT l.id AS lot_id, l.account_id, l.remaining, a.requested,
                     SUM(l.remaining) OVER (PARTITION BY l.account_id
                         ORDER BY (l.expires_at IS NULL), l.expires_at, l.created_at, l.id
                         ROWS UNBOUNDED PRECEDING) - l.remaining AS before_lot
              FROM {_LOT} l JOIN lc_account a ON a.account_id = l.account_id
              WHERE {in_batch_range('l.account_id')}
                AND {lot_spendable_sql(lot='l', at='%(now)s')}) s
        WHERE requested > before_lot""", params)
    # The drained lots found through their primary key, one index scan over their sorted ids:
    # joined to `lc_drain` alone, the planner hashed it and read every lot of every account,
    # batch after batch (a run's cost growing with the square of its accounts).
    cursor.execute(f"""
        UPDATE {_LOT} SET remaining = {_LOT}.remaining - d.amount
        FROM lc_drain d
        WHERE {_LOT}.id = d.lot_id AND {_LOT}.id = ANY(ARRAY(SELECT lot_id FROM lc_drain))""")
    # One statement: the accounts' expense entries, the pieces drained from each lot, and one
    # charge per (resource, hour), oldest resource first; the account's drained credits are
    # allotted to its charges in that order, so a shortfall lands on the newest hours. Only
    # the accounts that fell short need that running sum: every charge of the others is
    # drained whole. The charges go in in the order of their primary key (hour, account,
    # resource): the batch's accounts come after the last batch's, so its charges are appended
    # after the last batch's in the hour's part of the index (`Charge`) rather than inserted
    # all over it.
    cursor.execute(f"""
        WITH entry AS (
            INSERT INTO {_LEDGER_ENTRY} (account_id, kind, amount, amount_requested, shortfall,
                idempotency_key, request_hash, reference, reason, effective_at, created_by)
            SELECT a.account_id, %(expense)s, -COALESCE(s.drained, 0), a.requested,
                   a.requested - COALESCE(s.drained, 0), %(key)s || a.account_id, '', %(ref)s,
                   %(reason)s, %(now)s, %(actor)s
            FROM lc_account a LEFT JOIN (SELECT account_id, SUM(amount) AS drained
                                         FROM lc_drain GROUP BY account_id) s
              ON s.account_id = a.account_id
            RETURNING id, account_id, -amount AS drained, shortfall),
        piece AS (
            INSERT INTO {_LOT_DRAIN} (entry_id, lot_id, amount)
            SELECT e.id, d.lot_id, d.amount FROM lc_drain d JOIN entry e
              ON e.account_id = d.account_id)
        INSERT INTO {_CHARGE} (hour, account_id, resource_id, hour_index, amount_requested,
                               amount_drained, entry_id, run_id, pricing_version_id)
        SELECT * FROM (
        {_drained_whole("CROSS JOIN LATERAL (SELECT r.from_hour AS hour_index) g",
                        "r.to_hour = r.from_hour + 1")}
        UNION ALL
        {_drained_whole("CROSS JOIN LATERAL generate_series(r.from_hour, r.to_hour - 1) "
                        "AS g(hour_index)", "r.to_hour > r.from_hour + 1")}
        UNION ALL
        SELECT {charge_hour_sql(created_at='h.created_at', hour_index='h.hour_index')},
               h.owner_id, h.id, h.hour_index, h.per_hour,
               CASE WHEN h.drained - h.before_charge >= h.per_hour THEN h.per_hour
                    WHEN h.drained > h.before_charge THEN h.drained - h.before_charge
                    ELSE 0 END,
               h.entry_id, CAST(%(run)s AS BIGINT), h.pricing_version_id
        FROM (SELECT r.id, r.owner_id, r.created_at, r.pricing_version_id, r.per_hour,
                     g.hour_index,
                     e.id AS entry_id, e.drained,
                     SUM(r.per_hour) OVER (PARTITION BY r.owner_id
                         ORDER BY r.created_at, r.id, g.hour_index ROWS UNBOUNDED PRECEDING)
                     - r.per_hour AS before_charge
              FROM lc_res r JOIN entry e ON e.account_id = r.owner_id AND e.shortfall > 0
              CROSS JOIN LATERAL generate_series(r.from_hour, r.to_hour - 1) AS g(hour_index)
              WHERE r.payment_type = %(credit)s AND r.to_hour > r.from_hour) h
        ) c ORDER BY 1, 2, 3""", params)
    counts.charges = cursor.rowcount
    cursor.execute("SELECT (SELECT COALESCE(SUM(requested), 0) FROM lc_account), "
                   "(SELECT COALESCE(SUM(amount), 0) FROM lc_drain)")
    requested, drained = cursor.fetchone()
    counts.credits_charged = int(drained)
    counts.credits_short = int(requested) - counts.credits_charged
    _watermark_move(cursor, params)
    return counts


def _drained_whole(hours: str, due: str) -> str:
    """The charges of the resources `due` of the accounts whose credits paid all they asked,
    one per hour of `hours` (a relation `g(hour_index)`): most resources owe exactly one hour,
    their charge needs no series of hours."""
    return f"""SELECT {charge_hour_sql(created_at='r.created_at', hour_index='g.hour_index')},
               r.owner_id, r.id, g.hour_index, r.per_hour, r.per_hour, e.id,
               CAST(%(run)s AS BIGINT),
               r.pricing_version_id
        FROM lc_res r JOIN entry e ON e.account_id = r.owner_id AND e.shortfall = 0 {hours}
        WHERE r.payment_type = %(credit)s AND {due}"""


def _watermark_move(cursor, params: dict) -> None:
    """The batch's accounts are metered up to the run's instant; a meter row stays (or is made)
    only for a resource charged otherwise than that says (one metered up to its deadline, a
    clock moved back), and goes once the watermark says it and its charges end there."""
    cursor.execute(f"""
        DELETE FROM {_METER} WHERE resource_id IN (
            SELECT r.id FROM lc_res r
            WHERE r.overridden AND r.payment_type = %(credit)s AND r.to_hour > r.from_hour
              AND r.to_hour = {_WATERMARK_SAYS})""", params)
    cursor.execute(f"""
        INSERT INTO {_METER} (resource_id, charged_hours)
        SELECT r.id, {_CHARGED_AFTER} FROM lc_res r
        WHERE r.payment_type = %(credit)s AND {_CHARGED_AFTER} <> {_WATERMARK_SAYS}
        ON CONFLICT (resource_id) DO UPDATE SET charged_hours = EXCLUDED.charged_hours""",
                   params)
    cursor.execute(f"""
        UPDATE {_ACCOUNT} SET metered_until = %(now)s
        WHERE {in_batch('id')} AND (metered_until IS NULL OR metered_until < %(now)s)""",
                   params)
