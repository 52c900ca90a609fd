"""Reading resources and what they cost an account: live totals per payment type, the sizes of
registered STORE files, token balances, and whether an account can afford a new resource."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from itertools import islice
from typing import Any, Iterable, Iterator

from django.db.models import Count, Max, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from pricing.content import ContentInvalid, parse_content
from pricing.costs import (
    HOUR_SECONDS,
    MIB_BYTES,
    CostBreakdown,
    CostError,
    compute_costs,
)
from pricing.enums import MessageType, PaymentType
from pricing.estimates import PricingUnavailable
from pricing.fields import exact_sum
from pricing.models import PricingVersion
from pricing.rules import Refusal
from pricing.selectors import payment_type_acceptance, pricing_in_force

from ..addresses import InvalidAddress, normalize_address
from ..errors import CannotPrice, ContentRefused
from ..funding import charged_hours, credits_required, exact_total, shortfall
from ..models import (
    LIVE_RESOURCE,
    LIVE_STATUSES,
    Account,
    Charge,
    Resource,
    ResourceUsage,
    TokenBalance,
)
from .accounts import account_by_address

_ZERO = Decimal(0)
# Sums of 18-decimal rates and balances are exact at this precision (38 digits + carries).
_EXACT = Context(prec=60)
# A hold payment without a chain is checked on the network's default chain.
DEFAULT_HOLD_CHAIN = "ETH"


def funding_horizon_hours() -> int:
    """The one-day rule's length: the lifecycle's funding horizon, edited by staff (default
    LIFECYCLE_FUNDING_HORIZON_HOURS = 24). Registration and every lifecycle run use it."""
    from .lifecycle import lifecycle_settings_get

    return lifecycle_settings_get().funding_horizon_hours


def credit_min_runtime_days() -> Decimal:
    """The funding horizon in days, as the 402 answer reports it (`min_runtime_days`)."""
    days = Decimal(funding_horizon_hours()) / 24
    return days.to_integral_value() if days == days.to_integral_value() else days.normalize()


def credits_required_for_runtime(*, cost_credit_per_second: Decimal) -> Decimal:
    """Credits needed to run at `cost_credit_per_second` for the funding horizon (exact,
    18 decimals; not rounded to whole credits)."""
    return credits_required(cost_credit_per_second, HOUR_SECONDS * funding_horizon_hours())


def account_credit_cost_per_second(*, account: Account) -> Decimal:
    """Credits per second of the account's credit-paid resources that are billed now
    (`processed` and `removing`)."""
    return exact_sum(Resource.objects.filter(owner=account, payment_type=PaymentType.CREDIT,
                                             status__in=LIVE_STATUSES),
                     "cost_credit_per_second")


def account_hold_total(*, account: Account, chain: str) -> Decimal:
    """Tokens locked by the account's hold-paid resources on `chain` (`processed`, `removing`)."""
    return exact_sum(Resource.objects.filter(owner=account, payment_type=PaymentType.HOLD,
                                             payment_chain=chain, status__in=LIVE_STATUSES),
                     "cost_hold")


def token_balance_of(*, account: Account, chain: str) -> Decimal:
    """The account's token balance on `chain` as last reported; none reported is 0."""
    balance = (TokenBalance.objects.filter(account=account, chain=chain)
               .values_list("balance", flat=True).first())
    return Decimal(balance) if balance is not None else _ZERO


