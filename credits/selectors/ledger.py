"""Reading the credit ledger: balances at an instant, their split by expiry, the runway, the
history, and the drifts `check_ledger` reports. Pure reads: nothing here writes or locks."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BigIntegerField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from pricing.costs import HOUR_SECONDS, amount_for_seconds
from pricing.enums import PaymentType
from pricing.fields import exact_sum_by

from ..cursors import cursor_encode
from ..funding import lot_spendable_sql
from ..models import (
    LIVE_STATUSES,
    METERING_REASON,
    Account,
    EntryKind,
    LedgerEntry,
    Lot,
    Resource,
    TokenBalance,
)
from ..partitions import charges_retired_until
from .resources import account_credit_cost_per_second

_ZERO = Value(0, output_field=BigIntegerField())


def _at(at: datetime | None) -> datetime:
    return timezone.now() if at is None else at


# --- balances ----------------------------------------------------------------------------------

def account_balance(*, account: Account, at: datetime | None = None) -> int:
    """Credits spendable at `at`: what is left in lots that never expire or expire after `at`
    (a lot expiring exactly at `at` no longer counts)."""
    total = (Lot.objects.spendable(_at(at)).filter(account=account)
             .aggregate(total=Sum("remaining"))["total"])
    return int(total or 0)


def account_balance_subquery(*, at: datetime | None = None):
    """`account_balance` as an annotation of an Account queryset, one subquery for all its rows:
    `Account.objects.annotate(credits=account_balance_subquery(at=at))`."""
    return _sum_by_account(Lot.objects.spendable(_at(at)), "remaining")


def account_balance_by_expiry(*, account: Account, at: datetime | None = None) -> list[dict]:
    """The balance split by expiry instant, soonest first, never-expiring (None) last:
    `[{"expires_at": datetime | None, "amount": int}]`."""
    rows = (Lot.objects.spendable(_at(at)).filter(account=account)
            .values("expires_at").annotate(amount=Sum("remaining"))
            .order_by(F("expires_at").asc(nulls_last=True)))
    return [{"expires_at": row["expires_at"], "amount": int(row["amount"])} for row in rows]


def account_runway_hours(*, account: Account, at: datetime | None = None,
                         rate_per_second: Decimal | None = None) -> Decimal | None:
    """Hours from `at` until the balance no longer pays for the account's billed credit
    resources at their current rate (`rate_per_second`, when the caller already has
    `account_credit_cost_per_second`); None when nothing is billed.

    Credits are spent continuously at the current rate, soonest-expiring lots first (as they are
    drained); what a lot still holds when it expires is lost and does not lengthen the runway.
    Hourly rounding of the meter and resources started or stopped later are ignored. Floored to
    hundredths of an hour, so the runway is never overstated. Computed by the SQL the lifecycle
    uses for `account.runway_low` (`runway_hours_sql`): one rule.
    """
    at = _at(at)
    if rate_per_second is None:
        rate_per_second = account_credit_cost_per_second(account=account)
    if rate_per_second <= 0:
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT {runway_hours_sql(credits='remaining', rate='%(rate)s',
                                     expires_at='expires_at', at='%(at)s')}
            FROM {Lot._meta.db_table}
            WHERE account_id = %(account)s AND {lot_spendable_sql(at='%(at)s')}""",
                       {"rate": rate_per_second, "at": at, "account": account.pk})
        return cursor.fetchone()[0]


def runway_hours_sql(*, credits: str, rate: str, expires_at: str, at: str) -> str:
    """The runway in hours as an SQL aggregate over an account's spendable lots (rows with
    `credits` left and their `expires_at`, NULL: never), spent at `rate` credits per second
    from the instant `at`: the ordered aggregate `credits_runway_seconds` (migration 0018: the
    walk of `account_runway_hours`, lot by lot, soonest expiry first), floored to hundredths of
    an hour (0.00 without lots). `rate` must be positive. Exact: `div` truncates, never
    rounds up."""
    seconds_left = (f"COALESCE(EXTRACT(EPOCH FROM {expires_at}) "
                    f"- EXTRACT(EPOCH FROM CAST({at} AS timestamptz)), 'Infinity')")
    seconds = (f"credits_runway_seconds({credits}, CAST({rate} AS numeric), {seconds_left} "
               f"ORDER BY {expires_at} ASC NULLS LAST)")
    return f"div({seconds}, {HOUR_SECONDS // 100}) * 0.01"


def _sum_by_account(queryset: QuerySet, field: str) -> Subquery:
    return Coalesce(Subquery(queryset.filter(account=OuterRef("pk")).order_by()
                             .values("account").annotate(total=Sum(field)).values("total")),
                    _ZERO)


