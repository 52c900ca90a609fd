"""A pricing version's impact on the live resources, read-only: what they would cost if they
were recalculated with it, their funding as the lifecycle's fund-or-flag sees it, and the hourly
credit burn (the version's own differences are pricing's: pricing/diff.py).

The impact walks the live resources account by account, in batches of accounts, each batch's
resources streamed with `iterator()` oldest first, so memory stays flat whatever the size of the
database. The repricing service (credits/services/repricing.py) walks them the same way and
writes what this only reports.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterator

from django.conf import settings
from django.utils import timezone

from pricing.aggregate import format_price
from pricing.content import ContentInvalid, parse_content
from pricing.costs import (
    HOUR_SECONDS,
    CostBreakdown,
    CostError,
    PricingTable,
    amount_for_seconds,
    compute_costs,
)
from pricing.diff import version_fingerprint
from pricing.enums import PaymentType
from pricing.fields import exact_sum_by
from pricing.models import PricingVersion
from pricing.selectors import pricing_table_from_version

from .funding import EXACT, ZERO, FundingWalk, hourly_charge
from .models import LIVE_RESOURCE, LIVE_STATUSES, CostRow, Lot, Resource, TokenBalance
from .selectors.resources import (
    batched,
    content_refs,
    funding_horizon_hours,
    live_owner_batches,
    store_sizes_mib,
)

# How many examples (cannot be priced, would become unfunded) an impact keeps.
EXAMPLES = 20
# Accounts per batch, and resources per fetch inside a batch.
BATCH_ACCOUNTS = 500
CHUNK_RESOURCES = 2000


def impact_sync_max_resources() -> int:
    """Up to this many live resources the impact is computed while the page loads; beyond, it
    is computed by a dry-run job (setting PRICING_IMPACT_SYNC_MAX_RESOURCES, default 5000)."""
    return settings.PRICING_IMPACT_SYNC_MAX_RESOURCES


# --- evaluating resources with a table ---------------------------------------------------------

@dataclass(slots=True)
class ResourceOutcome:
    """A live resource, its stored costs, and what `table` makes of its content."""

    resource_id: int
    item_hash: str
    owner_id: int
    owner_address: str
    payment_type: str
    payment_chain: str
    product_type: str
    pricing_version_id: int
    old_hold: Decimal
    old_stream_per_second: Decimal
    old_credit_per_second: Decimal
    breakdown: CostBreakdown | None = None
    error: str = ""
    old_rows: tuple | None = None  # (type, name, ref, hold, stream, credit, size) per position

    @property
    def priced(self) -> bool:
        return self.breakdown is not None

    @property
    def new_hold(self) -> Decimal:
        return self.breakdown.hold_total if self.breakdown else self.old_hold

    @property
    def new_stream_per_second(self) -> Decimal:
        return self.breakdown.stream_per_second if self.breakdown else self.old_stream_per_second

    @property
    def new_credit_per_second(self) -> Decimal:
        return self.breakdown.credit_per_second if self.breakdown else self.old_credit_per_second

    def _own(self, hold, stream, credit) -> Decimal:
        if self.payment_type == PaymentType.CREDIT:
            return credit
        if self.payment_type == PaymentType.SUPERFLUID:
            return stream
        return hold

    @property
    def old_cost(self) -> Decimal:
        """The cost in the payment type's own unit, as stored."""
        return self._own(self.old_hold, self.old_stream_per_second, self.old_credit_per_second)

    @property
    def new_cost(self) -> Decimal:
        return self._own(self.new_hold, self.new_stream_per_second, self.new_credit_per_second)

    @property
    def cost_changed(self) -> bool:
        return self.priced and self.new_cost != self.old_cost

    def new_rows(self) -> tuple:
        return tuple((row.type, row.name, row.ref, row.cost_hold, row.cost_stream_per_second,
                      row.cost_credit_per_second, row.size_mib) for row in self.breakdown.rows)

    def needs_update(self, version_id: int) -> bool:
        """Whether storing the new costs changes anything (rows, totals, product, version)."""
        if not self.priced:
            return False
        return (self.pricing_version_id != version_id
                or self.product_type != self.breakdown.product_type
                or self.new_hold != self.old_hold
                or self.new_stream_per_second != self.old_stream_per_second
                or self.new_credit_per_second != self.old_credit_per_second
                or self.old_rows is None or self.old_rows != self.new_rows())


