"""The monthly partitions of the charges table (`Charge`), on PostgreSQL.

`credits_charge` is partitioned by range of `hour`: one partition per month (UTC),
`credits_charge_pYYYY_MM`, and a default partition for hours no month partition covers (a
resource metered long after its hours, a clock moved in tests). The lifecycle makes the months
it writes to before its batches (`charge_partitions_ensure`, in a transaction of its own: adding
a partition locks the whole table briefly); `charges_retire` rolls old months up and drops them.

A month is never made while the default partition holds hours of it: those rows stay where they
are, and every later row of that month joins them, so each hour lives in exactly one partition
and the primary key stays unique across the table.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

from django.db import connection, transaction

CHARGE_TABLE = "credits_charge"
DEFAULT_PARTITION = f"{CHARGE_TABLE}_default"


def month_start(moment: datetime | date) -> date:
    """The first day of the month (UTC) of `moment`."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def month_after(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def month_before(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{CHARGE_TABLE}_p{month:%Y_%m}"


def _bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = month_after(month)
    return start, datetime(following.year, following.month, 1, tzinfo=UTC)


def charge_partitions() -> list[date]:
    """The months that have a partition, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = %s AND c.relname <> %s""", [CHARGE_TABLE, DEFAULT_PARTITION])
        names = [row[0] for row in cursor.fetchall()]
    prefix = len(CHARGE_TABLE) + 2
    return sorted(date(int(name[prefix:prefix + 4]), int(name[prefix + 5:prefix + 7]), 1)
                  for name in names)


def charge_partitions_ensure(months: list[date]) -> list[date]:
    """Make the partitions of `months` that are missing, each in its own short transaction,
    except a month the default partition holds hours of. Returns the months made."""
    existing = set(charge_partitions())
    made = []
    for month in sorted(set(months) - existing):
        start, end = _bounds(month)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE hour >= %s AND hour < %s "
                           f"LIMIT 1", [start, end])
            if cursor.fetchone() is not None:
                continue
            # DDL takes no parameters: the bounds are dates this module made.
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {partition_name(month)} "
                           f"PARTITION OF {CHARGE_TABLE} FOR VALUES FROM "
                           f"('{start.isoformat()}') TO ('{end.isoformat()}')")
        made.append(month)
    return made


def charge_partitions_around(moment: datetime) -> list[date]:
    """The months a run as of `moment` writes to (its hours end by `moment`: this month or the
    one before), and the next, made ahead."""
    month = month_start(moment)
    return [month_before(month), month, month_after(month)]