def account_credit_cost_per_hour(*, account: Account) -> Decimal:
    """Credits per hour of the account's billed credit resources (not rounded)."""
    return amount_for_seconds(account_credit_cost_per_second(account=account), HOUR_SECONDS)


def account_token_balances(*, account: Account | None) -> list[TokenBalance]:
    if account is None:
        return []
    return list(TokenBalance.objects.filter(account=account).order_by("chain"))


def account_hold_locked_by_chain(*, account: Account | None) -> dict[str, Decimal]:
    """Tokens locked by the account's live hold-paid resources, per payment chain."""
    if account is None:
        return {}
    locked = exact_sum_by(Resource.objects.filter(owner=account, payment_type=PaymentType.HOLD,
                                                  status__in=LIVE_STATUSES),
                          "payment_chain", "cost_hold")
    return dict(sorted(locked.items()))


# --- history -----------------------------------------------------------------------------------

def credit_history(*, account: Account, kinds: list[str] | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   after: tuple[datetime, int] | None = None) -> QuerySet[LedgerEntry]:
    """The account's entries, newest first (by effective instant, then id), optionally of some
    kinds, effective in [since, until), and strictly after the position `after` =
    (effective_at, id) of the previous page's last entry (a decoded `history_cursor`)."""
    entries = (LedgerEntry.objects.filter(account=account)
               .select_related("resource", "counterparty")
               .order_by("-effective_at", "-id"))
    if kinds:
        entries = entries.filter(kind__in=kinds)
    if since is not None:
        entries = entries.filter(effective_at__gte=since)
    if until is not None:
        entries = entries.filter(effective_at__lt=until)
    if after is not None:
        effective_at, entry_id = after
        entries = entries.filter(Q(effective_at__lt=effective_at)
                                 | Q(effective_at=effective_at, id__lt=entry_id))
    return entries


def history_cursor(entry: LedgerEntry) -> str:
    """The cursor of the page after `entry` in `credit_history` order."""
    return cursor_encode(entry.effective_at, entry.pk)


# --- consistency -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drift:
    """One disagreement found by `ledger_drifts`: where, what, what the ledger says and what was
    found."""

    account: str | None
    what: str
    expected: int | tuple
    found: int | tuple

    def __str__(self) -> str:
        return (f"{self.account or '-'}: {self.what}: expected {self.expected}, "
                f"found {self.found}")


@dataclass(frozen=True)
class CheckBase:
    """What a check may take as already verified: the rows with ids up to `entry_id`,
    `drain_id` and `lot_id` were checked, and their totals are the transfer sums here and, when
    `totals` is set, the rows of `LedgerCheckAccount` (entries per account) and `LedgerCheckLot`
    (drains per lot). The default, nothing, is the full audit."""

    entry_id: int = 0
    drain_id: int = 0
    lot_id: int = 0
    transfers_sent: int = 0
    transfers_received: int = 0
    transfers_out: int = 0
    transfers_in: int = 0
    totals: bool = False


FULL_AUDIT = CheckBase()

# The checks `ledger_drifts` makes, one `on_progress(1)` after each.
LEDGER_CHECK_COUNT = 5

# Entries that open lots, and entries that drain them (SQL over `credits_ledgerentry e`).
_OPENING_SQL = (f"(e.kind IN ('{EntryKind.GRANT}', '{EntryKind.TRANSFER_IN}') "
                f"OR (e.kind = '{EntryKind.ADJUSTMENT}' AND e.amount > 0))")
_DRAINING_SQL = (f"(e.kind IN ('{EntryKind.EXPENSE}', '{EntryKind.TRANSFER_OUT}', "
                 f"'{EntryKind.EXPIRY}') OR (e.kind = '{EntryKind.ADJUSTMENT}' "
                 f"AND e.amount <= 0))")


