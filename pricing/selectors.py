"""Reading pricing: which version is in force, its pricing table and its payment rules, cached
in the process.

An estimate reads the table from the process cache and makes no database query once warm. The
cache entry is dropped when a version is published (in this process at once; in other processes
through a generation stamp in Django's cache, Redis in production), when the next published
version takes effect, and at the latest after PRICING_CACHE_TTL_SECONDS.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from .costs import ComputeUnit, PricingTable, ProductPricing, Rates, Tier
from .enums import VersionStatus
from .models import PricingVersion
from .rules import PaymentRuleSpec, PaymentTypeAcceptance, payment_type_refusal

_GENERATION_KEY = "pricing:generation"
_ZERO = Decimal(0)


def _published() -> Q:
    return Q(status__in=[VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED])


def pricing_version_in_force(*, at: datetime | None = None) -> PricingVersion | None:
    """The published version with the latest effective date not after `at` (default: now)."""
    at = at or timezone.now()
    return (PricingVersion.objects.filter(_published(), effective_from__lte=at)
            .order_by("-effective_from", "-published_at", "-id").first())


def pricing_version_next(*, after: datetime) -> PricingVersion | None:
    """The first published version that takes effect after `after`, if any."""
    return (PricingVersion.objects.filter(_published(), effective_from__gt=after)
            .order_by("effective_from", "published_at", "id").first())


def _rates(hold, payg, credit) -> Rates:
    return Rates(hold=hold or _ZERO, payg_per_hour=payg or _ZERO, credit_per_hour=credit or _ZERO)


def pricing_table_from_version(version: PricingVersion) -> PricingTable:
    """The engine's view of a version (three queries: products, tiers, GPU devices)."""
    tiers_by_product: dict[str, list[Tier]] = {}
    for tier in version.tiers.all().order_by("compute_units", "tier_id"):
        tiers_by_product.setdefault(tier.product_type, []).append(
            Tier(id=tier.tier_id, compute_units=tier.compute_units, model=tier.model or None,
                 vram_mib=tier.vram_mib))
    products = {}
    for product in version.products.all():
        has_cu = None not in (product.cu_vcpus, product.cu_memory_mib, product.cu_disk_mib)
        has_cu_price = any(value is not None for value in (
            product.price_cu_hold, product.price_cu_payg_per_hour,
            product.price_cu_credit_per_hour))
        products[product.product_type] = ProductPricing(
            product_type=product.product_type,
            storage=_rates(product.price_storage_hold_per_mib,
                           product.price_storage_payg_per_mib_hour,
                           product.price_storage_credit_per_mib_hour),
            compute_unit_price=_rates(product.price_cu_hold, product.price_cu_payg_per_hour,
                                      product.price_cu_credit_per_hour) if has_cu_price else None,
            compute_unit=ComputeUnit(vcpus=product.cu_vcpus, memory_mib=product.cu_memory_mib,
                                     disk_mib=product.cu_disk_mib) if has_cu else None,
            tiers=tuple(tiers_by_product.get(product.product_type, ())),
            fixed_price=product.price_fixed_hold,
        )
    gpu_models = {device.device_id: device.model for device in version.gpu_devices.all()}
    return PricingTable(version_id=version.pk, products=products, gpu_models=gpu_models)


def _payment_rules_from_db(version: PricingVersion) -> tuple[PaymentRuleSpec, ...]:
    return tuple(
        PaymentRuleSpec(name=rule.name, product_types=tuple(rule.product_types),
                        payment_types=tuple(rule.payment_types),
                        not_accepted_from=rule.not_accepted_from, description=rule.description)
        for rule in version.payment_rules.all().order_by("not_accepted_from", "name"))


@dataclass(frozen=True)
class _Entry:
    table: PricingTable | None
    version: PricingVersion | None
    payment_rules: tuple[PaymentRuleSpec, ...]
    generation: int | None
    valid_until_monotonic: float
    valid_until: datetime | None  # next version's effective date


class _PricingCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._entry: _Entry | None = None

    def clear(self) -> None:
        with self._lock:
            self._entry = None

    def get(self) -> tuple[PricingVersion | None, PricingTable | None]:
        entry = self._entry
        if entry is not None and self._fresh(entry):
            return entry.version, entry.table
        with self._lock:
            entry = self._entry
            if entry is None or not self._fresh(entry):
                entry = self._load()
                self._entry = entry
        return entry.version, entry.table

    @staticmethod
    def _generation() -> int | None:
        return cache.get(_GENERATION_KEY)

    def _fresh(self, entry: _Entry) -> bool:
        if time.monotonic() >= entry.valid_until_monotonic:
            return False
        if entry.valid_until is not None and timezone.now() >= entry.valid_until:
            return False
        return self._generation() == entry.generation

    def payment_rules(self, version_pk: int) -> tuple[PaymentRuleSpec, ...] | None:
        """The cached payment rules if `version_pk` is the cached version (fresh or not: a
        published version's rules never change), else None."""
        entry = self._entry
        if entry is not None and entry.version is not None and entry.version.pk == version_pk:
            return entry.payment_rules
        return None

    def _load(self) -> _Entry:
        generation = self._generation()
        now = timezone.now()
        version = pricing_version_in_force(at=now)
        table = pricing_table_from_version(version) if version else None
        rules = _payment_rules_from_db(version) if version else ()
        upcoming = pricing_version_next(after=now)
        return _Entry(
            table=table, version=version, payment_rules=rules, generation=generation,
            valid_until_monotonic=time.monotonic() + settings.PRICING_CACHE_TTL_SECONDS,
            valid_until=upcoming.effective_from if upcoming else None,
        )


_cache = _PricingCache()


def pricing_in_force() -> tuple[PricingVersion | None, PricingTable | None]:
    """The version in force now and its pricing table, from the process cache."""
    return _cache.get()


def payment_rules_of(version: PricingVersion) -> tuple[PaymentRuleSpec, ...]:
    """The payment rules of `version`: from the process cache when it is the cached version in
    force (no query), else from the database."""
    cached = _cache.payment_rules(version.pk) if not version.is_editable else None
    return cached if cached is not None else _payment_rules_from_db(version)


def payment_type_acceptance(*, version: PricingVersion, product_type: str, payment_type: str,
                            at: datetime) -> PaymentTypeAcceptance:
    """Does `version` accept `payment_type` for `product_type` at `at`? Its payment rules
    through the one rule, `pricing.rules.payment_type_refusal`; the refusal names the rule."""
    return PaymentTypeAcceptance(refusal=payment_type_refusal(
        payment_rules_of(version), product_type=product_type, payment_type=payment_type, at=at))


def pricing_cache_invalidate() -> None:
    """Drop the cached version here and, through the shared cache, in every other process."""
    _cache.clear()
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:
        cache.set(_GENERATION_KEY, 1, timeout=None)
