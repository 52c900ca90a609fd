"""Step 3: each live resource of the batch is funded or not, now; an unfunded processed one is
flagged (pending deletion until now + grace), a funded one pending deletion before its deadline
is restored.

Funded (the rule of `credits.funding`, restated set-based): credit-paid, the account's spendable
credits cover one funding horizon of the credit cost of its live resources up to this one,
oldest first; hold-paid, its token balance on the chain covers their holds, oldest first.
Reads the batch's live resources from `lc_res` and its accounts' credit rates and balances from
`lc_credit` (made by the run for its batch).
"""
from __future__ import annotations

from datetime import timedelta

from pricing.enums import PaymentType

from ...events import resources_transition
from ...funding import REMOVAL_REASON_BY_PAYMENT
from ...models import (
    ResourceStatus,
    StatusChangeReason,
    TokenBalance,
)
from ...temp_tables import temp
from .batch import Batch, RunCounts

_TOKEN_BALANCE = TokenBalance._meta.db_table


def fund_or_flag(cursor, batch: Batch, *, grace: timedelta, horizon_seconds: int) -> RunCounts:
    """Flag the unfunded, restore the funded; returns how many of each, and their ids."""
    counts = RunCounts()
    params = {**batch.params, "delete_after": batch.now + grace, "horizon": horizon_seconds,
              "credit": PaymentType.CREDIT.value, "hold": PaymentType.HOLD.value,
              "processed": ResourceStatus.PROCESSED.value,
              "removing": ResourceStatus.REMOVING.value}
    # Credit: the balance now against the running total of one horizon of cost, oldest first.
    # Rates are never negative, so an account whose balance covers all its credit-paid
    # resources funds each of them: only the accounts that fall short are ranked resource by
    # resource (a tenth of them, say), and of the others only what may change is kept, the
    # resources pending deletion (funded: restored before their deadline).
    temp(cursor, "lc_fund", f"""
        WITH account AS (
            SELECT account_id AS owner_id, rate * %(horizon)s <= balance AS funds_all, balance
            FROM lc_credit)
        SELECT r.id, r.status, r.delete_after, r.payment_type,
               CASE WHEN SUM(r.cost_credit_per_second) OVER (
                        PARTITION BY r.owner_id ORDER BY r.created_at, r.id
                        ROWS UNBOUNDED PRECEDING) * %(horizon)s <= a.balance
                    THEN 1 ELSE 0 END AS funded
        FROM lc_res r JOIN account a ON a.owner_id = r.owner_id AND NOT a.funds_all
        WHERE r.payment_type = %(credit)s
        UNION ALL
        SELECT r.id, r.status, r.delete_after, r.payment_type, 1
        FROM lc_res r JOIN account a ON a.owner_id = r.owner_id AND a.funds_all
        WHERE r.payment_type = %(credit)s AND r.status = %(removing)s
        UNION ALL
        SELECT r.id, r.status, r.delete_after, r.payment_type,
               CASE WHEN SUM(r.cost_hold) OVER (
                        PARTITION BY r.owner_id, r.payment_chain ORDER BY r.created_at, r.id
                        ROWS UNBOUNDED PRECEDING) <= COALESCE(t.balance, 0)
                    THEN 1 ELSE 0 END AS funded
        FROM lc_res r
        LEFT JOIN {_TOKEN_BALANCE} t
               ON t.account_id = r.owner_id AND t.chain = r.payment_chain
        WHERE r.payment_type = %(hold)s""", params)
    audit = {"actor": batch.actor, "at": batch.now, "run_id": batch.run_id}
    # What a flag's event says its owner needs and has (`events._events_sql`), from what the
    # batch already read, for the payment type of the statement: credit, the rate and balance
    # of `lc_credit`; hold, per chain. For every account of the batch, not only the owners of
    # the resources flagged: the planner cannot know how many those are, and a semi-join to
    # them inside a join it then repeats per owner made a flagging statement of 3,000 accounts
    # run for minutes.
    needs_sql = {
        PaymentType.CREDIT: """
            SELECT account_id AS owner_id, %(credit)s AS payment_type, '' AS chain,
                   rate * %(horizon_seconds)s AS required, balance AS available
            FROM lc_credit""",
        PaymentType.HOLD: f"""
            SELECT r.owner_id, %(hold)s AS payment_type, r.payment_chain AS chain,
                   SUM(r.cost_hold) AS required, COALESCE(MAX(t.balance), 0) AS available
            FROM lc_res r
            LEFT JOIN {_TOKEN_BALANCE} t
                   ON t.account_id = r.owner_id AND t.chain = r.payment_chain
            WHERE r.payment_type = %(hold)s GROUP BY r.owner_id, r.payment_chain"""}
    for payment_type, reason in REMOVAL_REASON_BY_PAYMENT.items():
        ids = resources_transition(
            cursor,
            params={**params, "removal_reason": reason.value, "payment": payment_type.value},
            candidates_sql="SELECT id FROM lc_fund WHERE funded = 0 AND status = %(processed)s "
                           "AND payment_type = %(payment)s",
            from_status=ResourceStatus.PROCESSED, to_status=ResourceStatus.REMOVING,
            reason=reason.value, **audit, needs_sql=needs_sql[payment_type],
            set_sql="removing_since = %(now)s, delete_after = %(delete_after)s, "
                    "removal_reason = %(removal_reason)s")
        counts.flagged += len(ids)
        counts.flagged_ids += ids
    # Funded again before the deadline: back to processed. Past the deadline it is removed.
    ids = resources_transition(
        cursor, params=params,
        candidates_sql="SELECT id FROM lc_fund WHERE funded = 1 AND status = %(removing)s "
                       "AND delete_after > %(now)s",
        from_status=ResourceStatus.REMOVING, to_status=ResourceStatus.PROCESSED,
        reason=StatusChangeReason.FUNDED, **audit,
        set_sql="removing_since = NULL, delete_after = NULL, removal_reason = ''")
    counts.restored = len(ids)
    counts.restored_ids = ids
    return counts