def ledger_drifts(*, at: datetime | None = None, base: CheckBase = FULL_AUDIT,
                  on_progress: Callable[[int], None] | None = None) -> list[Drift]:
    """Everything in which the ledger, the lots and the drains disagree, found set-based.

    Per account: grants + transfers in + positive adjustments − transfers out − drained expenses
    − negative adjustments − expired − credits of lots past expiry not yet written off
    (`lots_expire`) = the balance at `at`. Per lot: never negative, and amount − remaining = its
    drains (an expiry is a drain), on its entry's account. Per entry: credits in = the lots it
    opened, debits = the pieces drained, on the entry's own account. Per transfer: out = in.
    Per metering entry (effective from `charges_retired_until` on): its charges add up to it.
    Per charge: its resource, entry, run and pricing version exist, and its account is the
    resource's owner and the entry's account.

    With a `base` (an incremental check), the rows up to it are taken as checked: their sums
    come from the base's totals, and only what was appended after it is read, with every
    account and lot (current state, which does not grow with history). The drifts are the same
    as the full audit's as long as nothing up to the base was changed behind the append-only
    triggers' back, which only the full audit (the default) finds.

    `on_progress(1)` is called after each of the `LEDGER_CHECK_COUNT` checks, e.g. to move a
    progress bar.
    """
    params = {"at": _at(at), "entry": base.entry_id, "drain": base.drain_id,
              "lot": base.lot_id}
    checks = (_account_drifts, _lot_drifts, _entry_drifts, _transfer_drifts, _charge_drifts)
    drifts = []
    with connection.cursor() as cursor:
        for check in checks:
            drifts += check(cursor, params, base)
            if on_progress is not None:
                on_progress(1)
    return drifts


def _rows(cursor, sql: str, params: dict) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def _account_drifts(cursor, params: dict, base: CheckBase) -> list[Drift]:
    checked = ("LEFT JOIN credits_ledgercheckaccount s ON s.account_id = a.id" if base.totals
               else "LEFT JOIN (SELECT NULL::bigint AS total) s ON false")
    rows = _rows(cursor, f"""
        SELECT a.id, a.address, COALESCE(s.total, 0) + COALESCE(n.total, 0),
               COALESCE(l.balance, 0), COALESCE(l.pending, 0)
        FROM credits_account a
        {checked}
        LEFT JOIN (SELECT account_id, sum(amount) AS total FROM credits_ledgerentry
                   WHERE id > %(entry)s GROUP BY account_id) n ON n.account_id = a.id
        LEFT JOIN (SELECT account_id,
                          sum(remaining) FILTER (
                              WHERE {lot_spendable_sql(at='%(at)s')}) AS balance,
                          sum(remaining) FILTER (WHERE expires_at <= %(at)s) AS pending
                   FROM credits_lot GROUP BY account_id) l ON l.account_id = a.id
        WHERE COALESCE(l.balance, 0)
              <> COALESCE(s.total, 0) + COALESCE(n.total, 0) - COALESCE(l.pending, 0)
        ORDER BY a.id""", params)
    drifts = []
    for account_id, address, ledger, balance, pending in rows:
        parts = dict(LedgerEntry.objects.filter(account_id=account_id).order_by()
                     .values("kind").annotate(total=Sum("amount")).values_list("kind", "total"))
        summary = ", ".join(f"{kind} {total:+d}" for kind, total in sorted(parts.items()))
        drifts.append(Drift(
            account=address,
            what=f"balance at {params['at'].isoformat()} (ledger: {summary or 'empty'}; "
                 f"past expiry, not yet expired: {pending})",
            expected=ledger - pending, found=balance))
    return drifts


def _lot_drifts(cursor, params: dict, base: CheckBase) -> list[Drift]:
    drifts = [Drift(account=address, what=f"lot {lot} is negative", expected=0, found=remaining)
              for lot, address, remaining in _rows(cursor, """
                  SELECT l.id, a.address, l.remaining FROM credits_lot l
                  JOIN credits_account a ON a.id = l.account_id
                  WHERE l.remaining < 0 ORDER BY l.id""", params)]
    checked = ("LEFT JOIN credits_ledgerchecklot s ON s.lot_id = l.id" if base.totals
               else "LEFT JOIN (SELECT NULL::bigint AS drained) s ON false")
    drifts += [Drift(account=address,
                     what=f"lot {lot}: drained (drains and expiry) vs amount − remaining",
                     expected=expected, found=drained)
               for lot, address, expected, drained in _rows(cursor, f"""
                   SELECT l.id, a.address, l.amount - l.remaining,
                          COALESCE(s.drained, 0) + COALESCE(d.total, 0)
                   FROM credits_lot l
                   JOIN credits_account a ON a.id = l.account_id
                   {checked}
                   LEFT JOIN (SELECT lot_id, sum(amount) AS total FROM credits_lotdrain
                              WHERE id > %(drain)s GROUP BY lot_id) d ON d.lot_id = l.id
                   WHERE COALESCE(s.drained, 0) + COALESCE(d.total, 0) <> l.amount - l.remaining
                   ORDER BY l.id""", params)]
    drifts += [Drift(account=address, what=f"lot {lot} belongs to another account than its entry",
                     expected=entry_account, found=lot_account)
               for lot, address, entry_account, lot_account in _rows(cursor, """
                   SELECT l.id, a.address, e.account_id, l.account_id FROM credits_lot l
                   JOIN credits_ledgerentry e ON e.id = l.entry_id
                   JOIN credits_account a ON a.id = l.account_id
                   WHERE l.id > %(lot)s AND l.account_id <> e.account_id
                   ORDER BY l.id""", params)]
    return drifts


