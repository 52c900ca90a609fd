"""Request validation and the documented shapes of the pricing API (amounts are strings)."""
from rest_framework import serializers

from .enums import CostRowType, MessageType, PaymentType, ProductType

AMOUNT_HELP = "Decimal string with 18 decimals."


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


# --- estimates -------------------------------------------------------------------------------

class EstimateRequestSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=MessageType.choices,
                                   help_text="The Aleph message type.")
    content = serializers.DictField(
        help_text="The message content as posted to the network (aleph-message models), with "
                  "`estimated_size_mib` allowed on program code/runtime/data, immutable volumes "
                  "and STORE where a file size is needed.")


class CostRowSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CostRowType.choices)
    name = serializers.CharField()
    ref = serializers.CharField(allow_null=True)
    cost_hold = Amount(help_text="Tokens locked while the resource lives.")
    cost_stream = Amount(help_text="Tokens per second.")
    cost_credit = Amount(help_text="Credits per second.")
    size_mib = serializers.CharField(allow_null=True, help_text="Size of the volume in MiB.")


class PricingVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    effective_from = serializers.DateTimeField()


class EstimateResponseSerializer(serializers.Serializer):
    product_type = serializers.ChoiceField(choices=ProductType.choices)
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    charged_address = serializers.CharField()
    cost = Amount(help_text="Total in the payment type's unit: tokens (hold), tokens per second "
                            "(superfluid) or credits per second (credit).")
    cost_per_hour = Amount(allow_null=True, help_text="Per hour for credit and stream; null for "
                                                      "hold.")
    cost_per_day = Amount(allow_null=True, help_text="Per day for credit and stream; null for "
                                                     "hold.")
    required_balance = Amount(allow_null=True, help_text="What the account needs now: the hold "
                              "cost (tokens) or one day of credit (credits); null for stream.")
    pricing_version = PricingVersionRefSerializer()
    detail = CostRowSerializer(many=True)


# --- the network-compatible v0 estimate -------------------------------------------------------

class NetworkMessageSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=MessageType.choices)
    item_hash = serializers.CharField(required=False, max_length=128)
    item_type = serializers.ChoiceField(choices=["inline", "storage", "ipfs"], required=False)
    item_content = serializers.CharField(
        required=False, help_text="The content as a JSON string (inline); the body limit bounds "
                                  "its length.")
    content = serializers.DictField(required=False, help_text="The content as an object.")


class NetworkEstimateRequestSerializer(serializers.Serializer):
    message = NetworkMessageSerializer()


class NetworkCostRowSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CostRowType.choices)
    name = serializers.CharField()
    cost_hold = Amount()
    cost_stream = Amount()
    cost_credit = Amount()
    size_mib = serializers.DecimalField(max_digits=38, decimal_places=20, allow_null=True,
                                        coerce_to_string=False)


class NetworkEstimateResponseSerializer(serializers.Serializer):
    required_tokens = serializers.DecimalField(
        max_digits=38, decimal_places=18, coerce_to_string=False,
        help_text="The total as a JSON number, as the network answers (exact digits).")
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    cost = Amount()
    detail = NetworkCostRowSerializer(many=True)
    charged_address = serializers.CharField()


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
