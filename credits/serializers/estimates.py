"""Request validation and answer shapes of the estimate endpoints (v1 and the network-compatible
v0). Amounts are decimal strings, except the JSON numbers of the network's own v0 answer; cost
rows are written as `pricing.serializers` writes them for every answer."""
from rest_framework import serializers

from pricing.enums import MessageType, PaymentType, ProductType
from pricing.serializers import (
    Amount,
    CostRowSerializer,
    NetworkCostRowSerializer,
    PricingVersionRefSerializer,
)

from .ledger import Credits

# --- v1 ----------------------------------------------------------------------------------------

class EstimateRequestSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=MessageType.choices,
                                   help_text="The Aleph message type.")
    content = serializers.DictField(
        help_text="The message content as posted to the network (aleph-message models), with "
                  "`estimated_size_mib` allowed on program code/runtime/data, immutable volumes "
                  "and STORE where a file size is needed.")


class EstimateResponseSerializer(serializers.Serializer):
    product_type = serializers.ChoiceField(choices=ProductType.choices)
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    charged_address = serializers.CharField()
    cost = Amount(help_text="Total in the payment type's unit: tokens (hold), tokens per second "
                            "(superfluid) or credits per second (credit).")
    cost_per_hour = Amount(allow_null=True, help_text="Per hour for credit and stream, exact: "
                           "the per-second rate (floored to 18 decimals, as the network floors "
                           "it) times 3600, so a hair under the price list's hourly price "
                           "(14249.999999999999998800 for 14250); null for hold.")
    credits_charged_per_hour = Credits(
        allow_null=True, help_text="Credit only: the whole credits metering takes for each hour "
        "the resource runs, `cost_per_hour` rounded half-up (14250 for the rate above); null "
        "for hold and stream, which metering does not charge.")
    cost_per_day = Amount(allow_null=True, help_text="Per day for credit and stream; null for "
                                                     "hold.")
    required_balance = Amount(allow_null=True, help_text="What the account needs now: the hold "
                              "cost (tokens) or one funding horizon of credit (credits; the "
                              "lifecycle's setting, a day by default); null for stream.")
    pricing_version = PricingVersionRefSerializer()
    detail = CostRowSerializer(many=True)


# --- the network-compatible v0 ------------------------------------------------------------------

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


class NetworkEstimateResponseSerializer(serializers.Serializer):
    required_tokens = serializers.DecimalField(
        max_digits=38, decimal_places=18, coerce_to_string=False,
        help_text="The total as a JSON number, as the network answers (exact digits).")
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    cost = Amount()
    detail = NetworkCostRowSerializer(many=True)
    charged_address = serializers.CharField()
