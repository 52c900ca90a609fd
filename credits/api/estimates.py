"""Estimates: the v1 estimate and the network-compatible v0 ones (`price/estimate` for a message,
`price/estimate/instance` for an instance content). Thin views over
`credits.selectors.estimates.content_estimate`, which prices as registration does. Anyone may
call them (throttled). Amounts are strings with 18 decimals, except where the network's own v0
answer has a JSON number.
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pydantic
import simplejson
from aleph_message.exceptions import UnknownHashError
from aleph_message.models import ItemType
from aleph_message.models import MessageType as NetworkMessageType
from django.conf import settings
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from credits_project.api import ApiError, json_depth_exceeds, refuse_unstorable_text
from credits_project.throttles import EstimateThrottle
from pricing.costs import CostBreakdown, format_amount, format_amount_or_none
from pricing.enums import MessageType, PaymentType
from pricing.estimates import Estimate
from pricing.selectors import payment_type_acceptance
from pricing.serializers import (
    ErrorSerializer,
    cost_row_payload,
    network_cost_row_payload,
    pricing_version_ref,
)

from ..errors import ContentRefused, PaymentTypeNotAccepted
from ..funding import hourly_charge
from ..selectors.estimates import content_estimate
from ..serializers.estimates import (
    MAX_INLINE_SIZE,
    EstimateRequestSerializer,
    EstimateResponseSerializer,
    NetworkEstimateRequestSerializer,
    NetworkEstimateResponseSerializer,
    NetworkMessage,
)
from .common import NetworkTextResponse, error_doc, text_doc

_ERRORS = {
    400: error_doc("Malformed body (not JSON, wrong types)."),
    413: error_doc("Body too large."),
    415: error_doc("Body is not application/json."),
    422: error_doc("Content invalid or not priceable "
                                                      "(e.g. unknown GPU device)."),
    429: error_doc("Throttled."),
    503: error_doc("No pricing version in force."),
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
        acceptance = payment_type_acceptance(
            version=estimate.version, product_type=breakdown.product_type,
            payment_type=breakdown.payment_type, at=timezone.now())
        refusal = ({"payment_refusal": PaymentTypeNotAccepted(acceptance.refusal).error_fields()}
                   if acceptance.refusal else {})
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
            "payment_type_accepted": acceptance.accepted,
            **refusal,
        })


# --- the network's v0 estimates ------------------------------------------------------------------
#
# They answer what the network's node answers: where the node refuses a request with a 4xx, the
# same status and the same plain-text body; where it fails (a 5xx) or has no such refusal (a file
# of unknown size, which it prices at nothing), this service's 4xx in its JSON error shape.

# The node's whole body for any estimate message it refuses: str() of its InvalidMessageFormat.
_INVALID_MESSAGE_FORMAT = "InvalidMessageFormat"
# The message types the network knows (the node answers 422 for any other type).
_NETWORK_MESSAGE_TYPES = frozenset(member.value for member in NetworkMessageType)


class MessageRefused(Exception):
    """The node refuses this estimate message (its 422 `InvalidMessageFormat`); the exception's
    text says why, for whoever reads the code or a traceback."""


def _network_message(data) -> tuple[str, dict, str | None]:
    """Message type, content and item hash of a v0 estimate body, checked as the network's node
    checks them (pyaleph's `validate_cost_estimation_message_dict`): MessageRefused where the
    node refuses the message.

    `item_content` (the inline JSON string, the SDK's request) is the content whenever it is
    given, and any parsed `content` beside it is ignored, as the node ignores it. Without it,
    the node fetches the content from the network; this service cannot, so the message must
    carry `content` as an object instead (422 `invalid_content` without it), and its
    `item_hash`, the ref of a STORE's row, may be left out.
    """
    if not isinstance(data, dict):
        raise exceptions.ValidationError(
            {"non_field_errors": [f"Expected an object with a message, got "
                                  f"{type(data).__name__}."]})
    if "message" not in data:
        raise exceptions.ValidationError({"message": ["This field is required."]})
    if not isinstance(data["message"], dict):
        raise exceptions.ValidationError(
            {"message": [f"Expected an object, got {type(data['message']).__name__}."]})
    try:
        message = NetworkMessage.model_validate(data["message"])
    except pydantic.ValidationError as exc:
        raise MessageRefused(str(exc)) from exc
    if message.type not in _NETWORK_MESSAGE_TYPES:
        raise MessageRefused(f"Invalid message_type: {message.type!r}")
    if message.type not in _MESSAGE_TYPES:
        raise ApiError(status_code=422, code="invalid_message",
                       message=f"{message.type} messages are not priced here; expected one of "
                               f"{', '.join(sorted(_MESSAGE_TYPES))}.",
                       details={"type": message.type})
    if message.item_content is not None:
        return message.type, _inline_content(message), message.item_hash
    if message.item_type == ItemType.inline:
        raise MessageRefused("Item content not specified for inline item type")
    if message.item_hash is not None:  # optional here: the content comes with the message
        _require_stored_hash(message.item_hash, message.item_type)
    if message.content is None:
        raise ApiError(status_code=422, code="invalid_content",
                       message="message.content (an object) or an inline message.item_content "
                               "is required (stored contents cannot be fetched here).")
    if not isinstance(message.content, dict):
        raise MessageRefused("content is not an object")
    return message.type, message.content, message.item_hash


def _inline_content(message: NetworkMessage) -> Any:
    """The content of an inline message: its `item_content` parsed, checked against its
    `item_hash` (the SHA-256 of the string, as the network requires)."""
    if message.item_type not in (None, ItemType.inline):
        raise MessageRefused(f"{message.item_type.value} messages cannot define item_content")
    raw = message.item_content
    if len(raw) > MAX_INLINE_SIZE:
        raise MessageRefused("Message too long")
    try:
        content = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise MessageRefused(f"Message content is not valid JSON data: {exc}") from exc
    # What PostgreSQL could not hold is refused as the body's own parser refuses it (the node
    # fails on a NUL with a 500); an inner document is read here.
    if json_depth_exceeds(content, settings.API_MAX_JSON_DEPTH):
        raise ApiError(status_code=422, code="invalid_content",
                       message="message.item_content is nested too deeply.")
    refuse_unstorable_text(content, where="message.item_content", status_code=422,
                           code="invalid_content")
    if message.item_hash is None:
        raise MessageRefused("Could not determine item hash")
    computed = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    if message.item_hash != computed:
        raise MessageRefused(f"'item_hash' does not match 'sha256(item_content)', expecting "
                             f"{computed}")
    return content


def _require_stored_hash(item_hash: str, item_type: ItemType | None) -> None:
    """The hash of a stored (storage or IPFS) message, of the item type it names."""
    try:
        hash_type = ItemType.from_hash(item_hash)
    except UnknownHashError:
        raise MessageRefused(f"Unexpected hash type: {item_hash[:128]!r}") from None
    if item_type is not None and item_type != hash_type:
        raise MessageRefused(f"Expected {hash_type.value} based on hash but item type is "
                             f"{item_type.value}.")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


def _validation_text(refused: ContentRefused) -> str:
    """The node's 422 text for an instance content it refuses, pydantic's summary of the errors
    (`str(ValidationError)` of its CostEstimationInstanceContent), written from the errors this
    service's parser found."""
    errors = refused.details.get("errors") or []
    if not errors:
        return refused.message
    lines = [f"{len(errors)} validation error{'' if len(errors) == 1 else 's'} for "
             f"CostEstimationInstanceContent"]
    for error in errors:
        lines += [error["loc"] or "content", f"  {error['msg']} [type={error['type']}]"]
    return "\n".join(lines)


def _network_answer(estimate: Estimate) -> dict:
    """The network's answer to an estimate (pyaleph's `EstimatedCostsResponse`)."""
    breakdown = estimate.breakdown
    return {
        "required_tokens": breakdown.total,
        "payment_type": breakdown.payment_type,
        "cost": format_amount(breakdown.total),
        "detail": [network_cost_row_payload(row) for row in breakdown.rows],
        "charged_address": estimate.charged_address,
    }


_NETWORK_ERRORS = {
    (400, "application/json"): _ERRORS[400],
    (413, "application/json"): _ERRORS[413],
    (415, "application/json"): _ERRORS[415],
    (429, "application/json"): _ERRORS[429],
    (503, "application/json"): _ERRORS[503],
}
_PRICING_ERRORS = (
    "cannot be priced: `unknown_volume_size` (a file neither estimated nor registered, which "
    "the node would price at nothing), `unknown_gpu_device`, `gpu_model_not_priced`, "
    "`product_not_priced`, `cost_out_of_range` (the node fails with a 500)")


class NetworkEstimateView(APIView):
    """The network's own estimate endpoint, so existing clients (its SDK) can point here."""

    throttle_classes = [EstimateThrottle]
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        summary="Estimate a message in the network's own request and answer shape",
        description="The network's `POST /api/v0/price/estimate`, as its Python SDK calls it "
                    "(`AlephHttpClient.get_estimated_price`). Body `{\"message\": {\"type\", "
                    "\"item_hash\", \"item_type\": \"inline\", \"item_content\", ...}}`: the "
                    "inline `item_content` (a JSON string whose SHA-256 is `item_hash`) is the "
                    "content, and a parsed `content` sent beside it is ignored, as the network "
                    "ignores it. Without `item_content` (a storage or IPFS message, whose "
                    "content a node would fetch), `content` (an object) is priced. "
                    "`estimated_size_mib` is allowed where a file size is needed; program "
                    "code, runtime and data and immutable volumes without it are sized from "
                    "the STORE resource registered under their `ref`, as a node sizes them "
                    "from its files; a STORE paid by credit is priced for at least 25 MiB.\n\n"
                    "Answer: `required_tokens` (a JSON number with all its digits), "
                    "`payment_type`, `cost`, `detail` (rows with `size_mib` a number), "
                    "`charged_address`. A message the network refuses is its 422 with its "
                    "plain-text body `InvalidMessageFormat`; where the node would fail with "
                    "a 5xx this service answers a 4xx in its JSON error shape.",
        request=NetworkEstimateRequestSerializer,
        responses={
            200: NetworkEstimateResponseSerializer,
            (422, "text/plain"): text_doc(
                "`InvalidMessageFormat`, the network's refusal of a message: a type that is "
                "no message type, a missing or wrong `item_hash` (not the SHA-256 of "
                "`item_content`), `item_content` with a storage or IPFS `item_type` or longer "
                "than 200000 characters or not JSON, a wrongly typed field, a content that "
                "is not a valid content of its type."),
            (422, "application/json"): OpenApiResponse(
                ErrorSerializer, description="`invalid_message`: a message type the network "
                "knows but this service does not price (POST, AGGREGATE, FORGET, V-PROGRAM); "
                "`invalid_content`: no content to price (a stored message without `content`) "
                "or text that cannot be stored; or the content " + _PRICING_ERRORS + "."),
            **_NETWORK_ERRORS,
        },
    )
    def post(self, request):
        try:
            message_type, content, item_hash = _network_message(request.data)
            estimate = content_estimate(message_type=message_type, content=content,
                                        item_hash=item_hash).estimate
        except (MessageRefused, ContentRefused):
            return NetworkTextResponse(_INVALID_MESSAGE_FORMAT, status=422)
        return Response(_network_answer(estimate))


class NetworkInstanceEstimateView(APIView):
    """The network's estimate of an instance from its content alone (no message around it)."""

    throttle_classes = [EstimateThrottle]
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        summary="Estimate an instance from its content, in the network's shape",
        description="The network's `POST /api/v0/price/estimate/instance`: the body is an "
                    "INSTANCE content itself (as in a message, with `time` and `allow_amend` "
                    "optional and `estimated_size_mib` allowed on immutable volumes), not a "
                    "message. The answer is the one of `POST /api/v0/price/estimate`; so are "
                    "the sizes of referenced files. As on the node, a body that is not JSON is "
                    "a 400 `400: Invalid JSON body` and a content that is not a valid instance "
                    "content a 422 listing pydantic's errors, both in plain text.",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: NetworkEstimateResponseSerializer,
            (400, "text/plain"): text_doc("`400: Invalid JSON body`: the body is empty or not "
                                       "JSON."),
            (422, "text/plain"): text_doc("`<n> validation error(s) for "
                                       "CostEstimationInstanceContent` and each error: not a "
                                       "valid instance content."),
            (422, "application/json"): OpenApiResponse(
                ErrorSerializer, description="The content " + _PRICING_ERRORS + "."),
            **_NETWORK_ERRORS,
        },
    )
    def post(self, request):
        try:
            content = request.data
        except exceptions.ParseError:
            return NetworkTextResponse("400: Invalid JSON body", status=400)
        if request.stream is None:  # no body at all: not JSON for the node either
            return NetworkTextResponse("400: Invalid JSON body", status=400)
        try:
            estimate = content_estimate(message_type=MessageType.INSTANCE,
                                        content=content).estimate
        except ContentRefused as refused:
            return NetworkTextResponse(_validation_text(refused), status=422)
        return Response(_network_answer(estimate))


# Routes under /api/v0/ (credits/urls.py adds them).
v0_urls: list[URLPattern] = [
    path("price/estimate", NetworkEstimateView.as_view(), name="v0-price-estimate"),
    path("price/estimate/instance", NetworkInstanceEstimateView.as_view(),
         name="v0-price-estimate-instance"),
]
