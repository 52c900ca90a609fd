"""The network's pricing-aggregate JSON shape: to and from pricing versions and tables."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from .costs import ComputeUnit, PricingTable, ProductPricing, Rates, Tier

_ZERO = Decimal(0)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else _ZERO


def _rates(price: dict | None) -> Rates:
    price = price or {}
    return Rates(hold=_decimal(price.get("holding")), payg_per_hour=_decimal(price.get("payg")),
                 credit_per_hour=_decimal(price.get("credit")))


def table_from_aggregate(aggregate: dict, compatible_gpus: Iterable[dict] = (),
                         version_id: int | None = None) -> PricingTable:
    """A pricing table straight from a (valid) aggregate: for tests, fixtures and benchmarks."""
    products = {}
    for product_type, spec in aggregate.items():
        price = spec.get("price", {})
        cu = spec.get("compute_unit")
        products[product_type] = ProductPricing(
            product_type=product_type,
            storage=_rates(price.get("storage")),
            compute_unit_price=_rates(price["compute_unit"]) if "compute_unit" in price else None,
            compute_unit=ComputeUnit(vcpus=cu["vcpus"], memory_mib=cu["memory_mib"],
                                     disk_mib=cu["disk_mib"]) if cu else None,
            tiers=tuple(Tier(id=t["id"], compute_units=t["compute_units"], model=t.get("model"),
                             vram_mib=t.get("vram")) for t in spec.get("tiers") or ()),
            fixed_price=_decimal(price["fixed"]) if "fixed" in price else None,
        )
    gpu_models: dict[str, str] = {}
    for gpu in compatible_gpus:
        gpu_models.setdefault(gpu["device_id"], gpu["model"])
    return PricingTable(version_id=version_id, products=products, gpu_models=gpu_models)
