"""The ledger check: the full audit, or an incremental check from the last checkpoint, each
recorded as a `LedgerCheckpoint`.

The drifts are found by `credits.selectors.ledger.ledger_drifts`; this module chooses its base,
and keeps the totals an incremental check starts from (`LedgerCheckAccount`, `LedgerCheckLot`
and the transfer sums of the checkpoint).

Rows are numbered by ids drawn from sequences, and a transaction may commit a row after another
committed a higher id, so "the highest id seen" does not bound what is still to come. A check
therefore adds to its totals only the rows up to the ids the previous check saw, once no
transaction of this database that began before that check took its snapshot is still running
(`pg_stat_activity`): every row up to those ids is then committed or never will be. What was
appended after them is read by every check until then. (The service's database user sees its
own sessions there; a superuser or `pg_read_all_stats` sees all.)
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from ..locks import ledger_check_lock_try
from ..models import (
    LedgerCheckAccount,
    LedgerCheckLot,
    LedgerCheckMode,
    LedgerCheckpoint,
    LedgerEntry,
    LotDrain,
)
from ..selectors.ledger import FULL_AUDIT, CheckBase, Drift, ledger_drifts, transfer_totals

logger = logging.getLogger(__name__)

CHECK_WORK_MEM = "64MB"
# The drifts written into a checkpoint's report (all of them are counted).
REPORT_LIMIT = 1000


class LedgerCheckBusy(RuntimeError):
    """Another ledger check is running."""


def ledger_check(*, mode: str = LedgerCheckMode.INCREMENTAL, at: datetime | None = None,
                 on_progress: Callable[[int], None] | None = None
                 ) -> tuple[LedgerCheckpoint, list[Drift]]:
    """Check the ledger (`ledger_drifts`) in one snapshot and record the check.

    Incremental: from the last checkpoint, reading only what was appended since (the full
    audit when there is none). Full: everything, and the totals are made again from scratch.
    Raises `LedgerCheckBusy` when another check is running.
    """
    started_at = timezone.now()
    at = started_at if at is None else at
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if outermost:
                # One snapshot for all the queries, so writes going on meanwhile cannot look
                # like drifts.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # Its hash joins over the charges appended in an hour (a million at scale) fit in
            # memory with this; the service's statements keep the server's default.
            cursor.execute(f"SET LOCAL work_mem = '{CHECK_WORK_MEM}'")
            if not ledger_check_lock_try():
                raise LedgerCheckBusy("Another ledger check is running; try again when it "
                                      "has finished.")
            previous = LedgerCheckpoint.objects.order_by("-id").first()
            base = (_base(previous) if mode == LedgerCheckMode.INCREMENTAL and previous
                    else FULL_AUDIT)
            cursor.execute("""
                SELECT clock_timestamp(),
                       (SELECT count(*) FROM credits_ledgerentry WHERE id > %s),
                       (SELECT COALESCE(max(id), 0) FROM credits_ledgerentry),
                       (SELECT COALESCE(max(id), 0) FROM credits_lotdrain),
                       (SELECT COALESCE(max(id), 0) FROM credits_lot)""", [base.entry_id])
            snapshot_at, entries_read, *seen = cursor.fetchone()
            drifts = ledger_drifts(at=at, base=base, on_progress=on_progress)
            final = _final(cursor, previous)
            _totals_keep(cursor, base, final)
            sent, received, outs, ins = transfer_totals(cursor, base.entry_id, final[0])
            checkpoint = LedgerCheckpoint.objects.create(
                mode=mode, at=at, started_at=started_at, finished_at=timezone.now(),
                entry_id=final[0], drain_id=final[1], lot_id=final[2],
                seen_entry_id=seen[0], seen_drain_id=seen[1], seen_lot_id=seen[2],
                transfers_sent=base.transfers_sent + sent,
                transfers_received=base.transfers_received + received,
                transfers_out=base.transfers_out + outs, transfers_in=base.transfers_in + ins,
                snapshot_at=snapshot_at, entries_read=entries_read,
                drift_count=len(drifts),
                drifts="\n".join(str(drift) for drift in drifts[:REPORT_LIMIT]))
    if drifts:
        logger.error("Ledger check %s (%s) found %d drift(s): %s", checkpoint.pk, mode,
                     len(drifts), "; ".join(str(drift) for drift in drifts[:10]))
    return checkpoint, drifts


def _base(previous: LedgerCheckpoint) -> CheckBase:
    return CheckBase(entry_id=previous.entry_id, drain_id=previous.drain_id,
                     lot_id=previous.lot_id, transfers_sent=previous.transfers_sent,
                     transfers_received=previous.transfers_received,
                     transfers_out=previous.transfers_out, transfers_in=previous.transfers_in,
                     totals=True)


def _final(cursor, previous: LedgerCheckpoint | None) -> tuple[int, int, int]:
    """The ids up to which rows can no longer appear (see the module's docstring)."""
    if previous is None:
        return 0, 0, 0
    cursor.execute("""
        SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()
                         AND backend_type = 'client backend' AND xact_start <= %s)""",
                   [previous.snapshot_at])
    if cursor.fetchone()[0]:
        return previous.entry_id, previous.drain_id, previous.lot_id
    return previous.seen_entry_id, previous.seen_drain_id, previous.seen_lot_id


def _totals_keep(cursor, base: CheckBase, final: tuple[int, int, int]) -> None:
    """Bring the totals from `base` up to `final`: add the rows in between, or, from the full
    audit's empty base, make them again."""
    accounts, lots = LedgerCheckAccount._meta.db_table, LedgerCheckLot._meta.db_table
    if not base.totals:
        cursor.execute(f"TRUNCATE {accounts}, {lots}")
    params = {"entry_from": base.entry_id, "entry_to": final[0],
              "drain_from": base.drain_id, "drain_to": final[1]}
    cursor.execute(f"""
        INSERT INTO {accounts} (account_id, total)
        SELECT account_id, sum(amount) FROM {LedgerEntry._meta.db_table}
        WHERE id > %(entry_from)s AND id <= %(entry_to)s GROUP BY account_id
        ON CONFLICT (account_id) DO UPDATE SET total = {accounts}.total + EXCLUDED.total""",
                   params)
    cursor.execute(f"""
        INSERT INTO {lots} (lot_id, drained)
        SELECT lot_id, sum(amount) FROM {LotDrain._meta.db_table}
        WHERE id > %(drain_from)s AND id <= %(drain_to)s GROUP BY lot_id
        ON CONFLICT (lot_id) DO UPDATE SET drained = {lots}.drained + EXCLUDED.drained""",
                   params)
