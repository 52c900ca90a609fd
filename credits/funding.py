"""The funding rule, written once: what is spendable at an instant, the order credits are drained
in, one metered hour's charge, which live resources a balance funds (oldest first, for a
horizon), what an owner lacks, and what one lifecycle run does to one account.

Pure: values in, values out; no ORM, no I/O. Every Python caller (registration's one-day rule,
the desk's shortfalls, a version's impact, the lifecycle forecast, ledger debits) uses these
functions. The lifecycle's set-based SQL restates the same rule for speed;
tests/credits/test_funding_rule.py holds it against `account_run` on random accounts.

Arithmetic is exact: rates have 18 decimals and sums over many resources times a horizon need
more than the cost engine's 28 digits, as PostgreSQL's `numeric` has.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal
from typing import TypeVar

from pricing.costs import HOUR_SECONDS
from pricing.enums import PaymentType

from .models import RemovalReason, ResourceStatus

ZERO = Decimal(0)
# Exact for sums of 18-decimal rates and balances up to numeric(38, 18), times any horizon.
EXACT = Context(prec=80)

LotT = TypeVar("LotT")


# --- credits: spendable, drained --------------------------------------------------------------

def lot_spendable(*, remaining: int, expires_at: datetime | None, at: datetime) -> bool:
    """A lot counts at `at` while it has credits left and never expires or expires after `at`
    (a lot expiring exactly at `at` no longer counts). `Lot.objects.spendable(at)` is the query
    form of this rule, `lot_spendable_sql` its SQL form."""
    return remaining > 0 and (expires_at is None or expires_at > at)


def lot_spendable_sql(*, at: str, lot: str = "") -> str:
    """`lot_spendable` as an SQL condition on the lots aliased `lot` (none: bare columns) at the
    SQL instant `at` (a parameter or a column)."""
    prefix = f"{lot}." if lot else ""
    return (f"{prefix}remaining > 0 "
            f"AND ({prefix}expires_at IS NULL OR {prefix}expires_at > {at})")


def drain_order_key(*, expires_at: datetime | None, created_at: datetime,
                    lot_id: int) -> tuple:
    """Lots are drained soonest-expiring first, never-expiring last, then oldest first."""
    return (expires_at is None, expires_at or created_at, created_at, lot_id)


def drain_plan(lots: Iterable[LotT], amount: int) -> list[tuple[LotT, int]]:
    """Pieces (lot, credits) taking up to `amount` from `lots`, already in drain order, never
    more than a lot has. What cannot be taken is the debit's shortfall."""
    pieces = []
    left = amount
    for lot in lots:
        if left <= 0:
            break
        piece = min(lot.remaining, left)
        if piece > 0:
            pieces.append((lot, piece))
            left -= piece
    return pieces


# --- metering --------------------------------------------------------------------------------

def hourly_charge(cost_credit_per_second: Decimal) -> int:
    """One metered hour in whole credits: the exact cost of 3600 seconds, rounded half-up."""
    return int(EXACT.multiply(Decimal(cost_credit_per_second), HOUR_SECONDS)
               .to_integral_value(rounding=ROUND_HALF_UP))


def whole_hours(later: datetime, earlier: datetime) -> int:
    """Whole hours from `earlier` to `later`, floored (negative when `later` is earlier)."""
    delta = later - earlier
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return microseconds // (HOUR_SECONDS * 1_000_000)


def charged_hours(*, meter: int | None, metered_until: datetime | None,
                  created_at: datetime) -> int:
    """Billing hours a live credit-paid resource has been charged: its `ResourceMeter` row
    where it has one (`meter`), else every whole hour ended by its account's watermark
    `metered_until` (none: never metered). `lifecycle.sql.charged_hours_sql` is its SQL form."""
    if meter is not None:
        return meter
    if metered_until is None:
        return 0
    return max(0, whole_hours(metered_until, created_at))


def hour_of_charge(created_at: datetime, hour_index: int) -> datetime:
    """The clock hour (UTC) in which billing hour `hour_index` of a resource created at
    `created_at` starts: a charge's `hour` (`lifecycle.sql.charge_hour_sql` is its SQL form)."""
    start = created_at.astimezone(UTC) + timedelta(hours=hour_index)
    return start.replace(minute=0, second=0, microsecond=0)