def _entry_drifts(cursor, params: dict, base: CheckBase) -> list[Drift]:
    # Joins grouped by entry (hash aggregates), not one subquery per entry.
    drifts = [Drift(account=address, what=f"{kind} entry {entry}: lots opened vs amount",
                    expected=amount, found=opened)
              for entry, kind, address, amount, opened in _rows(cursor, f"""
                  SELECT e.id, e.kind, a.address, e.amount, COALESCE(sum(l.amount), 0)
                  FROM credits_ledgerentry e
                  JOIN credits_account a ON a.id = e.account_id
                  LEFT JOIN credits_lot l ON l.entry_id = e.id
                  WHERE e.id > %(entry)s AND {_OPENING_SQL}
                  GROUP BY e.id, a.address HAVING COALESCE(sum(l.amount), 0) <> e.amount
                  ORDER BY e.id""", params)]
    drifts += [Drift(account=address, what=f"{kind} entry {entry}: pieces drained vs amount",
                     expected=-amount, found=drained)
               for entry, kind, address, amount, drained in _rows(cursor, f"""
                   SELECT e.id, e.kind, a.address, e.amount, COALESCE(sum(d.amount), 0)
                   FROM credits_ledgerentry e
                   JOIN credits_account a ON a.id = e.account_id
                   LEFT JOIN credits_lotdrain d ON d.entry_id = e.id
                   WHERE e.id > %(entry)s AND {_DRAINING_SQL}
                   GROUP BY e.id, a.address HAVING COALESCE(sum(d.amount), 0) <> -e.amount
                   ORDER BY e.id""", params)]
    drifts += [Drift(account=address,
                     what=f"drain {drain} of entry {entry} takes from another account's lot "
                          f"{lot}", expected=0, found=amount)
               for drain, entry, lot, amount, address in _rows(cursor, """
                   SELECT d.id, d.entry_id, d.lot_id, d.amount, a.address
                   FROM credits_lotdrain d
                   JOIN credits_lot l ON l.id = d.lot_id
                   JOIN credits_ledgerentry e ON e.id = d.entry_id
                   JOIN credits_account a ON a.id = e.account_id
                   WHERE d.id > %(drain)s AND l.account_id <> e.account_id
                   ORDER BY d.id""", params)]
    return drifts


def _transfer_drifts(cursor, params: dict, base: CheckBase) -> list[Drift]:
    # Both sides share a key but for the suffix: `transfer:<sender id>:<reference>:out|in`.
    drifts = [Drift(account=address,
                    what=f"transfer {reference!r}: credited to the recipient vs sent",
                    expected=-amount, found=received)
              for address, reference, amount, received in _rows(cursor, f"""
                  SELECT a.address, e.reference, e.amount, COALESCE(r.amount, 0)
                  FROM credits_ledgerentry e
                  JOIN credits_account a ON a.id = e.account_id
                  LEFT JOIN credits_ledgerentry r ON r.kind = '{EntryKind.TRANSFER_IN}'
                       AND r.idempotency_key = left(e.idempotency_key,
                                                    length(e.idempotency_key) - 4) || ':in'
                  WHERE e.kind = '{EntryKind.TRANSFER_OUT}' AND e.id > %(entry)s
                    AND COALESCE(r.amount, 0) <> -e.amount
                  ORDER BY e.id""", params)]
    sent, received, outs, ins = (
        int(value) + int(start) for value, start in zip(transfer_totals(cursor, params["entry"]),
                                                        (base.transfers_sent,
                                                         base.transfers_received,
                                                         base.transfers_out, base.transfers_in),
                                                        strict=True))
    if received != -sent:
        drifts.append(Drift(account=None, what="all transfers: received vs sent",
                            expected=-sent, found=received))
    if ins != outs:
        drifts.append(Drift(account=None, what="transfer entries: ins vs outs",
                            expected=outs, found=ins))
    return drifts


