"""The monthly partitions of the charges table (`Charge`), on PostgreSQL.

`credits_charge` is partitioned by range of `hour`: one partition per month (UTC),
`credits_charge_pYYYY_MM`, and a default partition for hours no month partition covers (a
resource metered long after its hours, a clock moved in tests). The lifecycle makes the months
it writes to before its batches (`charge_partitions_ensure`, in a transaction of its own: adding
a partition locks the whole table briefly); `charges_retire` rolls old months up and drops them.

A month is never made while the default partition holds hours of it: those rows stay where they
are, and every later row of that month joins them, so each hour lives in exactly one partition
and the primary key stays unique across the table.

Retention (`charges_retire`, `manage.py retire_charges`): a month older than the cutoff is
rolled up into one `ResourceUsage` row per resource and a `ChargeRollup` row, then its partition
is detached and dropped (or kept under `credits_charge_archive_YYYY_MM`), each month in its own
transaction. Metering lags the hours (the last hours of a month are charged by the next
month's runs), so the ledger check skips the metering entries effective before
`charges_retired_until()`, the first instant from which every entry still has all its charges.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .locks import charge_partitions_lock
from .models import ChargeRollup, LedgerEntry, ResourceUsage

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
    """Make the partitions of `months` that are missing, each in its own short transaction
    under `charge_partitions_lock`, except a month the default partition holds hours of.
    Returns the months made (by this call: a month another one made meanwhile is not)."""
    existing = set(charge_partitions())
    made = []
    for month in sorted(set(months) - existing):
        start, end = _bounds(month)
        with transaction.atomic(), connection.cursor() as cursor:
            charge_partitions_lock()
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition_name(month)])
            if cursor.fetchone()[0]:
                continue  # made meanwhile by another run or shard
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


# --- retention -----------------------------------------------------------------------------------

ARCHIVE_PREFIX = f"{CHARGE_TABLE}_archive_"
_USAGE_TABLE = ResourceUsage._meta.db_table
_ENTRY_TABLE = LedgerEntry._meta.db_table
# PostgreSQL's timestamps count microseconds: the instant right after another.
_NEXT_INSTANT = timedelta(microseconds=1)


class RetentionRefused(ValueError):
    """Retiring a month would lose charges or the ledger check's footing; nothing of that month
    (nor of any later one) was changed."""


class RetentionFailed(RuntimeError):
    """A month's rollup did not add up to its partition; its transaction was rolled back."""


@dataclass(frozen=True, slots=True)
class MonthRetired:
    """What one month of charges held when it was retired (or would be, in a dry run)."""

    month: date
    charges: int
    resources: int
    amount_requested: int
    amount_drained: int
    kept_table: str = ""
    dry_run: bool = False


def archive_name(month: date) -> str:
    return f"{ARCHIVE_PREFIX}{month:%Y_%m}"


def latest_retirable_cutoff(now: datetime | None = None) -> date:
    """The latest `before` allowed: the start of the previous month, so the current month and
    the one before it, which runs still write (a late hour, a run's lag), are never retired."""
    return month_before(month_start(now or timezone.now()))


def charges_retire(*, before: date, keep_table: bool = False, dry_run: bool = False,
                   on_month: Callable[[MonthRetired], None] | None = None) -> list[MonthRetired]:
    """Roll up and take out of `credits_charge` every month partition older than `before` (a
    first of month), oldest first, each month in its own transaction; returns the months.

    Refuses (`RetentionRefused`), before it changes anything: a `before` later than the start
    of the previous month (runs still write the current and the previous month); the default
    partition holding hours before `before` (they would stay behind, unrolled); a month with a
    charge whose ledger entry took effect a month or more after `before` (metering that late:
    the ledger check, which skips the metering entries effective before
    `charges_retired_until()`, would then skip a month or more of entries whose charges are
    kept); an archive table of the name `keep_table` would give, taken already. Each month is
    checked again under its lock. A dry run checks and counts, and changes nothing.
    `on_month` is called with each month once it is done (e.g. to print it).
    """
    if before.day != 1:
        raise RetentionRefused(f"The cutoff {before.isoformat()} is not the first day of a month.")
    latest = latest_retirable_cutoff()
    if before > latest:
        raise RetentionRefused(
            f"The cutoff {before:%Y-%m} is too recent: runs still write the current and the "
            f"previous month, so the latest cutoff now is {latest:%Y-%m} (months before it).")
    months = [month for month in charge_partitions() if month < before]
    with transaction.atomic(), connection.cursor() as cursor:
        _default_check(cursor, before)
        for month in months:
            _month_check(cursor, month, before=before, keep_table=keep_table)
    results = []
    for month in months:
        with transaction.atomic():
            result = _month_retire(month, before=before, keep_table=keep_table,
                                   dry_run=dry_run)
        results.append(result)
        if on_month is not None:
            on_month(result)
    return results


def _default_check(cursor, before: date) -> None:
    cursor.execute(f"SELECT min(hour), count(*) FROM {DEFAULT_PARTITION} WHERE hour < %s",
                   [_bounds(before)[0]])
    first_hour, count = cursor.fetchone()
    if count:
        raise RetentionRefused(
            f"The default partition {DEFAULT_PARTITION} holds {count} charge(s) of hours before "
            f"{before:%Y-%m} (the first at {first_hour.astimezone(UTC).isoformat()}), which "
            f"have no month partition to roll up: they would stay behind.")