def charges_allot(per_hour: Sequence[int], drained: int) -> list[int]:
    """What each charge (in metering order) receives of the `drained` credits: the oldest
    charges are paid in full first, so a shortfall lands on the newest hours."""
    allotted = []
    before = 0
    for amount in per_hour:
        allotted.append(max(0, min(amount, drained - before)))
        before += amount
    return allotted


# --- funding ---------------------------------------------------------------------------------

def credits_required(cost_credit_per_second: Decimal, horizon_seconds: int) -> Decimal:
    """Credits needed to run at `cost_credit_per_second` for the horizon (exact, not rounded)."""
    return EXACT.multiply(Decimal(cost_credit_per_second), horizon_seconds)


def shortfall(*, required: Decimal, available: Decimal) -> Decimal:
    """What is missing for `available` to cover `required`; never below 0."""
    return max(ZERO, EXACT.subtract(Decimal(required), Decimal(available)))


def credits_to_add(missing: Decimal) -> int:
    """Credits are whole: what an owner must add to cover `missing` credits is it rounded up."""
    return int(Decimal(missing).to_integral_value(rounding=ROUND_CEILING))


def exact_total(values: Iterable[Decimal]) -> Decimal:
    total = ZERO
    for value in values:
        total = EXACT.add(total, Decimal(value))
    return total


# Why an unfunded resource is flagged, by how it pays (credit first, then hold); streams are
# not checked.
REMOVAL_REASON_BY_PAYMENT = {PaymentType.CREDIT: RemovalReason.CREDIT_INSUFFICIENT,
                             PaymentType.HOLD: RemovalReason.BALANCE_INSUFFICIENT}


@dataclass(frozen=True, slots=True)
class FundingStep:
    """One resource in a funding walk: funded or not, and the running requirement (credits for
    credit, tokens for hold) against what is available. A stream is not checked."""

    checked: bool
    funded: bool
    required: Decimal
    available: Decimal


class FundingWalk:
    """Fund-or-flag for one account, its live resources taken oldest first: a credit resource is
    funded while one horizon of the running total of credit cost is ≤ the credits available; a
    hold resource while the running total of hold costs on its chain is ≤ the token balance
    there. Streams are not checked."""

    def __init__(self, *, credits_available: int | Decimal,
                 tokens_available: Mapping[str, Decimal], horizon_seconds: int):
        self.credits_available = Decimal(credits_available)
        self.tokens_available = tokens_available
        self.horizon_seconds = horizon_seconds
        self._credit_rate = ZERO
        self._hold: dict[str, Decimal] = {}

    def step(self, *, payment_type: str, payment_chain: str, cost_credit_per_second: Decimal,
             cost_hold: Decimal) -> FundingStep:
        if payment_type == PaymentType.CREDIT:
            self._credit_rate = EXACT.add(self._credit_rate, Decimal(cost_credit_per_second))
            required = credits_required(self._credit_rate, self.horizon_seconds)
            return FundingStep(checked=True, funded=required <= self.credits_available,
                               required=required, available=self.credits_available)
        if payment_type == PaymentType.HOLD:
            required = EXACT.add(self._hold.get(payment_chain, ZERO), Decimal(cost_hold))
            self._hold[payment_chain] = required
            available = Decimal(self.tokens_available.get(payment_chain, ZERO))
            return FundingStep(checked=True, funded=required <= available, required=required,
                               available=available)
        return FundingStep(checked=False, funded=True, required=ZERO, available=ZERO)


# --- one lifecycle run, one account ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LotState:
    id: int
    remaining: int
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ResourceState:
    """A live resource as a run sees it (`charged_hours`: hours metered so far)."""

    id: int
    status: str
    payment_type: str
    payment_chain: str
    created_at: datetime
    delete_after: datetime | None
    cost_credit_per_second: Decimal
    cost_hold: Decimal
    charged_hours: int = 0


@dataclass(frozen=True, slots=True)
class Charge:
    resource_id: int
    hour_index: int
    amount_requested: int
    amount_drained: int


