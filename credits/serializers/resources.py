"""Request validation and answer shapes of the resources, affordability, token balance and costs
endpoints. Amounts are decimal strings, never floats."""
import re
from decimal import Decimal

from aleph_message.exceptions import UnknownHashError
from aleph_message.models.item_hash import ItemType
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pricing.enums import MessageType, PaymentType, ProductType
from pricing.serializers import Amount, CostRowSerializer, ErrorBodySerializer

from ..addresses import InvalidAddress, normalize_address
from ..models import RemovalReason, ResourceStatus
from ..services.token_balances import (
    MAX_HEIGHT,
    MAX_TOKEN_BALANCE,
    TOKEN_BALANCE_DECIMALS,
    TOKEN_BALANCE_INTEGER_DIGITS,
)
from .estimates import EstimateRequestSerializer

ITEM_HASH_MAX_LENGTH = 128
# The digits the token balance column holds (see MAX_TOKEN_BALANCE); no sign, no exponent, no
# spaces.
TOKEN_BALANCE_PATTERN = re.compile(
    rf"(0|[1-9][0-9]{{0,{TOKEN_BALANCE_INTEGER_DIGITS - 1}}})"
    rf"(\.[0-9]{{1,{TOKEN_BALANCE_DECIMALS}}})?")


class ItemHashField(serializers.CharField):
    """An Aleph item hash: 64 lowercase hex digits (storage) or an IPFS CID (Qm…, bafy…)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", ITEM_HASH_MAX_LENGTH)
        kwargs.setdefault("help_text", "64 lowercase hex digits, or an IPFS CID (Qm…, bafy…).")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("An item hash must be a string.")
        value = super().to_internal_value(data)
        try:
            ItemType.from_hash(value)
        except UnknownHashError:
            raise serializers.ValidationError(
                "Not an item hash: 64 lowercase hex digits or an IPFS CID expected.") from None
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no string, no boolean, no number with a fraction (not even 12.0)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("A JSON integer is required.")
        return super().to_internal_value(data)


@extend_schema_field({
    "type": "string", "pattern": f"^{TOKEN_BALANCE_PATTERN.pattern}$",
    "description": f"Tokens as a decimal string: 0 to {MAX_TOKEN_BALANCE}, at most "
                   f"{TOKEN_BALANCE_DECIMALS} decimals, e.g. \"1500.25\".",
    "example": "1500.25",
})
class TokenAmountField(serializers.CharField):
    """A token amount as a decimal string, within the one range of MAX_TOKEN_BALANCE."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("A decimal string is required (not a number).")
        # The pattern's digits are the range's (nothing above MAX_TOKEN_BALANCE matches), and it
        # bounds the length, so Decimal() never reads a huge string. The service checks the
        # range itself for its other callers.
        if not TOKEN_BALANCE_PATTERN.fullmatch(data):
            raise serializers.ValidationError(
                f"A decimal string of 0 to {MAX_TOKEN_BALANCE} with at most "
                f"{TOKEN_BALANCE_DECIMALS} decimals is required.")
        return Decimal(data)


# --- requests ----------------------------------------------------------------------------------

class ResourceRegisterRequestSerializer(serializers.Serializer):
    item_hash = ItemHashField()
    type = serializers.ChoiceField(choices=MessageType.choices, help_text="The message type.")
    content = serializers.DictField(
        help_text="The message content exactly as posted to the network (aleph-message models); "
                  "its `address` is the owner, whose API key must make the request.")


class AffordabilityRequestSerializer(EstimateRequestSerializer):
    """The body of an estimate; the content's address is not used (the URL's account is)."""


class TokenBalanceRequestSerializer(serializers.Serializer):
    balance = TokenAmountField()
    height = StrictIntegerField(min_value=0, max_value=MAX_HEIGHT,
                                help_text=f"Block height of the reported balance, 0 to "
                                          f"{MAX_HEIGHT}: far above any chain's height, so a "
                                          f"wrong one cannot pin the balance forever.")


class CostsQuerySerializer(serializers.Serializer):
    address = serializers.CharField(required=False, max_length=128,
                                    help_text="Only this owner's resources.")
    item_hash = ItemHashField(required=False)
    payment_type = serializers.ChoiceField(choices=PaymentType.choices, required=False)

    def validate_address(self, value: str) -> str:
        try:
            return normalize_address(value)
        except InvalidAddress as exc:
            raise serializers.ValidationError(str(exc)) from exc


# --- answers -----------------------------------------------------------------------------------

class ResourceCostsSerializer(serializers.Serializer):
    cost_hold = Amount(help_text="Tokens locked while the resource lives.")
    cost_stream_per_second = Amount(help_text="Tokens per second.")
    cost_credit_per_second = Amount(help_text="Credits per second.")
    cost_credit_per_hour = Amount(help_text="Credits per hour (cost_credit_per_second × 3600).")
    cost_credit_per_day = Amount(help_text="Credits per day (cost_credit_per_second × 86400).")


class ResourceSerializer(serializers.Serializer):
    item_hash = serializers.CharField()
    type = serializers.ChoiceField(choices=MessageType.choices)
    owner = serializers.CharField(help_text="The owner's address (content.address).")
    status = serializers.ChoiceField(choices=ResourceStatus.choices)
    removal_reason = serializers.ChoiceField(choices=RemovalReason.choices, allow_null=True)
    removing_since = serializers.DateTimeField(allow_null=True)
    delete_after = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True,
                                         help_text="When it was removed or forgotten.")
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    payment_chain = serializers.CharField(allow_blank=True)
    product_type = serializers.ChoiceField(choices=ProductType.choices)
    pricing_version = serializers.IntegerField(help_text="Id of the pricing version the costs "
                                                         "were computed with.")
    size_mib = serializers.CharField(allow_null=True, help_text="STORE: the file's size in MiB.")
    costs = ResourceCostsSerializer()
    rows = CostRowSerializer(many=True)


class AffordabilityResponseSerializer(serializers.Serializer):
    affordable = serializers.BooleanField()
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    required = Amount(help_text="Credit: credits for one day of the account's credit-paid "
                                "resources with this one. Hold: tokens for the hold costs of its "
                                "resources on the payment chain with this one. Stream: 0.")
    available = Amount(help_text="Credit: the account's credits now. Hold: its token balance on "
                                 "the chain. Stream: 0.")
    shortfall = Amount(help_text="max(0, required − available).")
    refusal = ErrorBodySerializer(
        required=False,
        help_text="Only when a payment rule refuses the payment type for this product: what "
                  "registration would answer (code `payment_type_not_accepted`, the message, "
                  "and details `rule`, `product_type`, `payment_type`, `not_accepted_from`, "
                  "`accepted_payment_types`). `affordable` is then false.")


class TokenBalanceResponseSerializer(serializers.Serializer):
    address = serializers.CharField()
    chain = serializers.CharField()
    balance = Amount(help_text="Tokens.")
    height = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class CostTotalsSerializer(serializers.Serializer):
    hold = Amount(help_text="Tokens locked by hold-paid resources.")
    superfluid = Amount(help_text="Tokens per second streamed by superfluid-paid resources.")
    credit = Amount(help_text="Credits per second of credit-paid resources.")


class CostsResponseSerializer(serializers.Serializer):
    totals = CostTotalsSerializer()
    resource_count = serializers.IntegerField(help_text="Resources in processed or removing.")
