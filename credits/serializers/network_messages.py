"""Request validation and answer shapes of the network's v0 message endpoints (aleph-im/pyaleph's
`price/{item_hash}`, `messages/{item_hash}/status`, `messages/{item_hash}/consumed_credits` and
`costs`). The `costs` query is read by the network's own rules (a pydantic model like its
`GetCostsQueryParams`), so the same query is accepted or refused, with the same 422 body; the
DRF serializers document the JSON answers."""
from __future__ import annotations

from typing import Optional

from aleph_message.models import PaymentType as NetworkPaymentType
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from pydantic import BaseModel, Field
from rest_framework import serializers

from pricing.enums import PaymentType
from pricing.serializers import Amount, NetworkCostRowSerializer

from ..models import ResourceStatus

# The network's bounds of a `costs` page (GetCostsQueryParams).
COSTS_PAGE_SIZE_DEFAULT = 100
COSTS_PAGE_SIZE_MIN = 10
COSTS_PAGE_SIZE_MAX = 1000
# What pydantic reads as a boolean in a query string, in any case (its `bool` parsing).
_BOOLEAN_WORDS = ("0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes")
BOOLEAN_PATTERN = "^(?:{})$".format("|".join(
    "".join(f"[{char}{char.upper()}]" if char.isalpha() else char for char in word)
    for word in _BOOLEAN_WORDS))
# An item hash as the network's ItemHash reads it: 64 lowercase hex digits, or an IPFS CID.
ITEM_HASH_PATTERN = r"^(?:[0-9a-f]{64}|Qm[1-9A-HJ-NP-Za-km-z]{42,44}|bafy[a-z2-7]{55})$"


# --- requests ----------------------------------------------------------------------------------

class NetworkCostsQuery(BaseModel):
    """The query of `GET /api/v0/costs`, read as the network reads it: any text for `address`
    and `item_hash` (an empty one filters nothing), `payment_type` credit unless told,
    `include_details` 0 to 2, `pagination` 10 to 1000, `page` from 1; unknown parameters are
    ignored. A refusal is the network's 422 with pydantic's errors as its text."""

    address: Optional[str] = None
    item_hash: Optional[str] = None
    payment_type: NetworkPaymentType = NetworkPaymentType.credit
    include_details: int = Field(default=0, ge=0, le=2)
    include_size: bool = False
    pagination: int = Field(default=COSTS_PAGE_SIZE_DEFAULT, ge=COSTS_PAGE_SIZE_MIN,
                            le=COSTS_PAGE_SIZE_MAX)
    page: int = Field(default=1, ge=1)


COSTS_QUERY_PARAMETERS = [
    OpenApiParameter("address", OpenApiTypes.STR, description="Only this owner's resources (EVM "
                     "addresses in any case). Empty: no filter."),
    OpenApiParameter("item_hash", OpenApiTypes.STR, description="Only this resource. Empty: "
                     "no filter."),
    OpenApiParameter("payment_type", OpenApiTypes.STR, enum=PaymentType.values,
                     default=PaymentType.CREDIT.value,
                     description="Only resources paid this way (credit when absent)."),
    OpenApiParameter("include_details", {"type": "integer", "minimum": 0, "maximum": 2},
                     default=0, description="0: the summary; 1: and a page of resources; 2: and "
                     "each resource's cost rows (needs `address` or `item_hash`)."),
    OpenApiParameter("include_size", {"type": "string", "pattern": BOOLEAN_PATTERN},
                     default="false", description="With include_details=2: the rows' "
                     "`size_mib` (null otherwise). A boolean as the network reads one: true, "
                     "false, 1, 0, yes, no, on, off, t, f, y, n, in any case."),
    OpenApiParameter("pagination", {"type": "integer", "minimum": COSTS_PAGE_SIZE_MIN,
                                    "maximum": COSTS_PAGE_SIZE_MAX},
                     default=COSTS_PAGE_SIZE_DEFAULT, description="Resources per page."),
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, default=1,
                     description="The page, from 1."),
]


# --- answers -----------------------------------------------------------------------------------

class NetworkMessageStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ResourceStatus.choices,
                                     help_text="The network's message status.")
    item_hash = serializers.CharField()
    reception_time = serializers.DateTimeField(help_text="When the resource was registered "
                                                         "here (UTC).")


class NetworkConsumedCreditsSerializer(serializers.Serializer):
    item_hash = serializers.CharField()
    consumed_credits = serializers.IntegerField(
        help_text="Whole credits drained from the owner for this resource: its metered hours "
                  "and the expenses posted against it. 0 for an item nothing was charged for.")


class NetworkCostsSummarySerializer(serializers.Serializer):
    total_consumed_credits = serializers.IntegerField(
        help_text="Credits consumed by the account (address), the resource (item_hash), or "
                  "everyone; any status and any payment type, as the network counts them.")
    total_cost_hold = Amount(help_text="Sum of the hold column of the matching resources.")
    total_cost_stream = Amount(help_text="Sum of the stream column (tokens per second).")
    total_cost_credit = Amount(help_text="Sum of the credit column (credits per second).")
    resource_count = serializers.IntegerField(help_text="Matching resources (processed or "
                                                        "removing).")


class NetworkCostsFiltersSerializer(serializers.Serializer):
    address = serializers.CharField(allow_null=True, help_text="As given.")
    item_hash = serializers.CharField(allow_null=True, help_text="As given.")
    payment_type = serializers.ChoiceField(choices=PaymentType.choices, allow_null=True)


class NetworkCostResourceSerializer(serializers.Serializer):
    item_hash = serializers.CharField()
    owner = serializers.CharField()
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    consumed_credits = serializers.IntegerField()
    cost_hold = Amount()
    cost_stream = Amount(help_text="Tokens per second.")
    cost_credit = Amount(help_text="Credits per second.")
    detail = NetworkCostRowSerializer(many=True, allow_null=True,
                                      help_text="The cost rows with include_details=2, else "
                                                "null.")


class NetworkCostsResponseSerializer(serializers.Serializer):
    summary = NetworkCostsSummarySerializer()
    filters = NetworkCostsFiltersSerializer()
    resources = NetworkCostResourceSerializer(many=True, allow_null=True,
                                              help_text="With include_details ≥ 1, ordered by "
                                                        "item hash; else null.")
    pagination_page = serializers.IntegerField(allow_null=True)
    pagination_total = serializers.IntegerField(allow_null=True)
    pagination_per_page = serializers.IntegerField(allow_null=True)
    pagination_item = serializers.CharField(allow_null=True)