@dataclass(slots=True)
class AccountOutcome:
    """What a run as of an instant does to one account: its charges (none unless something is
    requested), the credits drained from each lot, the meter positions, and the resources it
    flags, restores and removes."""

    requested: int = 0
    drained: int = 0
    charges: list[Charge] = field(default_factory=list)
    drains: dict[int, int] = field(default_factory=dict)  # lot id → credits
    meters: dict[int, int] = field(default_factory=dict)  # resource id → charged hours after
    flagged: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    @property
    def credits_short(self) -> int:
        return self.requested - self.drained


def _oldest_first(resource: ResourceState) -> tuple:
    return (resource.created_at, resource.id)


def metering_end(resource: ResourceState, at: datetime) -> datetime:
    """A resource is metered up to `at`, or up to its deadline if that passed before."""
    if resource.status == ResourceStatus.REMOVING and resource.delete_after is not None \
            and resource.delete_after < at:
        return resource.delete_after
    return at


def account_run(*, lots: Iterable[LotState], resources: Iterable[ResourceState],
                tokens_available: Mapping[str, Decimal], at: datetime, grace: timedelta,
                horizon_seconds: int, metering: bool = True) -> AccountOutcome:
    """One lifecycle run as of `at` for one account: meter every whole hour each live credit
    resource ran since its last charge (draining the spendable lots in drain order), then fund
    or flag every credit and hold resource oldest first against what is left, then remove what
    is past its deadline."""
    outcome = AccountOutcome()
    live = sorted((r for r in resources if r.status in (ResourceStatus.PROCESSED,
                                                        ResourceStatus.REMOVING)),
                  key=_oldest_first)
    spendable = sorted((lot for lot in lots
                        if lot_spendable(remaining=lot.remaining, expires_at=lot.expires_at,
                                         at=at)),
                       key=lambda lot: drain_order_key(expires_at=lot.expires_at,
                                                       created_at=lot.created_at,
                                                       lot_id=lot.id))
    if metering:
        due: list[tuple[ResourceState, int, int]] = []
        for resource in live:
            if resource.payment_type != PaymentType.CREDIT:
                continue
            to_hour = whole_hours(metering_end(resource, at), resource.created_at)
            if to_hour > resource.charged_hours:
                due.append((resource, hourly_charge(resource.cost_credit_per_second), to_hour))
                outcome.meters[resource.id] = to_hour
        hours = [(resource.id, hour, per_hour) for resource, per_hour, to_hour in due
                 for hour in range(resource.charged_hours, to_hour)]
        outcome.requested = sum(per_hour for _, _, per_hour in hours)
        if outcome.requested > 0:
            pieces = drain_plan(spendable, outcome.requested)
            outcome.drains = {lot.id: piece for lot, piece in pieces}
            outcome.drained = sum(outcome.drains.values())
            allotted = charges_allot([per_hour for _, _, per_hour in hours], outcome.drained)
            outcome.charges = [Charge(resource_id=resource_id, hour_index=hour,
                                      amount_requested=per_hour, amount_drained=paid)
                               for (resource_id, hour, per_hour), paid in zip(hours, allotted)]
    balance = sum(lot.remaining - outcome.drains.get(lot.id, 0) for lot in spendable)
    walk = FundingWalk(credits_available=balance, tokens_available=tokens_available,
                       horizon_seconds=horizon_seconds)
    for resource in live:
        step = walk.step(payment_type=resource.payment_type,
                         payment_chain=resource.payment_chain,
                         cost_credit_per_second=resource.cost_credit_per_second,
                         cost_hold=resource.cost_hold)
        if not step.checked:
            continue
        if resource.status == ResourceStatus.PROCESSED and not step.funded:
            outcome.flagged.append(resource.id)
        elif resource.status == ResourceStatus.REMOVING and step.funded \
                and resource.delete_after is not None and resource.delete_after > at:
            outcome.restored.append(resource.id)
    flagged = set(outcome.flagged)
    restored = set(outcome.restored)
    for resource in live:
        if resource.id in flagged:
            deadline = at + grace
        elif resource.status == ResourceStatus.REMOVING and resource.id not in restored:
            deadline = resource.delete_after
        else:
            continue
        if deadline is not None and deadline <= at:
            outcome.removed.append(resource.id)
    outcome.flagged.sort()
    outcome.restored.sort()
    outcome.removed.sort()
    return outcome
