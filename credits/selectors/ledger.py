"""Reading the credit ledger: balances at an instant, their split by expiry, the runway, the
history, and the drifts `check_ledger` reports. Pure reads: nothing here writes or locks."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Context, Decimal
from functools import partial

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Concat, Left, Length
from django.utils import timezone

from pricing.costs import HOUR_SECONDS, amount_for_seconds
from pricing.enums import PaymentType
from pricing.fields import exact_sum_by

from ..cursors import cursor_encode
from ..models import (
    LIVE_STATUSES,
    METERING_REASON,
    Account,
    EntryKind,
    LedgerEntry,
    Lot,
    LotDrain,
    Resource,
    TokenBalance,
)
from .resources import account_credit_cost_per_second

_ZERO = Value(0, output_field=BigIntegerField())
# Runway arithmetic: plenty of digits for credits up to 10**18 over rates down to 10**-18.
_RUNWAY_CONTEXT = Context(prec=50)
RUNWAY_QUANTUM = Decimal("0.01")


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


def account_runway_hours(*, account: Account, at: datetime | None = None) -> Decimal | None:
    """Hours from `at` until the balance no longer pays for the account's billed credit
    resources at their current rate; None when nothing is billed.

    Credits are spent continuously at the current rate, soonest-expiring lots first (as they are
    drained); what a lot still holds when it expires is lost and does not lengthen the runway.
    Hourly rounding of the meter and resources started or stopped later are ignored. Floored to
    hundredths of an hour, so the runway is never overstated.
    """
    at = _at(at)
    rate_per_second = account_credit_cost_per_second(account=account)
    if rate_per_second <= 0:
        return None
    seconds_covered = Decimal(0)
    for split in account_balance_by_expiry(account=account, at=at):
        seconds_to_spend = _RUNWAY_CONTEXT.divide(Decimal(split["amount"]), rate_per_second)
        if split["expires_at"] is None:
            seconds_covered += seconds_to_spend
            continue
        # How long this lot lasts once the earlier ones are spent, before it expires.
        window = _seconds(split["expires_at"] - at) - seconds_covered
        if window <= 0:
            continue  # expired before the earlier lots were used up: lost
        if Decimal(split["amount"]) <= amount_for_seconds(rate_per_second, window):
            seconds_covered += seconds_to_spend
        else:
            seconds_covered += window
    return _RUNWAY_CONTEXT.divide(seconds_covered, HOUR_SECONDS).quantize(
        RUNWAY_QUANTUM, rounding=ROUND_FLOOR)


def _seconds(delta) -> Decimal:
    return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


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


_OPENING = Q(kind__in=(EntryKind.GRANT, EntryKind.TRANSFER_IN)) \
    | Q(kind=EntryKind.ADJUSTMENT, amount__gt=0)
_DRAINING = Q(kind__in=(EntryKind.EXPENSE, EntryKind.TRANSFER_OUT, EntryKind.EXPIRY)) \
    | Q(kind=EntryKind.ADJUSTMENT, amount__lte=0)


def _sum_by_account(queryset: QuerySet, field: str) -> Subquery:
    return Coalesce(Subquery(queryset.filter(account=OuterRef("pk")).order_by()
                             .values("account").annotate(total=Sum(field)).values("total")),
                    _ZERO)


# The checks `ledger_drifts` makes, one `on_progress(1)` after each.
LEDGER_CHECK_COUNT = 5


def ledger_drifts(*, at: datetime | None = None,
                  on_progress: Callable[[int], None] | None = None) -> list[Drift]:
    """Everything in which the ledger, the lots and the drains disagree, found set-based.

    Per account: grants + transfers in + positive adjustments − transfers out − drained expenses
    − negative adjustments − expired − credits of lots past expiry not yet written off
    (`lots_expire`) = the balance at `at`. Per lot: never negative, and amount − remaining = its
    drains (an expiry is a drain). Per entry: credits in = the lots it opened, debits = the
    pieces drained, on the entry's own account. Per transfer: out = in. Per metering entry: its
    charges add up to it. Per charge: its resource, entry, run and pricing version exist, and
    the resource is the entry's account's.

    `on_progress(1)` is called after each of the `LEDGER_CHECK_COUNT` checks, e.g. to move a
    progress bar.
    """
    at = _at(at)
    checks = (partial(_account_drifts, at), _lot_drifts, _entry_drifts, _transfer_drifts,
              _charge_drifts)
    drifts = []
    for check in checks:
        drifts += check()
        if on_progress is not None:
            on_progress(1)
    return drifts


def _account_drifts(at: datetime) -> list[Drift]:
    accounts = (Account.objects
                .annotate(ledger=_sum_by_account(LedgerEntry.objects, "amount"),
                          balance=account_balance_subquery(at=at),
                          pending_expiry=_sum_by_account(
                              Lot.objects.filter(expires_at__lte=at), "remaining"))
                .exclude(balance=F("ledger") - F("pending_expiry"))
                .order_by("pk"))
    drifts = []
    for account in accounts:
        parts = dict(LedgerEntry.objects.filter(account=account).order_by()
                     .values("kind").annotate(total=Sum("amount")).values_list("kind", "total"))
        summary = ", ".join(f"{kind} {total:+d}" for kind, total in sorted(parts.items()))
        drifts.append(Drift(
            account=account.address,
            what=f"balance at {at.isoformat()} (ledger: {summary or 'empty'}; "
                 f"past expiry, not yet expired: {account.pending_expiry})",
            expected=account.ledger - account.pending_expiry, found=account.balance))
    return drifts


_CHARGE_LINKS_BROKEN = """
    SELECT c.hour_index, c.resource_id, c.entry_id, r.id IS NULL, e.id IS NULL,
           c.run_id IS NOT NULL AND n.id IS NULL, v.id IS NULL, r.owner_id, e.account_id
    FROM credits_charge c
    LEFT JOIN credits_resource r ON r.id = c.resource_id
    LEFT JOIN credits_ledgerentry e ON e.id = c.entry_id
    LEFT JOIN credits_lifecyclerun n ON n.id = c.run_id
    LEFT JOIN pricing_pricingversion v ON v.id = c.pricing_version_id
    WHERE r.id IS NULL OR e.id IS NULL OR (c.run_id IS NOT NULL AND n.id IS NULL)
       OR v.id IS NULL OR r.owner_id <> e.account_id
    ORDER BY c.hour, c.resource_id LIMIT 1000"""


def _charge_drifts() -> list[Drift]:
    # Charges have no database foreign keys (see `Charge`): their links are checked here.
    drifts = []
    with connection.cursor() as cursor:
        cursor.execute(_CHARGE_LINKS_BROKEN)
        for (hour_index, resource, entry, no_resource, no_entry, no_run, no_version, owner,
             account) in cursor.fetchall():
            charge = f"of resource {resource} hour {hour_index}"
            missing = [name for name, gone in (("resource", no_resource), ("entry", no_entry),
                                               ("run", no_run), ("pricing version", no_version))
                       if gone]
            drifts.append(Drift(
                account=None,
                what=(f"charge {charge}: its {', '.join(missing)} does not exist" if missing
                      else f"charge {charge}: the resource is account {owner}'s, its "
                           f"entry {entry} is account {account}'s"),
                expected=0, found=1))
    metering = (LedgerEntry.objects.filter(kind=EntryKind.EXPENSE, reason=METERING_REASON)
                .annotate(drained=Coalesce(Sum("charges__amount_drained"), _ZERO),
                          requested=Coalesce(Sum("charges__amount_requested"), _ZERO))
                .exclude(drained=-F("amount"), requested=F("amount_requested"))
                .select_related("account").order_by("pk"))
    drifts += [Drift(account=entry.account.address,
                     what=f"metering entry {entry.pk}: its charges (drained, requested) vs "
                          f"(−amount, amount requested)",
                     expected=(-entry.amount, entry.amount_requested),
                     found=(entry.drained, entry.requested))
               for entry in metering]
    return drifts


def _lot_drifts() -> list[Drift]:
    drifts = [Drift(account=lot.account.address, what=f"lot {lot.pk} is negative",
                    expected=0, found=lot.remaining)
              for lot in Lot.objects.filter(remaining__lt=0).select_related("account")]
    lots = (Lot.objects.annotate(drained=Coalesce(Sum("drains__amount"), _ZERO))
            .exclude(drained=F("amount") - F("remaining"))
            .select_related("account").order_by("pk"))
    drifts += [Drift(account=lot.account.address,
                     what=f"lot {lot.pk}: drained (drains and expiry) vs amount − remaining",
                     expected=lot.amount - lot.remaining, found=lot.drained) for lot in lots]
    crossed = (Lot.objects.exclude(account_id=F("entry__account_id"))
               .select_related("account", "entry"))
    drifts += [Drift(account=lot.account.address,
                     what=f"lot {lot.pk} belongs to another account than its entry",
                     expected=lot.entry.account_id, found=lot.account_id) for lot in crossed]
    return drifts


def _entry_drifts() -> list[Drift]:
    # Joins grouped by entry (hash aggregates), not one subquery per entry.
    opened = Coalesce(Sum("lots__amount"), _ZERO)
    drained = Coalesce(Sum("drains__amount"), _ZERO)
    drifts = [Drift(account=entry.account.address,
                    what=f"{entry.kind} entry {entry.pk}: lots opened vs amount",
                    expected=entry.amount, found=entry.opened)
              for entry in (LedgerEntry.objects.filter(_OPENING).annotate(opened=opened)
                            .exclude(opened=F("amount")).select_related("account")
                            .order_by("pk"))]
    drifts += [Drift(account=entry.account.address,
                     what=f"{entry.kind} entry {entry.pk}: pieces drained vs amount",
                     expected=-entry.amount, found=entry.drained)
               for entry in (LedgerEntry.objects.filter(_DRAINING).annotate(drained=drained)
                             .exclude(drained=-F("amount")).select_related("account")
                             .order_by("pk"))]
    crossed = (LotDrain.objects.exclude(lot__account_id=F("entry__account_id"))
               .select_related("entry__account"))
    drifts += [Drift(account=drain.entry.account.address,
                     what=f"drain {drain.pk} of entry {drain.entry_id} takes from another "
                          f"account's lot {drain.lot_id}", expected=0, found=drain.amount)
               for drain in crossed]
    return drifts


def _transfer_drifts() -> list[Drift]:
    # Both sides share a key but for the suffix: `transfer:<sender id>:<reference>:out|in`.
    in_key = Concat(Left(OuterRef("idempotency_key"), Length(OuterRef("idempotency_key")) - 4),
                    Value(":in"))
    received = Subquery(LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN,
                                                   idempotency_key=in_key)
                        .values("amount")[:1])
    outs = (LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT)
            .annotate(received=Coalesce(received, _ZERO))
            .exclude(received=-F("amount")).select_related("account").order_by("pk"))
    drifts = [Drift(account=entry.account.address,
                    what=f"transfer {entry.reference!r}: credited to the recipient vs sent",
                    expected=-entry.amount, found=entry.received) for entry in outs]
    totals = LedgerEntry.objects.aggregate(
        sent=Coalesce(Sum("amount", filter=Q(kind=EntryKind.TRANSFER_OUT)), _ZERO),
        received=Coalesce(Sum("amount", filter=Q(kind=EntryKind.TRANSFER_IN)), _ZERO),
        ins=Count("id", filter=Q(kind=EntryKind.TRANSFER_IN)),
        outs=Count("id", filter=Q(kind=EntryKind.TRANSFER_OUT)))
    if totals["received"] != -totals["sent"]:
        drifts.append(Drift(account=None, what="all transfers: received vs sent",
                            expected=-totals["sent"], found=totals["received"]))
    if totals["ins"] != totals["outs"]:
        drifts.append(Drift(account=None, what="transfer entries: ins vs outs",
                            expected=totals["outs"], found=totals["ins"]))
    return drifts