def transfer_totals(cursor, after_entry: int,
                    up_to_entry: int | None = None) -> tuple[int, int, int, int]:
    """(credits sent (negative), credits received, transfer-out entries, transfer-in entries)
    of the entries with ids in (`after_entry`, `up_to_entry`]."""
    cursor.execute(f"""
        SELECT COALESCE(sum(amount) FILTER (WHERE kind = '{EntryKind.TRANSFER_OUT}'), 0),
               COALESCE(sum(amount) FILTER (WHERE kind = '{EntryKind.TRANSFER_IN}'), 0),
               count(*) FILTER (WHERE kind = '{EntryKind.TRANSFER_OUT}'),
               count(*) FILTER (WHERE kind = '{EntryKind.TRANSFER_IN}')
        FROM credits_ledgerentry
        WHERE kind IN ('{EntryKind.TRANSFER_OUT}', '{EntryKind.TRANSFER_IN}') AND id > %s
          AND (%s::bigint IS NULL OR id <= %s::bigint)""",
                   [after_entry, up_to_entry, up_to_entry])
    return tuple(int(value) for value in cursor.fetchone())


def _charge_drifts(cursor, params: dict, base: CheckBase) -> list[Drift]:
    # Charges have no database foreign keys (see `Charge`): their links are checked here. The
    # charges of the entries appended since the base are found by the block-range index. A
    # metering entry effective before `charges_retired_until` lost charges to retention (their
    # sums live on in `ResourceUsage` and `ChargeRollup`): it is not compared with its charges.
    drifts = []
    for (hour_index, resource, entry, no_resource, no_entry, no_run, no_version, charged,
         owner, account) in _rows(cursor, """
            WITH broken AS MATERIALIZED (  -- hash joins over all, not a loop in key order
                SELECT c.hour, c.hour_index, c.resource_id, c.entry_id, r.id IS NULL,
                       e.id IS NULL, c.run_id IS NOT NULL AND n.id IS NULL, v.id IS NULL,
                       c.account_id, r.owner_id, e.account_id
                FROM credits_charge c
                LEFT JOIN credits_resource r ON r.id = c.resource_id
                LEFT JOIN credits_ledgerentry e ON e.id = c.entry_id AND e.id > %(entry)s
                LEFT JOIN credits_lifecyclerun n ON n.id = c.run_id
                LEFT JOIN pricing_pricingversion v ON v.id = c.pricing_version_id
                WHERE c.entry_id > %(entry)s
                  AND (r.id IS NULL OR e.id IS NULL OR (c.run_id IS NOT NULL AND n.id IS NULL)
                       OR v.id IS NULL OR c.account_id <> r.owner_id
                       OR c.account_id <> e.account_id))
            SELECT hour_index, resource_id, entry_id, no_resource, no_entry, no_run, no_version,
                   charged_id, owner_id, account_id
            FROM broken AS b(hour, hour_index, resource_id, entry_id, no_resource, no_entry,
                             no_run, no_version, charged_id, owner_id, account_id)
            ORDER BY hour, resource_id LIMIT 1000""", params):
        charge = f"of resource {resource} hour {hour_index}"
        missing = [name for name, gone in (("resource", no_resource), ("entry", no_entry),
                                           ("run", no_run), ("pricing version", no_version))
                   if gone]
        drifts.append(Drift(
            account=None,
            what=(f"charge {charge}: its {', '.join(missing)} does not exist" if missing
                  else f"charge {charge} of account {charged}: the resource is account "
                       f"{owner}'s, its entry {entry} is account {account}'s"),
            expected=0, found=1))
    drifts += [Drift(account=address,
                     what=f"metering entry {entry}: its charges (drained, requested) vs "
                          f"(−amount, amount requested)",
                     expected=(-amount, requested), found=(charged_drained, charged_requested))
               for entry, address, amount, requested, charged_drained, charged_requested
               in _rows(cursor, """
                   SELECT e.id, a.address, e.amount, e.amount_requested,
                          COALESCE(sum(c.amount_drained), 0),
                          COALESCE(sum(c.amount_requested), 0)
                   FROM credits_ledgerentry e
                   JOIN credits_account a ON a.id = e.account_id
                   LEFT JOIN credits_charge c ON c.entry_id = e.id AND c.entry_id > %(entry)s
                   WHERE e.kind = 'expense' AND e.reason = %(metering)s AND e.id > %(entry)s
                     AND (%(kept_from)s::timestamptz IS NULL OR e.effective_at >= %(kept_from)s)
                   GROUP BY e.id, a.address
                   HAVING COALESCE(sum(c.amount_drained), 0) <> -e.amount
                       OR COALESCE(sum(c.amount_requested), 0)
                          IS DISTINCT FROM e.amount_requested
                   ORDER BY e.id""", {**params, "metering": METERING_REASON,
                                      "kept_from": charges_retired_until()})]
    return drifts