def _month_check(cursor, month: date, *, before: date, keep_table: bool) -> datetime | None:
    """Refuse the month (see `charges_retire`); else the instant the latest ledger entry of its
    charges took effect (None: no charge)."""
    cursor.execute(f"""
        SELECT e.id, e.effective_at FROM {_ENTRY_TABLE} e
        WHERE e.id IN (SELECT DISTINCT entry_id FROM {partition_name(month)})
        ORDER BY e.effective_at DESC, e.id DESC LIMIT 1""")
    latest_entry = cursor.fetchone()
    entries_until = latest_entry[1] if latest_entry else None
    if entries_until is not None and entries_until >= _bounds(month_after(before))[0]:
        raise RetentionRefused(
            f"{month:%Y-%m}: ledger entry {latest_entry[0]}, effective "
            f"{entries_until.astimezone(UTC).isoformat()}, charged hours of this month: it "
            f"straddles the cutoff {before:%Y-%m} by a month or more, and the ledger check "
            f"could no longer check its charges against it nor skip it alone. Retire with a "
            f"later cutoff.")
    if keep_table:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [archive_name(month)])
        if cursor.fetchone()[0]:
            raise RetentionRefused(f"{month:%Y-%m}: a table {archive_name(month)} exists "
                                   f"already; rename or drop it first.")
    return entries_until


def _month_retire(month: date, *, before: date, keep_table: bool,
                  dry_run: bool) -> MonthRetired:
    partition = partition_name(month)
    with connection.cursor() as cursor:
        if not dry_run:
            # Nothing reads or writes the month while it is rolled up and detached, and no
            # partition is made meanwhile.
            charge_partitions_lock()
            cursor.execute(f"LOCK TABLE {partition} IN ACCESS EXCLUSIVE MODE")
            _default_check(cursor, before)
            entries_until = _month_check(cursor, month, before=before, keep_table=keep_table)
        cursor.execute(f"""
            SELECT count(*), count(DISTINCT resource_id), COALESCE(sum(amount_requested), 0),
                   COALESCE(sum(amount_drained), 0)
            FROM {partition}""")
        charges, resources, requested, drained = (int(value) for value in cursor.fetchone())
        kept_table = archive_name(month) if keep_table else ""
        result = MonthRetired(month=month, charges=charges, resources=resources,
                              amount_requested=requested, amount_drained=drained,
                              kept_table=kept_table, dry_run=dry_run)
        if dry_run:
            return result
        cursor.execute(f"""
            INSERT INTO {_USAGE_TABLE} (resource_id, month, hours, amount_requested,
                                        amount_drained)
            SELECT resource_id, %s, count(*), sum(amount_requested), sum(amount_drained)
            FROM {partition} GROUP BY resource_id""", [month])
        ChargeRollup.objects.create(month=month, charges=charges, resources=resources,
                                    amount_requested=requested, amount_drained=drained,
                                    entries_until=entries_until, kept_table=kept_table)
        cursor.execute(f"""
            SELECT count(*), COALESCE(sum(hours), 0), COALESCE(sum(amount_requested), 0),
                   COALESCE(sum(amount_drained), 0)
            FROM {_USAGE_TABLE} WHERE month = %s""", [month])
        rolled_up = tuple(int(value) for value in cursor.fetchone())
        if rolled_up != (resources, charges, requested, drained):
            raise RetentionFailed(
                f"{month:%Y-%m}: the usage rows (resources, hours, requested, drained) "
                f"{rolled_up} do not add up to the partition's "
                f"{(resources, charges, requested, drained)}; nothing was changed.")
        cursor.execute(f"ALTER TABLE {CHARGE_TABLE} DETACH PARTITION {partition}")
        if keep_table:
            _table_rename(cursor, partition, kept_table)
        else:
            cursor.execute(f"DROP TABLE {partition}")
    return result


def _table_rename(cursor, table: str, new_name: str) -> None:
    """Rename a detached partition and its indexes (its primary key's name would otherwise
    stay taken by the archive)."""
    cursor.execute("""
        SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = to_regclass(%s)""", [table])
    for (index,) in cursor.fetchall():
        if index.startswith(table):
            cursor.execute(f"ALTER INDEX {index} RENAME TO {new_name}{index[len(table):]}")
    cursor.execute(f"ALTER TABLE {table} RENAME TO {new_name}")


def charges_retired_until() -> datetime | None:
    """The first instant (UTC) from which no charge was retired: every charge of an hour at or
    after it is kept, and every ledger entry effective at or after it still has all its
    charges. It is the start of the month after the latest retired month, or, when metering
    charged that month's last hours later (it lags the hours), the instant right after the
    latest ledger entry of the retired charges. The ledger check skips the metering entries
    effective before it. None: no month was ever retired."""
    latest = ChargeRollup.objects.aggregate(month=Max("month"), entries=Max("entries_until"))
    if latest["month"] is None:
        return None
    until = _bounds(latest["month"])[1]
    if latest["entries"] is not None:
        until = max(until, latest["entries"].astimezone(UTC) + _NEXT_INSTANT)
    return until
