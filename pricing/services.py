"""Writing pricing versions: import a draft from the network's JSON, copy a version to a draft,
publish a draft with an effective date, and mark versions that can never be in force again.
A version's payment rules go with it: imported, copied and published with its prices.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from .aggregate import (
    GPU_DUPLICATES_REFUSE,
    AggregateInvalid,
    GpuSpec,
    ProductSpec,
    parse_compatible_gpus,
    parse_payment_rules,
    parse_price_aggregate,
    version_problems,
    version_to_compatible_gpus,
)
from .enums import VersionStatus
from .locks import pricing_versions_publish_lock
from .models import GpuDevice, PaymentRule, PricingVersion, Product, Tier
from .rules import DEFAULT_PAYMENT_RULES, PaymentRuleSpec
from .selectors import payment_rules_of, pricing_cache_invalidate, pricing_version_in_force

# A date picked on a page a few minutes ago still means "now"; it is then published as now, so
# a version never claims to have been in force before it was published.
EFFECTIVE_FROM_TOLERANCE = timedelta(minutes=5)
MAX_VERSION_NAME = PricingVersion._meta.get_field("name").max_length


class PricingVersionError(Exception):
    """A pricing version operation refused; `code`, `message` and `errors` are for display."""

    code = "pricing_version_error"

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])


class PricingVersionNotEditable(PricingVersionError):
    """Only a draft can be edited or published; published versions are copied instead."""

    code = "pricing_version_not_editable"


class PricingEffectiveDateInvalid(PricingVersionError):
    code = "pricing_effective_date_invalid"


class PricingVersionInvalid(PricingVersionError, AggregateInvalid):
    """The version (or the documents it is imported from) has problems, all listed in `errors`."""

    code = "pricing_version_invalid"

    def __init__(self, errors: list[str], warnings: list[str] | None = None,
                 message: str | None = None):
        AggregateInvalid.__init__(self, errors, warnings or ())
        self.message = message or self.message


def _create_payment_rules(*, version: PricingVersion, rules: list[PaymentRuleSpec],
                          history: dict) -> None:
    bulk_create_with_history(
        [PaymentRule(version=version, name=rule.name, product_types=list(rule.product_types),
                     payment_types=list(rule.payment_types),
                     not_accepted_from=rule.not_accepted_from, description=rule.description)
         for rule in rules], PaymentRule, **history)


def _create_contents(*, version: PricingVersion, products: list[ProductSpec],
                     gpus: list[GpuSpec], rules: list[PaymentRuleSpec], user,
                     reason: str) -> None:
    # bulk_create_with_history writes one history row per object, with the user, in bulk.
    history = {"default_user": user, "default_change_reason": reason}
    bulk_create_with_history(
        [Product(version=version, **product.product_fields()) for product in products],
        Product, **history)
    bulk_create_with_history(
        [Tier(version=version, product_type=product.product_type, tier_id=tier.tier_id,
              compute_units=tier.compute_units, model=tier.model, vram_mib=tier.vram_mib)
         for product in products for tier in product.tiers],
        Tier, **history)
    bulk_create_with_history(
        [GpuDevice(version=version, device_id=gpu.device_id, model=gpu.model, name=gpu.name,
                   vendor=gpu.vendor) for gpu in gpus],
        GpuDevice, **history)
    _create_payment_rules(version=version, rules=rules, history=history)


def recorded_user(user):
    """The user to record, or None (a command, a migration, an anonymous request)."""
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _name_errors(name: Any) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        return ["name: a pricing version needs a name"]
    if len(name) > MAX_VERSION_NAME:
        return [f"name: is longer than {MAX_VERSION_NAME} characters"]
    return []


@transaction.atomic
def pricing_version_import(*, aggregate: Any, compatible_gpus: Any | None = None,
                           payment_rules: Any | None = None, name: str, user=None,
                           notes: str = "",
                           gpu_duplicates: str = GPU_DUPLICATES_REFUSE) -> PricingVersion:
    """A new draft from the network's pricing aggregate and, optionally, its settings aggregate
    and a payment-rules document (this service's own: the network keeps them in its code).

    All documents are checked completely before anything is written; on any problem nothing
    is created and PricingVersionInvalid lists every problem. Without `compatible_gpus` the GPU
    catalogue of the version in force is copied; without `payment_rules` its payment rules
    (with no version in force, the network's, `pricing.rules.DEFAULT_PAYMENT_RULES`).
    `gpu_duplicates="first_wins"` reads a device id listed twice as the network does (see
    `parse_compatible_gpus`). Warnings (ignored unknown product types, keys or repeated device
    ids) are on the returned version as `import_warnings`.
    """
    user = recorded_user(user)
    errors = _name_errors(name)
    warnings: list[str] = []
    products: list[ProductSpec] = []
    try:
        products = parse_price_aggregate(aggregate)
        warnings.extend(products.warnings)
    except AggregateInvalid as exc:
        errors.extend(exc.errors)
        warnings.extend(exc.warnings)
    gpus: list[GpuSpec] = []
    if compatible_gpus is not None:
        try:
            gpus = parse_compatible_gpus(compatible_gpus, duplicates=gpu_duplicates)
            warnings.extend(gpus.warnings)
        except AggregateInvalid as exc:
            errors.extend(exc.errors)
            warnings.extend(exc.warnings)
    rules: list[PaymentRuleSpec] = []
    if payment_rules is not None:
        try:
            rules = parse_payment_rules(payment_rules)
        except AggregateInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise PricingVersionInvalid(errors, warnings)

    in_force = pricing_version_in_force()
    if compatible_gpus is None:
        if in_force is None:
            warnings.append("compatible_gpus: none given and no version is in force; the GPU "
                            "catalogue is empty")
        else:
            gpus = parse_compatible_gpus(version_to_compatible_gpus(in_force))
    if payment_rules is None:
        rules = list(payment_rules_of(in_force) if in_force else DEFAULT_PAYMENT_RULES)

    version = PricingVersion(name=name.strip(), notes=notes, status=VersionStatus.DRAFT)
    version._history_user = user
    version.save()
    _create_contents(version=version, products=products, gpus=gpus, rules=rules, user=user,
                     reason="imported")
    version.import_warnings = warnings
    return version


@transaction.atomic
def pricing_version_copy(*, version: PricingVersion, user=None,
                         name: str | None = None) -> PricingVersion:
    """A new draft with the products, tiers, GPU catalogue and payment rules of `version` (any
    status)."""
    user = recorded_user(user)
    name = name if name is not None else f"Copy of {version.name}"[:MAX_VERSION_NAME]
    errors = _name_errors(name)
    if errors:
        raise PricingVersionInvalid(errors)
    copy = PricingVersion(name=name.strip(), status=VersionStatus.DRAFT, copied_from=version)
    copy._history_user = user
    copy.save()
    reason = f"copied from version {version.pk}"
    history = {"default_user": user, "default_change_reason": reason}
    product_fields = [f.name for f in Product._meta.concrete_fields
                      if f.name not in ("id", "version")]
    bulk_create_with_history(
        [Product(version=copy, **{f: getattr(p, f) for f in product_fields})
         for p in version.products.all()], Product, **history)
    bulk_create_with_history(
        [Tier(version=copy, product_type=t.product_type, tier_id=t.tier_id,
              compute_units=t.compute_units, model=t.model, vram_mib=t.vram_mib)
         for t in version.tiers.all()], Tier, **history)
    bulk_create_with_history(
        [GpuDevice(version=copy, device_id=g.device_id, model=g.model, name=g.name,
                   vendor=g.vendor) for g in version.gpu_devices.all()], GpuDevice, **history)
    _create_payment_rules(version=copy, rules=payment_rules_of(version), history=history)
    return copy


@transaction.atomic
def pricing_version_publish(*, version: PricingVersion, effective_from: datetime | None = None,
                            user=None) -> PricingVersion:
    """Publish a draft: in force from `effective_from` (default now; not in the past).

    The draft is checked as an export would be re-imported; every problem is listed in
    PricingVersionInvalid. Versions that can no longer be in force become superseded, and
    every process reloads its pricing once the transaction commits.
    """
    user = recorded_user(user)
    locked = pricing_versions_publish_lock(version_pk=version.pk)
    # Read the clock once the lock is held: a publish that waited for another one then comes
    # after it, in effective date as in commit order.
    now = timezone.now()
    if locked.status != VersionStatus.DRAFT:
        raise PricingVersionNotEditable(
            f"Version #{locked.pk} is {locked.get_status_display().lower()}; only a draft can "
            "be published. Copy it to a new draft to change it.")
    if effective_from is None:
        effective_from = now
    elif timezone.is_naive(effective_from):
        raise PricingEffectiveDateInvalid("The effective date needs a time zone.")
    elif effective_from < now - EFFECTIVE_FROM_TOLERANCE:
        raise PricingEffectiveDateInvalid(
            f"The effective date {effective_from.isoformat()} is in the past; a version can "
            "only take effect now or later.")
    else:
        effective_from = max(effective_from, now)
    problems = version_problems(locked)
    if problems:
        raise PricingVersionInvalid(
            problems, message=f"Version #{locked.pk} cannot be published: {len(problems)} "
                              "problem(s) found.")

    locked.status = VersionStatus.PUBLISHED
    locked.effective_from = effective_from
    locked.published_at = now
    locked.published_by = user
    locked._history_user = user
    locked._change_reason = "published"
    locked.save()
    pricing_versions_mark_superseded(now=now, user=user)
    transaction.on_commit(pricing_cache_invalidate)
    return locked


def _rank(version: PricingVersion) -> tuple:
    # The order pricing_version_in_force() picks by: latest effective date, then latest publish.
    return (version.effective_from, version.published_at, version.pk)


@transaction.atomic
def pricing_versions_mark_superseded(*, now: datetime, user=None) -> list[PricingVersion]:
    """Mark published versions that are not in force and never will be again as superseded.

    A version is dead once a higher-ranked version takes effect no later than
    max(now, its own effective date): from then on that one always wins. Returns the versions
    marked. Publishing calls this; a periodic task may call it too once a future version has
    taken effect.
    """
    versions = sorted(PricingVersion.objects.filter(
        status__in=[VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED]), key=_rank, reverse=True)
    user = recorded_user(user)
    marked = []
    earliest_above = None  # earliest effective date among the versions ranked above
    for version in versions:
        horizon = max(now, version.effective_from)
        dead = earliest_above is not None and earliest_above <= horizon
        if dead and version.status == VersionStatus.PUBLISHED:
            version.status = VersionStatus.SUPERSEDED
            version._history_user = user
            version._change_reason = "superseded"
            version.save(update_fields=["status"])
            marked.append(version)
        if earliest_above is None or version.effective_from < earliest_above:
            earliest_above = version.effective_from
    return marked