def live_resource_count() -> int:
    return Resource.objects.filter(LIVE_RESOURCE).count()


_RESOURCE_VALUES = ("id", "item_hash", "type", "content", "owner_id", "owner__address",
                    "payment_type", "payment_chain", "product_type", "pricing_version_id",
                    "cost_hold", "cost_stream_per_second", "cost_credit_per_second")


def _stored_rows(resource_ids: list[int]) -> dict[int, tuple]:
    rows: dict[int, list] = {}
    for values in (CostRow.objects.filter(resource_id__in=resource_ids)
                   .order_by("resource_id", "position")
                   .values_list("resource_id", "type", "name", "ref", "cost_hold",
                                "cost_stream_per_second", "cost_credit_per_second",
                                "size_mib")):
        rows.setdefault(values[0], []).append(tuple(values[1:]))
    return {resource_id: tuple(items) for resource_id, items in rows.items()}


def _evaluate_chunk(chunk: list[tuple], table: PricingTable, *,
                    with_rows: bool) -> list[ResourceOutcome]:
    parsed_by_id: dict[int, Any] = {}
    outcomes = []
    refs: set[str] = set()
    for (resource_id, item_hash, message_type, content, owner_id, address, payment_type,
         payment_chain, product_type, version_id, hold, stream, credit) in chunk:
        outcome = ResourceOutcome(
            resource_id=resource_id, item_hash=item_hash, owner_id=owner_id,
            owner_address=address, payment_type=payment_type, payment_chain=payment_chain,
            product_type=product_type, pricing_version_id=version_id, old_hold=Decimal(hold),
            old_stream_per_second=Decimal(stream), old_credit_per_second=Decimal(credit))
        try:
            parsed = parse_content(message_type, content, estimate=False)
        except ContentInvalid as exc:
            outcome.error = f"content no longer parses: {exc.message}"
        else:
            parsed_by_id[resource_id] = parsed
            refs.update(content_refs(parsed))
        outcomes.append(outcome)
    sizes = store_sizes_mib(item_hashes=refs) if refs else {}
    for outcome in outcomes:
        parsed = parsed_by_id.get(outcome.resource_id)
        if parsed is None:
            continue
        try:
            outcome.breakdown = compute_costs(parsed, table, ref_sizes_mib=sizes,
                                              item_hash=outcome.item_hash)
        except CostError as exc:
            outcome.error = f"{exc.code}: {exc.message}"
    if with_rows:
        stored = _stored_rows([outcome.resource_id for outcome in outcomes])
        for outcome in outcomes:
            outcome.old_rows = stored.get(outcome.resource_id, ())
    return outcomes


def evaluate_accounts(*, account_ids: list[int], table: PricingTable, with_rows: bool = False,
                      chunk_size: int = CHUNK_RESOURCES) -> Iterator[ResourceOutcome]:
    """The live resources of `account_ids` with their costs under `table`, account by account,
    oldest first (as fund-or-flag walks them). Resources that cannot be priced come with
    `error` set and no breakdown."""
    resources = (Resource.objects.filter(owner_id__in=account_ids, status__in=LIVE_STATUSES)
                 .order_by("owner_id", "created_at", "id").values_list(*_RESOURCE_VALUES))
    for chunk in batched(resources.iterator(chunk_size=chunk_size), chunk_size):
        yield from _evaluate_chunk(chunk, table, with_rows=with_rows)


# --- funding, as fund-or-flag sees it ----------------------------------------------------------

@dataclass(frozen=True)
class Balances:
    credits: dict[int, int]  # account id → unexpired credits
    tokens: dict[int, dict[str, Decimal]]  # account id → chain → token balance