def store_sizes_mib(*, item_hashes: Iterable[str]) -> dict[str, Decimal]:
    """Sizes in MiB of the registered, live STORE resources among `item_hashes`.

    The size comes from the stored content's byte size (exact: bytes / 2**20 can have 20
    decimals, one more than `size_mib` keeps), else from `size_mib`.
    """
    wanted = sorted(set(item_hashes))
    if not wanted:
        return {}
    sizes: dict[str, Decimal] = {}
    rows = (Resource.objects.filter(type=MessageType.STORE, status__in=LIVE_STATUSES,
                                    item_hash__in=wanted)
            .values_list("item_hash", "content", "size_mib"))
    for item_hash, content, size_mib in rows:
        size_bytes = content.get("size") if isinstance(content, dict) else None
        if isinstance(size_bytes, int) and not isinstance(size_bytes, bool) and size_bytes >= 0:
            sizes[item_hash] = _EXACT.divide(Decimal(size_bytes), MIB_BYTES)
        elif size_mib is not None:
            sizes[item_hash] = Decimal(size_mib)
    return sizes


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of up to `size` consecutive items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def resources_charged_hours(resource_ids: Iterable[int]) -> dict[int, int]:
    """Billing hours charged so far of each resource, by id: `funding.charged_hours` while it
    is live and credit-paid; once it is not, its meter row, else one past its last charge (the
    lifecycle charges a resource's hours in order, from its meter's position)."""
    hours = {}
    stopped = []
    for resource_id, status, payment_type, created_at, meter, metered_until in (
            Resource.objects.filter(pk__in=list(resource_ids))
            .values_list("pk", "status", "payment_type", "created_at", "meter__charged_hours",
                         "owner__metered_until")):
        if status in LIVE_STATUSES and payment_type == PaymentType.CREDIT:
            hours[resource_id] = charged_hours(meter=meter, metered_until=metered_until,
                                               created_at=created_at)
        elif meter is not None:
            hours[resource_id] = meter
        else:
            hours[resource_id] = 0
            stopped.append(resource_id)
    if stopped:
        last = (Charge.objects.filter(resource_id__in=stopped).order_by()
                .values("resource_id").annotate(last=Max("hour_index"))
                .values_list("resource_id", "last"))
        hours.update((resource_id, last + 1) for resource_id, last in last)
    return hours


def live_owner_ids() -> Iterator[int]:
    """Ids of the accounts with live resources, in id order, streamed: the accounts a lifecycle
    run, a forecast and an impact walk."""
    return (Resource.objects.filter(LIVE_RESOURCE).order_by("owner_id")
            .values_list("owner_id", flat=True).distinct().iterator(chunk_size=10_000))


def live_owner_batches(*, batch_accounts: int) -> Iterator[list[int]]:
    """`live_owner_ids`, `batch_accounts` at a time."""
    return batched(live_owner_ids(), batch_accounts)


def content_refs(parsed) -> list[str]:
    """Item hashes of the files a parsed content references by size: program code, runtime and
    data, and immutable volumes (the rootfs has its own `size_mib`), except those an estimate
    sizes itself with `estimated_size_mib` (the engine takes that first)."""
    parts = [getattr(parsed, attr, None) for attr in ("code", "runtime", "data")]
    parts.extend(getattr(parsed, "volumes", None) or ())
    return [str(part.ref) for part in parts
            if getattr(part, "ref", None) is not None
            and not getattr(part, "estimated_size_mib", None)]


def payment_chain_of(parsed, payment_type: str) -> str:
    """The chain the payment is checked on: the content's, or ETH for a hold without one."""
    payment = getattr(parsed, "payment", None)
    chain = getattr(getattr(payment, "chain", None), "value", None)
    if chain:
        return str(chain)
    return DEFAULT_HOLD_CHAIN if payment_type == PaymentType.HOLD else ""


# --- the rules ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Requirement:
    """What an account needs for its live resources of one payment type plus a new one, in the
    payment type's unit (credits for credit, tokens for hold), and what it has."""

    payment_type: str
    required: Decimal
    available: Decimal
    checked: bool = True  # streams are not checked

    @property
    def affordable(self) -> bool:
        return not self.checked or self.available >= self.required

    @property
    def shortfall(self) -> Decimal:
        return shortfall(required=self.required, available=self.available)


