"""What a pricing version changes in the pricing itself, read-only: its differences from another
version field by field, and a fingerprint of everything that prices (its impact on the live
resources is the credits app's: credits/impact.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .aggregate import (
    PRODUCT_ORDER,
    format_price,
    version_to_aggregate,
    version_to_compatible_gpus,
)
from .models import GpuDevice, PaymentRule, PricingVersion, Product, Tier
from .rules import format_rule_date
from .selectors import pricing_version_in_force


def shown_value(value: Any) -> str:
    """A field's value as the pricing pages show it: prices without the column's padding."""
    if isinstance(value, Decimal):
        return format_price(value)
    if isinstance(value, datetime):
        return format_rule_date(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "—"
    return "—" if value in (None, "") else str(value)


_PRODUCT_FIELDS = [f for f in Product._meta.concrete_fields
                   if f.name not in ("id", "version", "product_type")]
_TIER_FIELDS = [Tier._meta.get_field(name) for name in ("compute_units", "model", "vram_mib")]
_GPU_FIELDS = [GpuDevice._meta.get_field(name) for name in ("model", "name", "vendor")]
_RULE_FIELDS = [PaymentRule._meta.get_field(name) for name in
                ("product_types", "payment_types", "not_accepted_from", "description")]


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class RowChange:
    """One product, tier or GPU device that was added, removed or changed."""

    key: str  # "instance", "instance tier-3", "10de:2684"
    action: str  # "added", "removed", "changed"
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class VersionDiff:
    version: PricingVersion
    base: PricingVersion | None
    products: tuple[RowChange, ...]
    tiers: tuple[RowChange, ...]
    gpu_devices: tuple[RowChange, ...]
    payment_rules: tuple[RowChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.products or self.tiers or self.gpu_devices or self.payment_rules)

    @property
    def count(self) -> int:
        return (len(self.products) + len(self.tiers) + len(self.gpu_devices)
                + len(self.payment_rules))


def _row_changes(old_rows: dict, new_rows: dict, fields_, key_order) -> tuple[RowChange, ...]:
    changes = []
    for key in sorted(set(old_rows) | set(new_rows), key=key_order):
        old, new = old_rows.get(key), new_rows.get(key)
        field_changes = []
        for model_field in fields_:
            old_value = None if old is None else getattr(old, model_field.name)
            new_value = None if new is None else getattr(new, model_field.name)
            if old is not None and new is not None and old_value == new_value:
                continue
            if old_value in (None, "") and new_value in (None, ""):
                continue  # an empty field of an added or removed row says nothing
            field_changes.append(FieldChange(field=model_field.name,
                                             label=str(model_field.verbose_name),
                                             old=shown_value(old_value),
                                             new=shown_value(new_value)))
        if old is None:
            action = "added"
        elif new is None:
            action = "removed"
        elif field_changes:
            action = "changed"
        else:
            continue
        label = key if isinstance(key, str) else " ".join(key)
        changes.append(RowChange(key=label, action=action, changes=tuple(field_changes)))
    return tuple(changes)


_PRODUCT_POSITION = {product.value: index for index, product in enumerate(PRODUCT_ORDER)}


def _product_order(product_type: str):
    return (_PRODUCT_POSITION.get(product_type, len(_PRODUCT_POSITION)), product_type)


def version_diff_base(version: PricingVersion) -> PricingVersion | None:
    """What a version is compared with by default: the version in force, or, for the version in
    force itself, the version it was copied from."""
    in_force = pricing_version_in_force()
    if in_force is not None and in_force.pk != version.pk:
        return in_force
    if version.copied_from_id and version.copied_from_id != version.pk:
        return version.copied_from
    return None


def version_diff(*, version: PricingVersion, base: PricingVersion | None) -> VersionDiff:
    """`version` against `base` (None: against nothing, everything is added), field by field:
    products by type, tiers by (type, id), GPU devices by PCI device id, payment rules by name.
    Eight queries."""

    def products(v):
        return {} if v is None else {p.product_type: p for p in v.products.all()}

    def tiers(v):
        return {} if v is None else {(t.product_type, t.tier_id): t for t in v.tiers.all()}

    def gpus(v):
        return {} if v is None else {g.device_id: g for g in v.gpu_devices.all()}

    def rules(v):
        return {} if v is None else {r.name: r for r in v.payment_rules.all()}

    return VersionDiff(
        version=version, base=base,
        products=_row_changes(products(base), products(version), _PRODUCT_FIELDS,
                              _product_order),
        tiers=_row_changes(tiers(base), tiers(version), _TIER_FIELDS,
                           lambda key: (_product_order(key[0]), key[1])),
        gpu_devices=_row_changes(gpus(base), gpus(version), _GPU_FIELDS, lambda key: key),
        payment_rules=_row_changes(rules(base), rules(version), _RULE_FIELDS, lambda key: key),
    )


def version_fingerprint(version: PricingVersion) -> str:
    """A digest of everything that prices: the aggregate and the GPU catalogue (a draft's
    impact computed earlier is stale once this changes)."""
    document = {"pricing": version_to_aggregate(version),
                "gpus": version_to_compatible_gpus(version)}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