def balances_of(*, account_ids: list[int], at: datetime) -> Balances:
    """Credits spendable at `at` and token balances of the accounts (two queries)."""
    credits = {account_id: int(total) for account_id, total in exact_sum_by(
        Lot.objects.spendable(at).filter(account_id__in=account_ids),
        "account_id", "remaining").items()}
    tokens: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for account_id, chain, balance in (TokenBalance.objects.filter(account_id__in=account_ids)
                                       .values_list("account_id", "chain", "balance")):
        tokens[account_id][chain] = Decimal(balance)
    return Balances(credits=credits, tokens=dict(tokens))


class ImpactWalk:
    """The funding rule's walk (`credits.funding.FundingWalk`) for one account at a time, twice:
    with the stored costs (before) and with the new ones (after)."""

    def __init__(self, *, balances: Balances, horizon_seconds: int):
        self.balances = balances
        self.horizon_seconds = horizon_seconds
        self._owner: int | None = None

    def _walk(self, owner_id: int) -> FundingWalk:
        return FundingWalk(credits_available=self.balances.credits.get(owner_id, 0),
                           tokens_available=self.balances.tokens.get(owner_id, {}),
                           horizon_seconds=self.horizon_seconds)

    def step(self, outcome: ResourceOutcome) -> tuple[bool, bool, Decimal, Decimal]:
        """(funded before, funded after, needed after, available) for the next resource."""
        if outcome.owner_id != self._owner:
            self._owner = outcome.owner_id
            self._before = self._walk(outcome.owner_id)
            self._after = self._walk(outcome.owner_id)
        before = self._before.step(
            payment_type=outcome.payment_type, payment_chain=outcome.payment_chain,
            cost_credit_per_second=outcome.old_credit_per_second, cost_hold=outcome.old_hold)
        after = self._after.step(
            payment_type=outcome.payment_type, payment_chain=outcome.payment_chain,
            cost_credit_per_second=outcome.new_credit_per_second, cost_hold=outcome.new_hold)
        return before.funded, after.funded, after.required, after.available


# --- the impact --------------------------------------------------------------------------------