def requirement_for(*, account: Account | None, breakdown: CostBreakdown, payment_chain: str,
                    at: datetime) -> Requirement:
    """The one-day rule (credit) or the hold rule for `account` taking on `breakdown`: what the
    funding rule's walk (`credits.funding.FundingWalk`) decides at the account's newest
    resource, the new one, computed from the totals (`credits_required` of the summed rates).

    Credit: one funding horizon (a day by default) of the credit cost per second of the live
    credit-paid resources plus the new one, against the credits unexpired at `at`. Hold: the
    hold costs of the live hold-paid resources on the chain plus the new one, against the token
    balance on that chain. Stream: not checked. `account` None is an account with nothing.
    """
    payment_type = breakdown.payment_type
    if payment_type == PaymentType.CREDIT:
        existing = account_credit_cost_per_second(account=account) if account else _ZERO
        rate = exact_total([existing, breakdown.credit_per_second])
        required = credits_required_for_runtime(cost_credit_per_second=rate)
        # Imported here: the ledger selectors import this module.
        from .ledger import account_balance

        available = Decimal(account_balance(account=account, at=at)) if account else _ZERO
        return Requirement(payment_type=payment_type, required=required, available=available)
    if payment_type == PaymentType.HOLD:
        existing = account_hold_total(account=account, chain=payment_chain) if account else _ZERO
        required = exact_total([existing, breakdown.hold_total])
        available = token_balance_of(account=account, chain=payment_chain) if account else _ZERO
        return Requirement(payment_type=payment_type, required=required, available=available)
    return Requirement(payment_type=payment_type, required=_ZERO, available=_ZERO, checked=False)


# --- pricing a content -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PricedContent:
    """A parsed content, its costs under `version` and the chain its payment is checked on."""

    parsed: Any
    breakdown: CostBreakdown
    version: PricingVersion
    payment_chain: str


def content_price(*, message_type: str, content: Any, item_hash: str | None,
                  estimate: bool) -> PricedContent:
    """Parse `content` and price it with the version in force: the one pipeline of registration,
    affordability and estimates. Referenced files are sized from `estimated_size_mib` (an
    estimate), else from the registered STORE resources; a content that leaves no file to size
    that way makes no database query once the pricing cache is warm.

    Raises ContentRefused (422), CannotPrice (422) or PricingUnavailable (503).
    """
    try:
        parsed = parse_content(message_type, content, estimate=estimate)
    except ContentInvalid as exc:
        raise ContentRefused(exc.message, errors=exc.errors) from exc
    version, table = pricing_in_force()
    if version is None or table is None:
        raise PricingUnavailable("No pricing version is in force yet.")
    ref_sizes_mib = store_sizes_mib(item_hashes=content_refs(parsed))
    try:
        breakdown = compute_costs(parsed, table, ref_sizes_mib=ref_sizes_mib, item_hash=item_hash)
    except CostError as exc:
        raise CannotPrice(exc) from exc
    return PricedContent(parsed=parsed, breakdown=breakdown, version=version,
                         payment_chain=payment_chain_of(parsed, breakdown.payment_type))


# --- reads for the API -------------------------------------------------------------------------

def content_owner_address(parsed) -> str:
    """The owner of a parsed content: `content.address`, normalised; ContentRefused if it is
    not an address."""
    try:
        return normalize_address(str(parsed.address))
    except InvalidAddress as exc:
        raise ContentRefused(f"content.address: {exc}",
                             errors=[{"loc": "address", "msg": str(exc),
                                      "type": "invalid_address"}]) from exc


@dataclass(frozen=True, slots=True)
class Affordability:
    """What registration would decide: the payment type accepted by the version's payment rules
    (else `payment_refusal` says which rule refuses it, since when) and the funding rule met."""

    requirement: Requirement
    payment_refusal: Refusal | None

    @property
    def affordable(self) -> bool:
        return self.payment_refusal is None and self.requirement.affordable


