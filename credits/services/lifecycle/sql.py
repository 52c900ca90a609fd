"""SQL shared by the steps of the run: the batch predicate, whole hours, the hourly charge.

PostgreSQL only: `numeric` sums of the 18-decimal rates, whole hours from exact epoch
differences. Table names come from the models (`_meta.db_table`), statuses and kinds from
their enums, passed as parameters.
"""
from __future__ import annotations

from pricing.costs import HOUR_SECONDS


def in_batch(column: str) -> str:
    """`column` is one of the batch's accounts (`lc_batch`; `batch_lo`/`batch_hi` parameters,
    `Batch.params`). The range bounds let the planner start an index scan at the batch's first
    account: without them it merges over the index from the first account of all, and the later
    batches of a run read most of the table."""
    return (f"{column} IN (SELECT account_id FROM lc_batch) "
            f"AND {column} BETWEEN %(batch_lo)s AND %(batch_hi)s")


def whole_hours_between(later: str, earlier: str) -> str:
    """Whole hours from `earlier` to `later`: the epoch difference is an exact `numeric`
    (microseconds), so an exact hour is never a hair short of one."""
    return (f"CAST(FLOOR((EXTRACT(EPOCH FROM {later}) - EXTRACT(EPOCH FROM {earlier}))"
            f" / {HOUR_SECONDS}) AS BIGINT)")


def hourly_charge(rate_column: str) -> str:
    """Credits per hour, rounded half-up to whole credits (rates are never negative)."""
    return f"CAST(ROUND({rate_column} * {HOUR_SECONDS}) AS BIGINT)"
