"""Step 5: the accounts of the batch whose runway, after the batch's charges and moves, is at or
below a runway threshold not yet announced to them get `account.runway_low` (set-based,
`events.accounts_runway_low_announce`), in the batch's transaction.

Reads the batch's accounts' credit rates and lasting credits from `lc_credit` (made by the run
for its batch); the resources the batch removed (`removed_ids`) are no longer billed.
"""
from __future__ import annotations

from pricing.enums import PaymentType

from ...events import accounts_runway_low_announce
from ...id_arrays import IdArray
from ...models import Resource
from .batch import Batch, RunCounts
from .sql import in_batch_range

_RESOURCE = Resource._meta.db_table


def runway_alerts(cursor, batch: Batch, *, removed_ids: list[int]) -> RunCounts:
    """Announce the runways that crossed a threshold; returns how many."""
    announced = accounts_runway_low_announce(
        cursor,
        accounts_sql=f"""
            SELECT c.account_id, c.rate - COALESCE(x.rate, 0) AS rate, c.lasting
            FROM lc_credit c
            LEFT JOIN (SELECT owner_id, SUM(cost_credit_per_second) AS rate FROM {_RESOURCE}
                       WHERE id = ANY(%(removed)s) AND payment_type = %(credit)s
                       GROUP BY owner_id) x ON x.owner_id = c.account_id""",
        lots_sql=in_batch_range("l.account_id"),  # joined to the batch's accounts too
        params={**batch.params, "credit": PaymentType.CREDIT.value,
                "removed": IdArray(removed_ids)},
        at=batch.now)
    return RunCounts(runway_alerts=announced)