def account_affordability(*, address: str, message_type: str, content: Any,
                          at: datetime | None = None) -> Affordability:
    """Could the account of `address` register this content now? The content is an estimate
    body (`estimated_size_mib` allowed); its own address is not used: the account checked is
    `address`. An unknown account has nothing (no credits, no tokens, no resources). A payment
    type the version's payment rules refuse at `at` is not affordable, whatever the balance."""
    at = at or timezone.now()
    account = account_by_address(address=address)
    priced = content_price(message_type=message_type, content=content, item_hash=None,
                           estimate=True)
    acceptance = payment_type_acceptance(version=priced.version,
                                         product_type=priced.breakdown.product_type,
                                         payment_type=priced.breakdown.payment_type, at=at)
    return Affordability(
        requirement=requirement_for(account=account, breakdown=priced.breakdown,
                                    payment_chain=priced.payment_chain, at=at),
        payment_refusal=acceptance.refusal)


def resource_get(*, item_hash: str) -> Resource | None:
    """A resource with its owner and cost rows (three queries), or None."""
    return (Resource.objects.select_related("owner", "pricing_version")
            .prefetch_related("cost_rows").filter(item_hash=item_hash).first())


@dataclass(frozen=True, slots=True)
class CostTotals:
    """Live resources' costs, each in its payment type's unit: hold in tokens, superfluid in
    tokens per second, credit in credits per second."""

    hold: Decimal
    superfluid_per_second: Decimal
    credit_per_second: Decimal
    resource_count: int


def costs_totals(*, address: str | None = None, item_hash: str | None = None,
                 payment_type: str | None = None) -> CostTotals:
    """Totals per payment type over resources in `processed` or `removing`, filtered by owner
    address, item hash and payment type. Each resource counts in its own payment type's column."""
    resources = Resource.objects.filter(LIVE_RESOURCE)
    if address is not None:
        resources = resources.filter(owner__address=normalize_address(address))
    if item_hash is not None:
        resources = resources.filter(item_hash=item_hash)
    if payment_type is not None:
        resources = resources.filter(payment_type=payment_type)
    return CostTotals(
        hold=exact_sum(resources.filter(payment_type=PaymentType.HOLD), "cost_hold"),
        superfluid_per_second=exact_sum(resources.filter(payment_type=PaymentType.SUPERFLUID),
                                        "cost_stream_per_second"),
        credit_per_second=exact_sum(resources.filter(payment_type=PaymentType.CREDIT),
                                    "cost_credit_per_second"),
        resource_count=resources.count())


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """A resource's charges of one month (UTC): billing hours and whole credits."""

    month: date
    hours: int
    amount_requested: int
    amount_drained: int
    retired: bool  # the month's hourly charges were rolled up (`charges_retire`)


def resource_monthly_usage(resource: Resource) -> list[MonthUsage]:
    """The resource's charges per month, oldest first: retired months from their
    `ResourceUsage` rows, kept months summed from the charges (a charge of a retired month that
    came later, in the default partition, is added to its month's row)."""
    months: dict[date, list[int]] = {}
    retired = set()
    for month, hours, requested, drained in (
            ResourceUsage.objects.filter(resource=resource)
            .values_list("month", "hours", "amount_requested", "amount_drained")):
        months[month] = [hours, requested, drained]
        retired.add(month)
    kept = (Charge.objects.filter(resource=resource).order_by()
            .annotate(month=TruncMonth("hour", tzinfo=UTC)).values("month")
            .annotate(hours=Count("*"), requested=Sum("amount_requested"),
                      drained=Sum("amount_drained"))
            .values_list("month", "hours", "requested", "drained"))
    for month_start, hours, requested, drained in kept:
        totals = months.setdefault(month_start.astimezone(UTC).date(), [0, 0, 0])
        totals[0] += hours
        totals[1] += requested
        totals[2] += drained
    return [MonthUsage(month=month, hours=hours, amount_requested=requested,
                       amount_drained=drained, retired=month in retired)
            for month, (hours, requested, drained) in sorted(months.items())]
