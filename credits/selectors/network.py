"""Reads for the network's v0 account API (aleph-im/pyaleph's shapes): the token and credit
balances of every account, and an account's ledger seen as the network's credit history records.
Pure reads: nothing here writes or locks.

How a ledger entry reads as a network record is decided here once (`NETWORK_PAYMENT_METHODS`,
`NETWORK_PROVIDERS`, `with_network_fields`), and the answer, the filters and the sorts all use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf

from ..models import Account, EntryKind, LedgerEntry, Lot, TokenBalance
from .ledger import account_balance_subquery

# The network's own payment methods of its credit history, and this service's for the movements
# the network has no record of (an expiry, a staff adjustment). None: not known here (a grant
# does not say how it was paid).
NETWORK_PAYMENT_METHODS: dict[str, str | None] = {
    EntryKind.GRANT: None,
    EntryKind.EXPENSE: "credit_expense",
    EntryKind.TRANSFER_IN: "credit_transfer",
    EntryKind.TRANSFER_OUT: "credit_transfer",
    EntryKind.EXPIRY: "credit_expiry",
    EntryKind.ADJUSTMENT: "credit_adjustment",
}
# The network writes "ALEPH" as the provider of the expenses and transfers its messages carry.
NETWORK_PROVIDERS: dict[str, str | None] = {
    EntryKind.EXPENSE: "ALEPH", EntryKind.TRANSFER_IN: "ALEPH", EntryKind.TRANSFER_OUT: "ALEPH",
}
_TRANSFERS = (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT)
_ZERO = Value(0, output_field=BigIntegerField())


def _by_kind(mapping: dict[str, str | None]) -> Case:
    return Case(*[When(kind=kind, then=Value(value)) for kind, value in mapping.items()
                  if value is not None],
                default=Value(None), output_field=CharField())


def with_network_fields(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    """Entries annotated with the network record's fields that are not plain columns:
    `network_payment_method`, `network_provider`, `network_origin` (a transfer's other account,
    as the network writes it), `network_origin_ref` (the resource an expense is for) and
    `network_credit_ref` (the entry's reference, or its idempotency key when it has none)."""
    return entries.annotate(
        network_payment_method=_by_kind(NETWORK_PAYMENT_METHODS),
        network_provider=_by_kind(NETWORK_PROVIDERS),
        network_origin=Case(When(kind__in=_TRANSFERS, then=F("counterparty__address")),
                            default=Value(None), output_field=CharField()),
        network_origin_ref=F("resource__item_hash"),
        network_credit_ref=Coalesce(NullIf("reference", Value("")), F("idempotency_key")),
    )


# --- balances of every account -----------------------------------------------------------------

def token_balances_by_chain(*, chains: list[str] | None = None, min_balance: int = 0,
                            after: tuple[str, str] | None = None) -> QuerySet[TokenBalance]:
    """Every account's token balance per chain, by address then chain, optionally on some chains
    and at least `min_balance` (0: any), and strictly after the position `after` = (address,
    chain) of a previous page's last row."""
    balances = TokenBalance.objects.select_related("account").order_by("account__address",
                                                                         "chain")
    if chains:
        balances = balances.filter(chain__in=chains)
    if min_balance > 0:
        balances = balances.filter(balance__gte=Decimal(min_balance))
    if after is not None:
        address, chain = after
        balances = balances.filter(Q(account__address__gt=address)
                                   | Q(account__address=address, chain__gt=chain))
    return balances


def credit_balances(*, min_balance: int = 0, at: datetime | None = None,
                    after_address: str | None = None) -> QuerySet[Account]:
    """Accounts that ever received credits (a lot), by address, annotated with `credits`: what
    they can spend at `at`; only those with at least `min_balance`, and after `after_address`
    (a previous page's last) when given."""
    accounts = (Account.objects.filter(Exists(Lot.objects.filter(account=OuterRef("pk"))))
                .annotate(credits=account_balance_subquery(at=at))
                .filter(credits__gte=min_balance).order_by("address"))
    if after_address is not None:
        accounts = accounts.filter(address__gt=after_address)
    return accounts


# --- an account's credit history ---------------------------------------------------------------

@dataclass(frozen=True)
class CreditHistoryFilters:
    """The network's credit history filters (`CreditHistoryFilterParams`). A value given for a
    field this service never fills (tx_hash, token, chain) matches nothing, as a filter on a
    null column does on the network."""

    tx_hash: str | None = None
    token: str | None = None
    chain: str | None = None
    provider: str | None = None
    origin: str | None = None
    origin_ref: str | None = None
    payment_method: str | None = None
    has_expiration: bool | None = None
    exclude_payment_method: tuple[str, ...] | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    direction: str | None = None  # "incoming" | "outgoing"
    resource_types: tuple[str, ...] | None = None
    resource: str | None = None


# Sort keys of the network (`SortByCreditHistory`) → the annotated column; None: a field this
# service never fills, so the order is the tie-breaker's alone.
NETWORK_SORT_COLUMNS: dict[str, str | None] = {
    "message_timestamp": "effective_at",
    "expiration_date": "expires_at",
    "payment_method": "network_payment_method",
    "amount": "amount",
    "origin": "network_origin",
    "tx_hash": None,
    "provider": "network_provider",
}
_NOT_NULL_COLUMNS = {"effective_at", "amount"}


def _filtered(entries: QuerySet[LedgerEntry], filters: CreditHistoryFilters):
    if filters.tx_hash is not None or filters.token is not None or filters.chain is not None:
        return entries.none()
    exact = {"network_provider": filters.provider, "network_origin": filters.origin,
             "network_origin_ref": filters.origin_ref,
             "network_payment_method": filters.payment_method}
    entries = entries.filter(**{column: value for column, value in exact.items()
                                if value is not None})
    if filters.has_expiration is not None:
        entries = entries.filter(expires_at__isnull=not filters.has_expiration)
    if filters.exclude_payment_method:
        # Entries without a payment method (grants) stay: they are none of the methods excluded.
        # (Spelled out: a NOT IN on an annotation would drop them, as SQL drops NULLs.)
        entries = entries.filter(
            Q(network_payment_method__isnull=True)
            | ~Q(network_payment_method__in=filters.exclude_payment_method))
    if filters.start_date is not None:
        entries = entries.filter(effective_at__gte=filters.start_date)
    if filters.end_date is not None:
        entries = entries.filter(effective_at__lte=filters.end_date)
    if filters.direction == "incoming":
        entries = entries.filter(amount__gt=0)
    elif filters.direction == "outgoing":
        entries = entries.filter(amount__lt=0)
    if filters.resource_types:
        entries = entries.filter(resource__type__in=filters.resource_types)
    if filters.resource is not None:
        # The network's "effective origin": the origin, else the origin's reference.
        entries = (entries.annotate(network_effective_origin=Coalesce(
            NullIf("network_origin", Value("")), "network_origin_ref"))
            .filter(network_effective_origin=filters.resource))
    return entries


def network_credit_history(*, account: Account, filters: CreditHistoryFilters,
                           sort_by: str = "message_timestamp", descending: bool = True,
                           after: tuple[object, int] | None = None) -> QuerySet[LedgerEntry]:
    """The account's entries as network records (`with_network_fields`), filtered, sorted by
    the network's `sort_by` (empty values last in both directions) then by id in the same
    direction, and strictly after the position `after` = (sort value, id) of a previous page's
    last entry."""
    column = NETWORK_SORT_COLUMNS[sort_by]
    entries = _filtered(with_network_fields(
        LedgerEntry.objects.filter(account=account).select_related("resource", "counterparty")),
        filters)
    tie = "-id" if descending else "id"
    if column is None:
        entries = entries.order_by(tie)
    else:
        key = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
        entries = entries.order_by(key, tie)
    if after is not None:
        entries = entries.filter(_after(column, after, descending=descending))
    return entries


def _after(column: str | None, after: tuple[object, int], *, descending: bool) -> Q:
    value, entry_id = after
    beyond = "lt" if descending else "gt"
    later_id = Q(**{f"id__{beyond}": entry_id})
    if column is None:
        return later_id
    if value is None:  # among the empty values, which come last: only the tie-breaker is left
        return Q(**{f"{column}__isnull": True}) & later_id
    position = Q(**{f"{column}__{beyond}": value}) | (Q(**{column: value}) & later_id)
    if column not in _NOT_NULL_COLUMNS:
        position |= Q(**{f"{column}__isnull": True})
    return position


def network_credit_history_summary(*, account: Account | None,
                                   filters: CreditHistoryFilters) -> dict[str, int]:
    """Totals over the filtered entries (`entry_count`, `total_amount`, `total_incoming`,
    `total_outgoing`; outgoing keeps its sign, so total = incoming + outgoing). Zeros for no
    account."""
    if account is None:
        return {"entry_count": 0, "total_amount": 0, "total_incoming": 0, "total_outgoing": 0}
    entries = _filtered(with_network_fields(LedgerEntry.objects.filter(account=account)),
                        filters)
    totals = entries.order_by().aggregate(
        entry_count=Count("id"),
        total_amount=Coalesce(Sum("amount"), _ZERO),
        total_incoming=Coalesce(Sum("amount", filter=Q(amount__gt=0)), _ZERO),
        total_outgoing=Coalesce(Sum("amount", filter=Q(amount__lt=0)), _ZERO))
    return {name: int(value) for name, value in totals.items()}
