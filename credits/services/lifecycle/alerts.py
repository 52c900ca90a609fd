"""Step 5: the accounts of the batch whose runway, after the batch's charges and moves, is at or
below a runway threshold not yet announced to them get `account.runway_low` (set-based,
`events.accounts_runway_low_announce`), in the batch's transaction.

Reads the batch's live credit-paid resources from `lc_res` (made by the run for its batch); the
ones the batch removed (`removed_ids`) are no longer billed.
"""
from __future__ import annotations

from pricing.enums import PaymentType

from ...events import accounts_runway_low_announce
from .batch import Batch, RunCounts
from .sql import in_batch


def runway_alerts(cursor, batch: Batch, *, removed_ids: list[int]) -> RunCounts:
    """Announce the runways that crossed a threshold; returns how many."""
    announced = accounts_runway_low_announce(
        cursor,
        rates_sql="SELECT owner_id AS account_id, SUM(cost_credit_per_second) AS rate "
                  "FROM lc_res WHERE payment_type = %(credit)s "
                  "AND NOT (id = ANY(%(removed)s)) GROUP BY owner_id",
        lots_sql=in_batch("l.account_id"),
        params={**batch.params, "credit": PaymentType.CREDIT.value,
                "removed": list(removed_ids)},
        at=batch.now)
    return RunCounts(runway_alerts=announced)
