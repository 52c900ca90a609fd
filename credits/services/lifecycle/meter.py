"""Step 2: charge every whole hour each live credit-paid resource of the batch ran since its last
charge: one expense entry per account, drained from its lots soonest-expiring first, and one
`Charge` per resource-hour; `ResourceMeter.charged_hours` says how far each resource is charged.

Reads the batch's live resources from `lc_res` (made by the run for its batch).
"""
from __future__ import annotations

from pricing.enums import PaymentType

from ...models import (
    METERING_REASON,
    Charge,
    EntryKind,
    LedgerEntry,
    Lot,
    LotDrain,
    ResourceMeter,
    ResourceStatus,
)
from ...temp_tables import drop_temps, temp
from .batch import Batch, RunCounts
from .sql import hourly_charge, whole_hours_between

_CHARGE = Charge._meta.db_table
_LEDGER_ENTRY = LedgerEntry._meta.db_table
_LOT = Lot._meta.db_table
_LOT_DRAIN = LotDrain._meta.db_table
_METER = ResourceMeter._meta.db_table

# One row per resource-hour due in `lc_due` (hours from_hour … to_hour − 1).
_DUE_HOURS = """WITH h AS (
    SELECT d.resource_id, d.owner_id, d.created_at, d.pricing_version_id, g.hour_index,
           d.per_hour
    FROM lc_due d
    CROSS JOIN LATERAL generate_series(d.from_hour, d.to_hour - 1) AS g(hour_index))"""


def meter(cursor, batch: Batch) -> RunCounts:
    """Charge the hours due up to `batch.now` (a resource pending deletion: up to its deadline,
    if that came first). Returns the charges made and the credits drained and short."""
    counts = RunCounts()
    end = ("CASE WHEN r.status = %(removing)s AND r.delete_after < %(now)s "
           "THEN r.delete_after ELSE %(now)s END")
    # The expense entries' reference names the run, as their actor does.
    params = {**batch.params, "ref": batch.actor,
              "key": f"meter:run:{batch.run_id or 'dry'}:account:", "reason": METERING_REASON,
              "removing": ResourceStatus.REMOVING.value, "credit": PaymentType.CREDIT.value,
              "expense": EntryKind.EXPENSE.value}
    temp(cursor, "lc_due", f"""
        SELECT r.id AS resource_id, r.owner_id, r.created_at, r.pricing_version_id,
               COALESCE(m.charged_hours, 0) AS from_hour, m.resource_id IS NOT NULL AS metered,
               {whole_hours_between(end, 'r.created_at')} AS to_hour,
               {hourly_charge('r.cost_credit_per_second')} AS per_hour
        FROM lc_res r LEFT JOIN {_METER} m ON m.resource_id = r.id
        WHERE r.payment_type = %(credit)s""", params)
    cursor.execute("DELETE FROM lc_due WHERE to_hour <= from_hour")
    temp(cursor, "lc_account", """
        SELECT owner_id AS account_id, SUM((to_hour - from_hour) * per_hour) AS requested
        FROM lc_due GROUP BY owner_id HAVING SUM((to_hour - from_hour) * per_hour) > 0""", params)
    # Soonest-expiring lots first, non-expiring last, then oldest: each lot gives what the
    # account still needs after the lots before it, and never more than it has.
    temp(cursor, "lc_drain", f"""
        SELECT lot_id, account_id,
               CASE WHEN requested - before_lot >= remaining THEN remaining
                    ELSE requested - before_lot END AS amount
        FROM (SELECT l.id AS lot_id, l.account_id, l.remaining, a.requested,
                     SUM(l.remaining) OVER (PARTITION BY l.account_id
                         ORDER BY (l.expires_at IS NULL), l.expires_at, l.created_at, l.id
                         ROWS UNBOUNDED PRECEDING) - l.remaining AS before_lot
              FROM {_LOT} l JOIN lc_account a ON a.account_id = l.account_id
              WHERE l.account_id BETWEEN %(batch_lo)s AND %(batch_hi)s AND l.remaining > 0
                AND (l.expires_at IS NULL OR l.expires_at > %(now)s)) s
        WHERE requested > before_lot""", params)
    cursor.execute(f"""
        UPDATE {_LOT} SET remaining = {_LOT}.remaining - d.amount
        FROM lc_drain d WHERE {_LOT}.id = d.lot_id""")
    cursor.execute(f"""
        INSERT INTO {_LEDGER_ENTRY} (account_id, kind, amount, amount_requested, shortfall,
            idempotency_key, request_hash, reference, reason, effective_at, created_by)
        SELECT a.account_id, %(expense)s, -COALESCE(s.drained, 0), a.requested,
               a.requested - COALESCE(s.drained, 0), %(key)s || a.account_id, '', %(ref)s,
               %(reason)s, %(now)s, %(actor)s
        FROM lc_account a LEFT JOIN (SELECT account_id, SUM(amount) AS drained FROM lc_drain
                                     GROUP BY account_id) s ON s.account_id = a.account_id""",
                   params)
    temp(cursor, "lc_entry", f"""
        SELECT e.id AS entry_id, e.account_id, -e.amount AS drained
        FROM lc_account a JOIN {_LEDGER_ENTRY} e
          ON e.idempotency_key = %(key)s || a.account_id""",
         params)
    cursor.execute(f"""
        INSERT INTO {_LOT_DRAIN} (entry_id, lot_id, amount)
        SELECT e.entry_id, d.lot_id, d.amount FROM lc_drain d
        JOIN lc_entry e ON e.account_id = d.account_id""")
    # One charge per (resource, hour), oldest resource first; the account's drained credits
    # are allotted to its charges in that order, so a shortfall lands on the newest hours.
    cursor.execute(f"""
        INSERT INTO {_CHARGE} (resource_id, hour_index, amount_requested, amount_drained,
                               entry_id, run_id, pricing_version_id)
        {_DUE_HOURS}
        SELECT h.resource_id, h.hour_index, h.per_hour,
               CASE WHEN e.drained - before_charge >= h.per_hour THEN h.per_hour
                    WHEN e.drained > before_charge THEN e.drained - before_charge
                    ELSE 0 END,
               e.entry_id, %(run)s, h.pricing_version_id
        FROM (SELECT h.*, SUM(per_hour) OVER (PARTITION BY owner_id
                  ORDER BY created_at, resource_id, hour_index ROWS UNBOUNDED PRECEDING)
                  - per_hour AS before_charge FROM h) h
        JOIN lc_entry e ON e.account_id = h.owner_id""", params)
    counts.charges = cursor.rowcount
    cursor.execute(f"""
        UPDATE {_METER} SET charged_hours = d.to_hour
        FROM lc_due d WHERE {_METER}.resource_id = d.resource_id AND d.metered""")
    cursor.execute(f"""
        INSERT INTO {_METER} (resource_id, charged_hours)
        SELECT resource_id, to_hour FROM lc_due WHERE NOT metered""")
    cursor.execute(f"SELECT COALESCE(SUM(x.drained), 0), COALESCE(SUM(e.shortfall), 0) "
                   f"FROM lc_entry x JOIN {_LEDGER_ENTRY} e ON e.id = x.entry_id")
    drained, short = cursor.fetchone()
    counts.credits_charged = int(drained)
    counts.credits_short = int(short)
    drop_temps(cursor, "lc_due", "lc_account", "lc_drain", "lc_entry")
    return counts
