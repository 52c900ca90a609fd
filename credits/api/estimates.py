"""Estimates: the v1 estimate and the network-compatible v0 one. Thin views over
`credits.selectors.estimates.content_estimate`, which prices as registration does. Anyone may
call them (throttled). Amounts are strings with 18 decimals, except where the network's own v0
answer has a JSON number.
"""
from __future__ import annotations

import json
from decimal import Decimal

import simplejson
from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from credits_project.api import ApiError, json_depth_exceeds, refuse_unstorable_text
from credits_project.throttles import EstimateThrottle
from pricing.costs import CostBreakdown, format_amount, format_amount_or_none
from pricing.enums import MessageType, PaymentType
from pricing.serializers import (
    ErrorSerializer,
    cost_row_payload,
    network_cost_row_payload,
    pricing_version_ref,
)

from ..funding import hourly_charge
from ..selectors.estimates import content_estimate
from ..serializers.estimates import (
    EstimateRequestSerializer,
    EstimateResponseSerializer,
    NetworkEstimateRequestSerializer,
    NetworkEstimateResponseSerializer,
)

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Malformed body (not JSON, wrong types)."),
    413: OpenApiResponse(ErrorSerializer, description="Body too large."),
    415: OpenApiResponse(ErrorSerializer, description="Body is not application/json."),
    422: OpenApiResponse(ErrorSerializer, description="Content invalid or not priceable "
                                                      "(e.g. unknown GPU device)."),
    429: OpenApiResponse(ErrorSerializer, description="Throttled."),
    503: OpenApiResponse(ErrorSerializer, description="No pricing version in force."),
}
_MESSAGE_TYPES = frozenset(MessageType.values)


class ExactJSONRenderer(JSONRenderer):
    """Renders Decimal values as exact JSON numbers (the network's v0 answer has numbers)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return simplejson.dumps(data, use_decimal=True, separators=(",", ":")).encode()


def _estimate_body(data) -> tuple[str, dict]:
    """`type` and `content` of an estimate body, checked as EstimateRequestSerializer documents
    them. Done by hand: estimates are the hot path and a serializer costs a deep copy of its
    fields per request."""
    if not isinstance(data, dict):
        raise exceptions.ValidationError(
            {"non_field_errors": [f"Expected an object with type and content, got "
                                  f"{type(data).__name__}."]})
    errors = {}
    message_type = data.get("type")
    if "type" not in data:
        errors["type"] = ["This field is required."]
    elif not isinstance(message_type, str) or message_type not in _MESSAGE_TYPES:
        errors["type"] = [f"{message_type!r} is not one of {', '.join(sorted(_MESSAGE_TYPES))}."]
    content = data.get("content")
    if "content" not in data:
        errors["content"] = ["This field is required."]
    elif not isinstance(content, dict):
        errors["content"] = [f"Expected an object, got {type(content).__name__}."]
    if errors:
        raise exceptions.ValidationError(errors)
    return message_type, content


def _credits_charged_per_hour(breakdown: CostBreakdown) -> str | None:
    """What metering takes for one hour of a credit-paid resource, in whole credits (the
    lifecycle's one rule); None for hold and stream, which metering does not charge."""
    if breakdown.payment_type != PaymentType.CREDIT:
        return None
    return str(hourly_charge(breakdown.credit_per_second))


class EstimateView(APIView):
    throttle_classes = [EstimateThrottle]

    @extend_schema(
        summary="Estimate the cost of a resource",
        description="No account needed. Costs are computed with the pricing version in force, "
                    "exactly as the network computes them (18 decimals), and as registration "
                    "computes them: a referenced file without `estimated_size_mib` is sized "
                    "from its registered STORE resource.\n\n"
                    "`cost_per_hour` is the exact rate: the per-second rate, floored to 18 "
                    "decimals as the network floors it, times 3600, so it is a hair under the "
                    "price list's hourly price (14249.999999999999998800 for 14250). "
                    "`credits_charged_per_hour` is what metering takes for each hour of a "
                    "credit-paid resource: that exact hour rounded half-up to whole credits "
                    "(14250).",
        request=EstimateRequestSerializer,
        responses={200: EstimateResponseSerializer, **_ERRORS},
    )
    def post(self, request):
        message_type, content = _estimate_body(request.data)
        result = content_estimate(message_type=message_type, content=content)
        estimate = result.estimate
        breakdown = estimate.breakdown
        return Response({
            "product_type": breakdown.product_type,
            "payment_type": breakdown.payment_type,
            "charged_address": estimate.charged_address,
            "cost": format_amount(breakdown.total),
            "cost_per_hour": format_amount_or_none(estimate.cost_per_hour),
            "credits_charged_per_hour": _credits_charged_per_hour(breakdown),
            "cost_per_day": format_amount_or_none(estimate.cost_per_day),
            "required_balance": format_amount_or_none(result.required_balance),
            "pricing_version": pricing_version_ref(estimate.version),
            "detail": [cost_row_payload(row) for row in breakdown.rows],
        })


def _inline_content(message: dict):
    """The content of a network message: `content`, or `item_content` (a JSON string)."""
    if "content" in message:
        return message["content"]
    raw = message.get("item_content")
    if raw is None:
        raise ApiError(status_code=422, code="invalid_content",
                       message="message.content or an inline message.item_content is required "
                               "(stored contents cannot be fetched here).")
    try:
        content = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise ApiError(status_code=422, code="invalid_content",
                       message=f"message.item_content is not valid JSON: {exc}.") from exc
    if json_depth_exceeds(content, settings.API_MAX_JSON_DEPTH):
        raise ApiError(status_code=422, code="invalid_content",
                       message="message.item_content is nested too deeply.")
    # The body's parser refuses these in the body itself; an inner document is read here.
    refuse_unstorable_text(content, where="message.item_content", status_code=422,
                           code="invalid_content")
    return content


class NetworkEstimateView(APIView):
    """The network's own estimate endpoint, so existing clients can point here."""

    throttle_classes = [EstimateThrottle]
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        summary="Estimate in the network's own request and answer shape",
        description="Body `{\"message\": {\"type\", \"content\" | \"item_content\", "
                    "\"item_hash\"?}}`; answer `required_tokens` (a JSON number), "
                    "`payment_type`, `cost`, `charged_address`, `detail`.",
        request=NetworkEstimateRequestSerializer,
        responses={200: NetworkEstimateResponseSerializer, **_ERRORS},
    )
    def post(self, request):
        body = NetworkEstimateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = body.validated_data["message"]
        estimate = content_estimate(message_type=message["type"],
                                    content=_inline_content(message),
                                    item_hash=message.get("item_hash")).estimate
        breakdown = estimate.breakdown
        return Response({
            "required_tokens": breakdown.total,
            "payment_type": breakdown.payment_type,
            "cost": format_amount(breakdown.total),
            "detail": [network_cost_row_payload(row) for row in breakdown.rows],
            "charged_address": estimate.charged_address,
        })
