"""The only place that builds `select_for_update` querysets.

Rows are always locked in primary-key order, so no two code paths can deadlock on them. Call
these inside `transaction.atomic()`.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime

from django.db import connection

from .funding import drain_order_key
from .id_arrays import IdArray
from .models import Account, Lot, Resource


def accounts_lock(account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the accounts' rows (in pk order) and return them by id."""
    ids = sorted(set(account_ids))
    return {account.pk: account
            for account in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def account_lock(account_id: int) -> Account:
    return accounts_lock([account_id])[account_id]


def lots_spendable_lock(account_id: int, *, at: datetime) -> list[Lot]:
    """The account's unexpired lots with credits left, locked, in drain order: soonest expiry
    first, non-expiring last, then oldest first. Lock the account first."""
    lots = list(Lot.objects.spendable(at).select_for_update().filter(account_id=account_id)
                .order_by("pk"))
    lots.sort(key=lambda lot: drain_order_key(expires_at=lot.expires_at,
                                              created_at=lot.created_at, lot_id=lot.pk))
    return lots


def lots_due_lock(*, pks: list[int], at: datetime) -> list[Lot]:
    """The lots among `pks` expired at `at` with credits left, locked in pk order (lock their
    accounts first). A lot drained meanwhile is read again once locked, so `remaining` is
    exact (and maybe 0 now)."""
    return list(Lot.objects.select_for_update()
                .filter(pk__in=pks, expires_at__lte=at, remaining__gt=0)
                .order_by("pk")
                .only("pk", "account_id", "remaining", "expires_at"))


def resource_lock(resource_id: int) -> Resource:
    return Resource.objects.select_for_update().get(pk=resource_id)


def accounts_lock_ids(account_ids: Iterable[int]) -> list[int]:
    """Lock many account rows (pk order) without loading them: a lifecycle batch. The ids go
    as one array parameter (`IdArray`): `pk__in` would send thousands of placeholders to build
    and parse."""
    ids = IdArray(sorted(set(account_ids)))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Account._meta.db_table} WHERE id = ANY(%s) "
                       f"ORDER BY id FOR UPDATE", [ids])
        return [row[0] for row in cursor.fetchall()]


_LIFECYCLE_LOCK_SPACE = 0x43524544  # "CRED": the advisory-lock namespace of this service
# One lock per lifecycle run (key: the run's id), held by the process running it.
_LIFECYCLE_RUN_LOCK_SPACE = 0x52554E53  # "RUNS"


@contextmanager
def lifecycle_lock(name: str, *, wait: bool = False):
    """A database lock so only one lifecycle run (or one run of a shard) works at a time.

    A session advisory lock, released when the run ends or its connection dies (a killed
    worker never leaves it held). Yields whether the lock was acquired.
    """
    key = zlib.crc32(name.encode()) - 2**31  # PostgreSQL takes two signed 32-bit keys
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LIFECYCLE_LOCK_SPACE, key])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LIFECYCLE_LOCK_SPACE, key])
            acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LIFECYCLE_LOCK_SPACE, key])


def lifecycle_run_claim(run_id: int) -> None:
    """Hold the run's own lock for as long as this session works on the run.

    Take it in the transaction that creates the run's row, so that nobody sees the row without
    its holder. A session lock: it outlives that transaction, and is released when the run
    ends (`lifecycle_run_unclaim`) or its connection dies, so a `running` run whose lock nobody
    holds (`lifecycle_run_unclaimed_sql`) has lost its process, for good: nothing else ever
    takes a run's lock.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LIFECYCLE_RUN_LOCK_SPACE, run_id])


def lifecycle_run_unclaim(run_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LIFECYCLE_RUN_LOCK_SPACE, run_id])


def lifecycle_run_unclaimed_sql(run_id_column: str) -> str:
    """SQL true when no session holds the lock of the run whose id is `run_id_column`.

    Read from `pg_locks`, which shows the lock table as it is now (unlike `pg_stat_activity`,
    which a transaction reads once), in this database only (advisory locks are per database).
    """
    return f"""NOT EXISTS (
        SELECT 1 FROM pg_locks held
        WHERE held.locktype = 'advisory' AND held.granted AND held.objsubid = 2
          AND held.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND held.classid::bigint = {_LIFECYCLE_RUN_LOCK_SPACE}
          AND held.objid::bigint = {run_id_column})"""


def ledger_check_lock_try() -> bool:
    """Take the ledger check's lock for the current transaction if nobody holds it: two checks
    must not both add to the totals they keep. Call it before the check's first read, so its
    snapshot never predates another check's commit."""
    key = zlib.crc32(b"ledger check") - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_LIFECYCLE_LOCK_SPACE, key])
        return cursor.fetchone()[0]


def charge_partitions_lock() -> None:
    """Wait for, then hold until the transaction ends, the lock under which the charges'
    partitions are made or retired: two shards of a run starting together would otherwise
    both create the same month (a deadlock on the parent and default partitions)."""
    key = zlib.crc32(b"charge partitions") - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LIFECYCLE_LOCK_SPACE, key])
