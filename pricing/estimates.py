"""Estimates: what a priced content costs under a version, per second, per hour and per day, and
the 503 of every API that prices. Pure values: the pipeline that parses and prices a content
(sizing the files registered as STORE resources) is `credits.selectors.resources.content_price`.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from credits_project.errors import DomainError

from .costs import DAY_SECONDS, HOUR_SECONDS, CostBreakdown, amount_for_seconds
from .enums import PaymentType
from .models import PricingVersion


class PricingUnavailable(DomainError):
    """No pricing version is in force (nothing published yet): a 503 for every API that prices
    (estimates, registrations, affordability)."""

    status_code = 503
    code = "pricing_unavailable"


@dataclass(frozen=True, slots=True)
class Estimate:
    """A content's costs under `version`, charged to `charged_address`. Knows nothing of
    accounts: what an account needs to take it on is the funding rule's, in credits."""

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


def _rate_per_second(breakdown: CostBreakdown) -> Decimal | None:
    if breakdown.payment_type == PaymentType.CREDIT:
        return breakdown.credit_per_second
    if breakdown.payment_type == PaymentType.SUPERFLUID:
        return breakdown.stream_per_second
    return None