@dataclass
class ImpactTally:
    """Counts of an impact (or of a recalculation as it goes), added up batch by batch."""

    horizon_hours: int
    resources: int = 0
    accounts: int = 0
    cost_changed: int = 0
    cost_increased: int = 0
    cost_decreased: int = 0
    cannot_price: int = 0
    unfunded_before: int = 0
    unfunded_after: int = 0
    newly_unfunded: int = 0
    newly_unfunded_credit: int = 0
    newly_unfunded_hold: int = 0
    newly_unfunded_accounts: int = 0
    newly_funded: int = 0
    burn_before_per_hour: Decimal = ZERO
    burn_after_per_hour: Decimal = ZERO
    charged_before_per_hour: int = 0
    charged_after_per_hour: int = 0
    cannot_price_examples: list[dict] = field(default_factory=list)
    newly_unfunded_examples: list[dict] = field(default_factory=list)
    _last_owner: int | None = None
    _owner_newly_unfunded: bool = False

    def add(self, outcome: ResourceOutcome, walk: ImpactWalk) -> None:
        if outcome.owner_id != self._last_owner:
            self._last_owner = outcome.owner_id
            self._owner_newly_unfunded = False
            self.accounts += 1
        self.resources += 1
        if not outcome.priced:
            self.cannot_price += 1
            if len(self.cannot_price_examples) < EXAMPLES:
                self.cannot_price_examples.append({
                    "item_hash": outcome.item_hash, "owner": outcome.owner_address,
                    "reason": outcome.error})
        elif outcome.cost_changed:
            self.cost_changed += 1
            if outcome.new_cost > outcome.old_cost:
                self.cost_increased += 1
            else:
                self.cost_decreased += 1
        if outcome.payment_type == PaymentType.CREDIT:
            self.burn_before_per_hour = EXACT.add(
                self.burn_before_per_hour,
                amount_for_seconds(outcome.old_credit_per_second, HOUR_SECONDS))
            self.burn_after_per_hour = EXACT.add(
                self.burn_after_per_hour,
                amount_for_seconds(outcome.new_credit_per_second, HOUR_SECONDS))
            self.charged_before_per_hour += hourly_charge(outcome.old_credit_per_second)
            self.charged_after_per_hour += hourly_charge(outcome.new_credit_per_second)
        funded_before, funded_after, needed, available = walk.step(outcome)
        self.unfunded_before += not funded_before
        self.unfunded_after += not funded_after
        if funded_before and not funded_after:
            self.newly_unfunded += 1
            if outcome.payment_type == PaymentType.CREDIT:
                self.newly_unfunded_credit += 1
            else:
                self.newly_unfunded_hold += 1
            if not self._owner_newly_unfunded:
                self._owner_newly_unfunded = True
                self.newly_unfunded_accounts += 1
            if len(self.newly_unfunded_examples) < EXAMPLES:
                self.newly_unfunded_examples.append({
                    "item_hash": outcome.item_hash, "owner": outcome.owner_address,
                    "payment_type": outcome.payment_type,
                    "chain": outcome.payment_chain,
                    "needed": format_price(needed), "available": format_price(available)})
        elif funded_after and not funded_before:
            self.newly_funded += 1

    @property
    def burn_change_per_hour(self) -> Decimal:
        return EXACT.subtract(self.burn_after_per_hour, self.burn_before_per_hour)

    def as_summary(self) -> dict:
        """JSON-safe numbers (decimals as strings without trailing zeros), for pages and jobs."""
        summary = {name: getattr(self, name) for name in (
            "horizon_hours", "resources", "accounts", "cost_changed", "cost_increased",
            "cost_decreased", "cannot_price", "unfunded_before", "unfunded_after",
            "newly_unfunded", "newly_unfunded_credit", "newly_unfunded_hold",
            "newly_unfunded_accounts", "newly_funded", "charged_before_per_hour",
            "charged_after_per_hour", "cannot_price_examples", "newly_unfunded_examples")}
        summary.update(
            burn_before_per_hour=format_price(self.burn_before_per_hour),
            burn_after_per_hour=format_price(self.burn_after_per_hour),
            burn_change_per_hour=_signed(self.burn_change_per_hour),
            charged_change_per_hour=self.charged_after_per_hour - self.charged_before_per_hour)
        return summary


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + format_price(value)


@dataclass
class Impact:
    version: PricingVersion
    computed_at: datetime
    tally: ImpactTally | None  # None: too many resources to compute here
    live_resources: int
    fingerprint: str = ""

    @property
    def summary(self) -> dict | None:
        return None if self.tally is None else self.tally.as_summary()


def version_impact(*, version: PricingVersion, at: datetime | None = None,
                   batch_accounts: int = BATCH_ACCOUNTS) -> ImpactTally:
    """If every live resource were recalculated with `version` now: how many change cost, how
    many resources and accounts would become unfunded (as the next fund-or-flag would see
    them), and the hourly credit burn before and after. Resources that cannot be priced with
    it keep their stored cost in these numbers and are counted apart."""
    at = at or timezone.now()
    table = pricing_table_from_version(version)
    horizon_hours = funding_horizon_hours()
    tally = ImpactTally(horizon_hours=horizon_hours)
    for account_ids in live_owner_batches(batch_accounts=batch_accounts):
        walk = ImpactWalk(balances=balances_of(account_ids=account_ids, at=at),
                           horizon_seconds=horizon_hours * HOUR_SECONDS)
        for outcome in evaluate_accounts(account_ids=account_ids, table=table):
            tally.add(outcome, walk)
    return tally


def version_impact_preview(*, version: PricingVersion,
                           max_resources: int | None = None) -> Impact:
    """The impact for a page: computed now when there are at most `max_resources` live
    resources (default: impact_sync_max_resources()), else left to a dry-run job."""
    limit = impact_sync_max_resources() if max_resources is None else max_resources
    count = live_resource_count()
    now = timezone.now()
    tally = version_impact(version=version, at=now) if count <= limit else None
    return Impact(version=version, computed_at=now, tally=tally, live_resources=count,
                  fingerprint=version_fingerprint(version))
