"""Request validation and answer shapes of the estimate endpoints (v1 and the network-compatible
v0). Amounts are decimal strings, except the JSON numbers of the network's own v0 answer; cost
rows are written as `pricing.serializers` writes them for every answer."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from aleph_message.models import Chain, ItemType
from pydantic import BaseModel, ConfigDict
from rest_framework import serializers

from pricing.enums import MessageType, PaymentType, ProductType
from pricing.serializers import (
    Amount,
    CostRowSerializer,
    ErrorBodySerializer,
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
    payment_type_accepted = serializers.BooleanField(
        help_text="Whether registration accepts this payment type for this product now. "
                  "Estimates price every payment type, as the network's do; a payment rule of "
                  "the version (e.g. hold and stream refused for instances after a date) makes "
                  "registration refuse it.")
    payment_refusal = ErrorBodySerializer(
        required=False, help_text="Only when not accepted: the refusal registration would "
        "answer (code `payment_type_not_accepted`, the message naming the rule and its date, "
        "details `rule`, `product_type`, `payment_type`, `not_accepted_from`, "
        "`accepted_payment_types`).")


# --- the network-compatible v0 ------------------------------------------------------------------

# The network's limit on an inline `item_content`, in characters (pyaleph's MAX_INLINE_SIZE).
MAX_INLINE_SIZE = 200_000


class NetworkMessageSerializer(serializers.Serializer):
    """Documents the message of a v0 estimate; `NetworkMessage` checks it as the node does."""

    type = serializers.ChoiceField(choices=MessageType.choices)
    item_hash = serializers.CharField(
        required=False, max_length=128,
        help_text="Required with `item_content`, and then its SHA-256 (hex), as the network "
                  "checks it; optional with `content`. The ref of a STORE's cost row.")
    item_type = serializers.ChoiceField(
        choices=["inline", "storage", "ipfs"], required=False,
        help_text="`inline` when `item_content` is given (the default then); a storage or ipfs "
                  "message has no `item_content`.")
    item_content = serializers.CharField(
        required=False, max_length=MAX_INLINE_SIZE,
        help_text="The content as a JSON string (an inline message, as the network's SDK sends "
                  "it). When present it is the content: a `content` beside it is ignored, as "
                  "the network ignores it.")
    content = serializers.DictField(
        required=False, help_text="The content as an object, used only when there is no "
                                  "`item_content` (this service cannot fetch stored contents).")


class NetworkEstimateRequestSerializer(serializers.Serializer):
    message = NetworkMessageSerializer()


class NetworkMessage(BaseModel):
    """The message of a v0 estimate with the field types of the network node's own model
    (pyaleph's `AlephBaseMessage`), so a field the node refuses is refused here too; unknown
    fields are ignored as the node ignores them. `content` is anything: with `item_content`
    the node never reads it."""

    model_config = ConfigDict(extra="ignore")

    type: str
    item_hash: Optional[str] = None
    item_type: Optional[ItemType] = None
    item_content: Optional[str] = None
    content: Any = None
    sender: Optional[str] = None
    chain: Optional[Chain] = None
    signature: Optional[str] = None
    time: Optional[datetime] = None
    channel: Optional[str] = None


class NetworkEstimateResponseSerializer(serializers.Serializer):
    required_tokens = serializers.DecimalField(
        max_digits=38, decimal_places=18, coerce_to_string=False,
        help_text="The total as a JSON number, as the network answers (exact digits).")
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    cost = Amount()
    detail = NetworkCostRowSerializer(many=True)
    charged_address = serializers.CharField()
