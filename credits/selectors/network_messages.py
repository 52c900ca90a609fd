"""Reads behind the network's v0 message endpoints: the credits resources consumed, and the sums
and pages of the network's `costs` endpoint, which add up every cost column of the matching live
resources (`costs_totals` of the v1 API counts each resource in its own payment type's column
only, so it cannot answer the network's hold and stream sums of credit-paid resources)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from django.db.models import Count, QuerySet, Sum

from ..addresses import InvalidAddress, normalize_address
from ..models import (
    LIVE_RESOURCE,
    METERING_REASON,
    Charge,
    EntryKind,
    LedgerEntry,
    Resource,
)

_ZERO = Decimal(0)


def resources_consumed_credits(*, resource_ids: Iterable[int]) -> dict[int, int]:
    """Whole credits each resource consumed, by resource id: what its metered hours drained
    (`Charge.amount_drained`; the metering's expense entries are per account, their charges
    say which resource) and what the outside expenses posted against it drained. A shortfall
    was not consumed. Two queries whatever the number of resources."""
    consumed = dict.fromkeys(resource_ids, 0)
    if not consumed:
        return consumed
    metered = (Charge.objects.filter(resource_id__in=consumed).order_by()
               .values("resource_id").annotate(total=Sum("amount_drained"))
               .values_list("resource_id", "total"))
    for resource_id, drained in metered:
        consumed[resource_id] += drained
    # An expense entry's amount is minus what it drained.
    posted = (LedgerEntry.objects.filter(kind=EntryKind.EXPENSE, resource_id__in=consumed)
              .exclude(reason=METERING_REASON).order_by()
              .values("resource_id").annotate(total=Sum("amount"))
              .values_list("resource_id", "total"))
    for resource_id, amount in posted:
        consumed[resource_id] -= amount
    return consumed


def resource_consumed_credits(*, item_hash: str) -> int:
    """Whole credits the resource of `item_hash` consumed; 0 for an unknown item hash."""
    resource_id = (Resource.objects.filter(item_hash=item_hash)
                   .values_list("pk", flat=True).first())
    if resource_id is None:
        return 0
    return resources_consumed_credits(resource_ids=[resource_id])[resource_id]


@dataclass(frozen=True, slots=True)
class NetworkCostsFilter:
    """The filters of the network's `costs`: None filters nothing. An address that is no
    address can own nothing, so it matches nothing."""

    address: str | None = None
    item_hash: str | None = None
    payment_type: str | None = None

    def owner_address(self) -> str | None:
        """The stored form of `address`; InvalidAddress when it is not one."""
        return None if self.address is None else normalize_address(self.address)


def _live_resources(costs_filter: NetworkCostsFilter) -> QuerySet[Resource]:
    """The resources the network has cost rows for (processed or removing), filtered."""
    resources = Resource.objects.filter(LIVE_RESOURCE)
    try:
        owner_address = costs_filter.owner_address()
    except InvalidAddress:
        return resources.none()
    if owner_address is not None:
        resources = resources.filter(owner__address=owner_address)
    if costs_filter.item_hash is not None:
        resources = resources.filter(item_hash=costs_filter.item_hash)
    if costs_filter.payment_type is not None:
        resources = resources.filter(payment_type=costs_filter.payment_type)
    return resources


def _consumed_credits_total(costs_filter: NetworkCostsFilter) -> int:
    """Credits consumed as the network's `total_consumed_credits` counts them: by the address's
    account, by the resource, or by everyone; resources of any status and payment type, and for
    an address its expenses posted against no resource too."""
    try:
        owner_address = costs_filter.owner_address()
    except InvalidAddress:
        return 0
    if costs_filter.item_hash is not None:
        resources = Resource.objects.filter(item_hash=costs_filter.item_hash)
        if owner_address is not None:
            resources = resources.filter(owner__address=owner_address)
        ids = list(resources.values_list("pk", flat=True))
        return sum(resources_consumed_credits(resource_ids=ids).values())
    expenses = LedgerEntry.objects.filter(kind=EntryKind.EXPENSE)
    if owner_address is not None:
        expenses = expenses.filter(account__address=owner_address)
    total = expenses.aggregate(total=Sum("amount"))["total"]
    return -total if total else 0


@dataclass(frozen=True, slots=True)
class NetworkCostsSummary:
    """Each cost column summed over the matching live resources: hold in tokens, stream in
    tokens per second, credit in credits per second; and the credits consumed."""

    consumed_credits: int
    cost_hold: Decimal
    cost_stream_per_second: Decimal
    cost_credit_per_second: Decimal
    resource_count: int


def network_costs_summary(*, costs_filter: NetworkCostsFilter) -> NetworkCostsSummary:
    """The summary of the network's `costs` (two queries)."""
    sums = _live_resources(costs_filter).aggregate(
        hold=Sum("cost_hold"), stream=Sum("cost_stream_per_second"),
        credit=Sum("cost_credit_per_second"), count=Count("pk"))
    return NetworkCostsSummary(
        consumed_credits=_consumed_credits_total(costs_filter),
        cost_hold=Decimal(sums["hold"] or _ZERO),
        cost_stream_per_second=Decimal(sums["stream"] or _ZERO),
        cost_credit_per_second=Decimal(sums["credit"] or _ZERO),
        resource_count=sums["count"])


@dataclass(frozen=True, slots=True)
class NetworkCostsItem:
    resource: Resource  # with its owner, and its cost rows when asked for
    consumed_credits: int


def network_costs_page(*, costs_filter: NetworkCostsFilter, page: int, page_size: int,
                       with_rows: bool) -> list[NetworkCostsItem]:
    """Page `page` (from 1) of the matching live resources in item hash order, as the network
    pages them, with what each consumed; `with_rows` fetches their cost rows. A page past the
    last is empty, however large its number."""
    resources = _live_resources(costs_filter)
    offset = (page - 1) * page_size
    if offset >= resources.count():
        return []
    resources = resources.select_related("owner").order_by("item_hash")
    if with_rows:
        resources = resources.prefetch_related("cost_rows")
    page_resources = list(resources[offset:offset + page_size])
    consumed = resources_consumed_credits(resource_ids=[r.pk for r in page_resources])
    return [NetworkCostsItem(resource=resource, consumed_credits=consumed[resource.pk])
            for resource in page_resources]
