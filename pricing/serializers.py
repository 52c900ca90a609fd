"""The documented shapes of the pricing API (amounts are strings), and the one way a cost row is
written, which every answer showing cost rows uses (estimates, v0 estimates, resources)."""
from decimal import ROUND_HALF_UP, Context, Decimal

from rest_framework import serializers

from .costs import PRICE_DECIMALS, format_amount
from .enums import CostRowType, ProductType

AMOUNT_HELP = "Decimal string with 18 decimals."
_SIZE_QUANTUM = Decimal(1).scaleb(-PRICE_DECIMALS)
# Enough digits for any numeric(38, 18) size: normalize() must not round.
_EXACT = Context(prec=60)


class Amount(serializers.CharField):
    """A decimal amount as a JSON string (never a float)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", AMOUNT_HELP)
        super().__init__(**kwargs)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable code, e.g. invalid_content.")
    message = serializers.CharField(help_text="What is wrong, for a person.")
    details = serializers.DictField(help_text="Structured details (fields, limits, errors).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# --- cost rows: one formatting for every answer that shows them --------------------------------

class CostRowSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CostRowType.choices)
    name = serializers.CharField()
    ref = serializers.CharField(allow_null=True)
    cost_hold = Amount(help_text="Tokens locked while the resource lives.")
    cost_stream = Amount(help_text="Tokens per second.")
    cost_credit = Amount(help_text="Credits per second.")
    size_mib = serializers.CharField(allow_null=True, help_text="Size of the volume in MiB.")


class NetworkCostRowSerializer(serializers.Serializer):
    """A cost row as the network's v0 estimate answers it: no `ref`, `size_mib` a number."""

    type = serializers.ChoiceField(choices=CostRowType.choices)
    name = serializers.CharField()
    cost_hold = Amount()
    cost_stream = Amount()
    cost_credit = Amount()
    size_mib = serializers.DecimalField(max_digits=38, decimal_places=20, allow_null=True,
                                        coerce_to_string=False)


def size_mib_text(size_mib: Decimal | None) -> str | None:
    """A size in MiB as every answer writes it: to 18 decimals as a cost row's numeric(38, 18)
    column stores it (PostgreSQL rounds half away from zero), without trailing zeros ("20480",
    "1.5"), so an estimate shows the size its registration will show; None stays None."""
    if size_mib is None:
        return None
    stored = size_mib.quantize(_SIZE_QUANTUM, rounding=ROUND_HALF_UP, context=_EXACT)
    return format(stored.normalize(_EXACT), "f")


def cost_row_payload(row) -> dict:
    """A cost row in CostRowSerializer's shape. `row` is the engine's `pricing.costs.CostRow`
    (an estimate) or a stored cost row of a resource: both have these attributes."""
    return {
        "type": row.type,
        "name": row.name,
        "ref": row.ref,
        "cost_hold": format_amount(row.cost_hold),
        "cost_stream": format_amount(row.cost_stream_per_second),
        "cost_credit": format_amount(row.cost_credit_per_second),
        "size_mib": size_mib_text(row.size_mib),
    }


def network_cost_row_payload(row) -> dict:
    """A cost row in NetworkCostRowSerializer's shape: `cost_row_payload` without `ref`, its
    `size_mib` (same digits) as a JSON number."""
    payload = cost_row_payload(row)
    del payload["ref"]
    if payload["size_mib"] is not None:
        payload["size_mib"] = Decimal(payload["size_mib"])
    return payload


class PricingVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    effective_from = serializers.DateTimeField()


def pricing_version_ref(version) -> dict:
    """A pricing version in PricingVersionRefSerializer's shape."""
    return {"id": version.pk, "name": version.name,
            "effective_from": version.effective_from.isoformat()}


# --- pricing ---------------------------------------------------------------------------------

class ComputeUnitSerializer(serializers.Serializer):
    vcpus = serializers.IntegerField()
    memory_mib = serializers.IntegerField()
    disk_mib = serializers.IntegerField()


class ComputeUnitPriceSerializer(serializers.Serializer):
    hold = Amount(help_text="Tokens per CU.")
    payg_per_hour = Amount(help_text="Tokens per CU per hour.")
    credit_per_hour = Amount(help_text="Credits per CU per hour.")


class StoragePriceSerializer(serializers.Serializer):
    hold_per_mib = Amount()
    payg_per_mib_hour = Amount()
    credit_per_mib_hour = Amount()


class ProductPriceSerializer(serializers.Serializer):
    compute_unit = ComputeUnitPriceSerializer(allow_null=True)
    storage = StoragePriceSerializer()
    fixed = Amount(allow_null=True)


class TierSerializer(serializers.Serializer):
    id = serializers.CharField()
    compute_units = serializers.IntegerField()
    model = serializers.CharField(allow_null=True)
    vram_mib = serializers.IntegerField(allow_null=True)


class ProductSerializer(serializers.Serializer):
    product_type = serializers.ChoiceField(choices=ProductType.choices)
    compute_unit = ComputeUnitSerializer(allow_null=True)
    price = ProductPriceSerializer()
    tiers = TierSerializer(many=True)


class GpuDeviceSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    model = serializers.CharField()


class PricingResponseSerializer(serializers.Serializer):
    version = PricingVersionRefSerializer()
    products = ProductSerializer(many=True)
    gpu_catalogue = GpuDeviceSerializer(many=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
