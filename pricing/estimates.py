"""Estimates: content in, its costs under the version in force out, with the amounts an account
needs. Reads only the process cache of pricing, so a warm estimate makes no database query.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from credits_project.errors import DomainError

from .content import parse_content
from .costs import DAY_SECONDS, HOUR_SECONDS, CostBreakdown, amount_for_seconds, compute_costs
from .enums import PaymentType
from .models import PricingVersion
from .selectors import pricing_in_force


class PricingUnavailable(DomainError):
    """No pricing version is in force (nothing published yet): a 503 for every API that prices
    (estimates, registrations, affordability)."""

    status_code = 503
    code = "pricing_unavailable"


@dataclass(frozen=True, slots=True)
class Estimate:
    breakdown: CostBreakdown
    version: PricingVersion
    charged_address: str

    @property
    def cost_per_hour(self) -> Decimal | None:
        """Credits (credit) or tokens (stream) per hour; None for hold, which is not a rate."""
        rate = _rate_per_second(self.breakdown)
        return None if rate is None else amount_for_seconds(rate, HOUR_SECONDS)

    @property
    def cost_per_day(self) -> Decimal | None:
        rate = _rate_per_second(self.breakdown)
        return None if rate is None else amount_for_seconds(rate, DAY_SECONDS)

    @property
    def required_balance(self) -> Decimal | None:
        """What the account needs now: the hold cost, or one day of credit; streams are not
        checked here (the compute node watches the stream)."""
        payment_type = self.breakdown.payment_type
        if payment_type == PaymentType.HOLD:
            return self.breakdown.hold_total
        if payment_type == PaymentType.CREDIT:
            return amount_for_seconds(self.breakdown.credit_per_second, DAY_SECONDS)
        return None


def _rate_per_second(breakdown: CostBreakdown) -> Decimal | None:
    if breakdown.payment_type == PaymentType.CREDIT:
        return breakdown.credit_per_second
    if breakdown.payment_type == PaymentType.SUPERFLUID:
        return breakdown.stream_per_second
    return None


def estimate_compute(*, message_type: str, content: Any, item_hash: str | None = None) -> Estimate:
    """Costs of an estimate body under the version in force.

    Raises `pricing.content.ContentInvalid`, `pricing.costs.CostError` or `PricingUnavailable`.
    """
    parsed = parse_content(message_type, content, estimate=True)
    version, table = pricing_in_force()
    if table is None:
        raise PricingUnavailable("No pricing version is in force yet.")
    breakdown = compute_costs(parsed, table, item_hash=item_hash)
    return Estimate(breakdown=breakdown, version=version, charged_address=parsed.address)
