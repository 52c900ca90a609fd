"""Estimates: a content priced by the one pipeline of registration (`content_price`), with what an
account that has nothing needs to register it now. Without an account, and without a database
query once warm (the funding horizon is read through Django's cache like pricing is), except the
one query that sizes the files the content references (program code, runtime and data, immutable
volumes) without `estimated_size_mib`: registration's own lookup of the STORE resources."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from pricing.costs import HOUR_SECONDS, CostBreakdown
from pricing.enums import PaymentType
from pricing.estimates import Estimate

from ..funding import credits_required
from ..models import LifecycleSettings
from .resources import content_price, funding_horizon_hours

_HORIZON_CACHE_KEY = "credits:funding-horizon-hours"


@dataclass(frozen=True, slots=True)
class ContentEstimate:
    """An estimate, and what an account with nothing needs now to register its content: the
    hold cost (tokens), or one funding horizon of its credit cost (credits); None for a stream,
    which the compute node watches."""

    estimate: Estimate
    required_balance: Decimal | None


def content_estimate(*, message_type: str, content: Any,
                     item_hash: str | None = None) -> ContentEstimate:
    """An estimate body (`estimated_size_mib` allowed) priced with the version in force.

    Raises ContentRefused (422), CannotPrice (422) or PricingUnavailable (503).
    """
    priced = content_price(message_type=message_type, content=content, item_hash=item_hash,
                           estimate=True)
    breakdown = priced.breakdown
    return ContentEstimate(
        estimate=Estimate(breakdown=breakdown, version=priced.version,
                          charged_address=priced.parsed.address),
        required_balance=_required_balance(breakdown))


def _required_balance(breakdown: CostBreakdown) -> Decimal | None:
    if breakdown.payment_type == PaymentType.HOLD:
        return breakdown.hold_total
    if breakdown.payment_type == PaymentType.CREDIT:
        return credits_required(breakdown.credit_per_second,
                                HOUR_SECONDS * funding_horizon_hours_cached())
    return None


def funding_horizon_hours_cached() -> int:
    """`funding_horizon_hours()` kept in Django's cache for PRICING_CACHE_TTL_SECONDS, so that a
    warm estimate makes no database query. Saving the lifecycle settings drops it (for every
    process when the cache is shared); registration and the lifecycle read the row itself."""
    hours = cache.get(_HORIZON_CACHE_KEY)
    if hours is None:
        hours = funding_horizon_hours()
        cache.set(_HORIZON_CACHE_KEY, hours, timeout=settings.PRICING_CACHE_TTL_SECONDS)
    return hours


@receiver(post_save, sender=LifecycleSettings, dispatch_uid="credits.funding_horizon_cache")
def _funding_horizon_cache_drop(**kwargs) -> None:
    # Now, and again once committed: an estimate between the two may have cached the old row.
    cache.delete(_HORIZON_CACHE_KEY)
    transaction.on_commit(partial(cache.delete, _HORIZON_CACHE_KEY))
