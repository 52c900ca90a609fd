"""SQL shared by the steps of the run: the batch predicate, whole hours, the hourly charge, the
charged hours of a resource and the clock hour of a charge.

PostgreSQL only: `numeric` sums of the 18-decimal rates, whole hours from `date_bin`. Table
names come from the models (`_meta.db_table`), statuses and kinds from their enums, passed as
parameters.
"""
from __future__ import annotations

from pricing.costs import HOUR_SECONDS


def in_batch(column: str) -> str:
    """`column` is one of the batch's accounts (`accounts`, `batch_lo` and `batch_hi`
    parameters, `Batch.params`). The range bounds let the planner start an index scan at the
    batch's first account: without them it merges over the index from the first account of all,
    and the later batches of a run read most of the table."""
    return f"{column} = ANY(%(accounts)s) AND {in_batch_range(column)}"


def in_batch_range(column: str) -> str:
    """`column` is within the range of the batch's accounts (`batch_lo`, `batch_hi`): all of
    them and maybe others (those of other shards, those without live resources). Enough where
    another condition keeps to the batch, and cheaper to plan: the planner estimates
    `= ANY(…)` element by element (5,000 of them, each matched against the column's most common
    values: up to 4.5 ms a statement)."""
    return f"{column} BETWEEN %(batch_lo)s AND %(batch_hi)s"


def whole_hours_between(later: str, earlier: str) -> str:
    """Whole hours from `earlier` to `later`, floored (`funding.whole_hours`), in integer
    arithmetic: `date_bin` finds the start of the hour (counted from `earlier`) that holds
    `later` in whole microseconds, so an exact hour is never a hair short of one; the epoch of
    that whole number of hours is an exact float8 integer, divided exactly by 3600. A `numeric`
    epoch difference says the same at twice the cost (a million rows a run)."""
    return (f"CAST(date_part('epoch', date_bin(interval '1 hour', {later}, {earlier})"
            f" - {earlier}) / {HOUR_SECONDS} AS BIGINT)")


def hourly_charge(rate_column: str) -> str:
    """Credits per hour, rounded half-up to whole credits (rates are never negative)."""
    return f"CAST(ROUND({rate_column} * {HOUR_SECONDS}) AS BIGINT)"


def charged_hours_sql(*, meter: str, metered_until: str, created_at: str) -> str:
    """`funding.charged_hours` in SQL: the meter row's hours, else the whole hours ended by the
    account's watermark (GREATEST ignores a NULL watermark: 0)."""
    return (f"COALESCE({meter}, GREATEST(0, "
            f"{whole_hours_between(metered_until, created_at)}))")


def charge_hour_sql(*, created_at: str, hour_index: str) -> str:
    """`funding.hour_of_charge` in SQL: the clock hour (UTC) in which the billing hour starts.
    UTC hours are whole hours from any UTC hour, so `date_bin` from one finds it in integer
    arithmetic: `date_trunc('hour', …, 'UTC')` says the same through a time zone lookup and
    conversion per row, several times the cost (a million charges a run)."""
    return (f"(date_bin(interval '1 hour', {created_at}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
            f" + {hour_index} * interval '1 hour')")
