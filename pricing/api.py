"""Pricing endpoints: the version in force, estimates, and the network-compatible v0 estimate.

Thin views: validate the body, call `estimate_compute`, shape the answer. Amounts are strings
with 18 decimals, except where the network's own v0 answer has a JSON number.
"""
from __future__ import annotations

import json
import time
from decimal import Decimal

import simplejson
from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from credits_project.api import ApiError, json_depth_exceeds, refuse_unstorable_text

from .content import ContentInvalid
from .costs import CostBreakdown, CostError, PricingTable, Rates, format_amount
from .estimates import Estimate, estimate_compute
from .enums import MessageType
from .models import PricingVersion
from .selectors import pricing_in_force
from .serializers import (
    ErrorSerializer,
    EstimateRequestSerializer,
    EstimateResponseSerializer,
    HealthSerializer,
    NetworkEstimateRequestSerializer,
    NetworkEstimateResponseSerializer,
    PricingResponseSerializer,
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


class EstimateThrottle(BaseThrottle):
    """Per-client limit on estimates (by API key when one is sent, else by client address: DRF's
    `get_ident`, which trusts as many X-Forwarded-For hops as NUM_PROXIES, set from
    TRUSTED_PROXY_COUNT; none by default).

    A fixed window counted with one atomic cache increment: constant cost per request whatever
    the rate (DRF's sliding window pickles a list of every request in the window), and no
    read-modify-write race between processes sharing a Redis cache.
    """

    scope = "estimates"

    def __init__(self):
        self.wait_seconds: float | None = None

    @staticmethod
    def rate() -> tuple[int, int] | None:
        rate = settings.ESTIMATE_THROTTLE_RATE
        if rate in (None, "", "off", "none"):
            return None
        count, _, period = rate.partition("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[:1]]
        return int(count), seconds

    def allow_request(self, request, view):
        rate = self.rate()
        if rate is None:
            return True
        limit, window_seconds = rate
        now = time.time()
        window = int(now // window_seconds)
        api_key_prefix = getattr(request.auth, "prefix", None)
        ident = f"key:{api_key_prefix}" if api_key_prefix else self.get_ident(request)
        key = f"throttle:{self.scope}:{ident}:{window_seconds}:{window}"
        # add() is a no-op when the window's counter exists; incr() is atomic on Redis.
        cache.add(key, 0, timeout=window_seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.set(key, 1, timeout=window_seconds + 1)
            count = 1
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * window_seconds - now
        return False

    def wait(self):
        return self.wait_seconds


class ExactJSONRenderer(JSONRenderer):
    """Renders Decimal values as exact JSON numbers (the network's v0 answer has numbers)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return simplejson.dumps(data, use_decimal=True, separators=(",", ":")).encode()


def _version_ref(version: PricingVersion) -> dict:
    return {"id": version.pk, "name": version.name,
            "effective_from": version.effective_from.isoformat()}


def _estimate_or_error(**kwargs) -> Estimate:
    try:
        return estimate_compute(**kwargs)
    except ContentInvalid as exc:
        raise ApiError(status_code=422, code="invalid_content", message=exc.message,
                       details={"errors": exc.errors}) from exc
    except CostError as exc:
        raise ApiError(status_code=422, code=exc.code, message=exc.message,
                       details=exc.details) from exc


def _optional_amount(value: Decimal | None) -> str | None:
    return None if value is None else format_amount(value)


def _rows(breakdown: CostBreakdown) -> list[dict]:
    return [
        {
            "type": row.type,
            "name": row.name,
            "ref": row.ref,
            "cost_hold": format_amount(row.cost_hold),
            "cost_stream": format_amount(row.cost_stream_per_second),
            "cost_credit": format_amount(row.cost_credit_per_second),
            "size_mib": None if row.size_mib is None else format(row.size_mib, "f"),
        }
        for row in breakdown.rows
    ]


class HealthView(APIView):
    """A trivial endpoint: liveness, and the baseline of the estimate benchmark."""

    @extend_schema(responses=HealthSerializer, summary="Liveness check")
    def get(self, request):
        return Response({"status": "ok"})


class PricingView(APIView):
    @extend_schema(
        summary="The pricing version in force",
        description="Products with their compute unit and prices (hold per CU or per MiB; PAYG "
                    "and credit per hour), tiers and the GPU catalogue.",
        responses={200: PricingResponseSerializer, 503: _ERRORS[503]},
    )
    def get(self, request):
        version, table = pricing_in_force()
        if table is None:
            raise ApiError(status_code=503, code="pricing_unavailable",
                           message="No pricing version is in force yet.")
        return Response(_pricing_payload(version, table))


def _cu_price(rates: Rates | None) -> dict | None:
    if rates is None:
        return None
    return {"hold": format_amount(rates.hold),
            "payg_per_hour": format_amount(rates.payg_per_hour),
            "credit_per_hour": format_amount(rates.credit_per_hour)}


def _pricing_payload(version: PricingVersion, table: PricingTable) -> dict:
    products = []
    for product_type in sorted(table.products):
        product = table.products[product_type]
        cu = product.compute_unit
        products.append({
            "product_type": product_type,
            "compute_unit": None if cu is None else {
                "vcpus": cu.vcpus, "memory_mib": cu.memory_mib, "disk_mib": cu.disk_mib},
            "price": {
                "compute_unit": _cu_price(product.compute_unit_price),
                "storage": {
                    "hold_per_mib": format_amount(product.storage.hold),
                    "payg_per_mib_hour": format_amount(product.storage.payg_per_hour),
                    "credit_per_mib_hour": format_amount(product.storage.credit_per_hour),
                },
                "fixed": _optional_amount(product.fixed_price),
            },
            "tiers": [{"id": t.id, "compute_units": t.compute_units, "model": t.model,
                       "vram_mib": t.vram_mib} for t in product.tiers],
        })
    return {
        "version": _version_ref(version),
        "products": products,
        "gpu_catalogue": [{"device_id": device_id, "model": model}
                          for device_id, model in sorted(table.gpu_models.items())],
    }


_MESSAGE_TYPES = frozenset(MessageType.values)


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


class EstimateView(APIView):
    throttle_classes = [EstimateThrottle]

    @extend_schema(
        summary="Estimate the cost of a resource",
        description="No account needed. Costs are computed with the pricing version in force, "
                    "exactly as the network computes them (18 decimals).",
        request=EstimateRequestSerializer,
        responses={200: EstimateResponseSerializer, **_ERRORS},
    )
    def post(self, request):
        message_type, content = _estimate_body(request.data)
        estimate = _estimate_or_error(message_type=message_type, content=content)
        breakdown = estimate.breakdown
        return Response({
            "product_type": breakdown.product_type,
            "payment_type": breakdown.payment_type,
            "charged_address": estimate.charged_address,
            "cost": format_amount(breakdown.total),
            "cost_per_hour": _optional_amount(estimate.cost_per_hour),
            "cost_per_day": _optional_amount(estimate.cost_per_day),
            "required_balance": _optional_amount(estimate.required_balance),
            "pricing_version": _version_ref(estimate.version),
            "detail": _rows(breakdown),
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
        estimate = _estimate_or_error(message_type=message["type"],
                                      content=_inline_content(message),
                                      item_hash=message.get("item_hash"))
        breakdown = estimate.breakdown
        total = breakdown.total
        return Response({
            "required_tokens": total,
            "payment_type": breakdown.payment_type,
            "cost": format_amount(total),
            "detail": [
                {"type": row.type, "name": row.name,
                 "cost_hold": format_amount(row.cost_hold),
                 "cost_stream": format_amount(row.cost_stream_per_second),
                 "cost_credit": format_amount(row.cost_credit_per_second),
                 "size_mib": row.size_mib}
                for row in breakdown.rows
            ],
            "charged_address": estimate.charged_address,
        }, status=status.HTTP_200_OK)
