"""The network's v0 API (aleph-im/pyaleph's shapes): prices, statuses, consumed credits and
costs of registered messages.

The network's own clients (its SDK, CLI and explorer) read these answers, so they are written as
a node writes them: its JSON shapes (amounts it writes as JSON numbers are written with all
their digits), and its plain-text errors with its status codes (400 for a malformed item hash,
404 for an unknown one, 410 for a forgotten or removed executable, 422 for a refused `costs`
query). A message this service cannot know (its full body, a POST or an AGGREGATE, an item hash
never registered here) is answered as the network answers an unknown one.
"""
from __future__ import annotations

from decimal import Decimal

from aleph_message.exceptions import UnknownHashError
from aleph_message.models.item_hash import ItemType
from django.urls import URLPattern, path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from pricing.costs import format_amount
from pricing.enums import MessageType, PaymentType
from pricing.serializers import network_cost_row_payload

from ..models import Resource, ResourceStatus
from ..selectors.network_messages import (
    NetworkCostsFilter,
    network_costs_page,
    network_costs_summary,
    resources_consumed_credits,
)
from ..selectors.resources import resource_get
from ..serializers.estimates import NetworkEstimateResponseSerializer
from ..serializers.network_accounts import network_instant
from ..serializers.network_messages import (
    COSTS_QUERY_PARAMETERS,
    ITEM_HASH_PATTERN,
    NetworkConsumedCreditsSerializer,
    NetworkCostsQuery,
    NetworkCostsResponseSerializer,
    NetworkMessageStatusSerializer,
)
from .common import (
    ACCOUNT_READ_ERRORS,
    ACCOUNT_READ_WHO,
    NETWORK_NOTE,
    AccountReader,
    AccountReadView,
    NetworkTextResponse,
    error_doc,
    query_first_values,
    require_account_reader,
    text_doc,
)
from .estimates import ExactJSONRenderer

# What aiohttp writes for a bare HTTPNotFound(): the network's answer for an unknown message.
_UNKNOWN_MESSAGE = "404: Not Found"
_ENDED = (ResourceStatus.FORGOTTEN, ResourceStatus.REMOVED)


def _is_item_hash(value: str) -> bool:
    """What the network's ItemHash accepts: 64 lowercase hex digits or an IPFS CID."""
    try:
        ItemType.from_hash(value)
    except UnknownHashError:
        return False
    return True


def _invalid_hash(item_hash: str) -> NetworkTextResponse:
    return NetworkTextResponse(f"Invalid message hash: {item_hash}", status=400)


def _required_tokens(resource: Resource) -> Decimal:
    """The resource's total in its payment type's unit, as stored at registration: tokens
    (hold), tokens per second (superfluid) or credits per second (credit)."""
    if resource.payment_type == PaymentType.CREDIT:
        return resource.cost_credit_per_second
    if resource.payment_type == PaymentType.SUPERFLUID:
        return resource.cost_stream_per_second
    return resource.cost_hold


def _cost_rows(resource: Resource, *, include_size: bool) -> list[dict]:
    """The resource's stored cost rows as the network writes them; `size_mib` null unless
    asked for, as the network leaves it without `include_size`."""
    rows = [network_cost_row_payload(row) for row in resource.cost_rows.all()]
    if not include_size:
        for row in rows:
            row["size_mib"] = None
    return rows


# --- OpenAPI ------------------------------------------------------------------------------------

_ITEM_HASH = OpenApiParameter(
    "item_hash", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=ITEM_HASH_PATTERN,
    description="The message's item hash: 64 lowercase hex digits, or an IPFS CID (Qm…, "
                "bafy…). Anything else is the network's 400 `Invalid message hash: …`.")
_ANY_ITEM_HASH = OpenApiParameter(
    "item_hash", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The message's item hash, taken as any text, as the network takes it.")
_HASH_ERRORS = {
    (400, "text/plain"): text_doc("`Invalid message hash: <item_hash>`: not an item hash."),
    (400, "application/json"): error_doc("The path holds text that cannot be stored (a NUL)."),
    (404, "application/json"): error_doc("Nothing at this path (an empty item hash, or a slash "
                                      "in it)."),
}
_PATH_ERRORS = {
    (400, "application/json"): error_doc("The path holds text that cannot be stored (a NUL)."),
    (404, "application/json"): error_doc("Nothing at this path (an empty item hash, or a slash "
                                      "in it)."),
}


# --- views --------------------------------------------------------------------------------------

class _NetworkReadView(AccountReadView):
    """Reads of a registered resource or of an account: public as on the network's nodes, or
    its owner's, a service or operator key's or staff's with account reads private."""

    permission_classes = [AccountReader]
    staff_model = Resource
    renderer_classes = [ExactJSONRenderer]


class NetworkPriceView(_NetworkReadView):
    @extend_schema(
        summary="A registered message's price (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO}\n\n"
                    "The costs stored at registration (never re-priced): `required_tokens` "
                    "(the total in the payment type's unit, a JSON number with all its digits), "
                    "`payment_type`, `cost` (the same total as a string with 18 decimals), "
                    "`detail` (the cost rows; `size_mib` null unless `include_size=true`) and "
                    "`charged_address` (the content's address). A processed or removing "
                    "resource has a price; a forgotten or removed INSTANCE or PROGRAM is the "
                    "network's 410, a forgotten or removed STORE keeps its price (the network "
                    "prices those from the file's size it kept).",
        parameters=[_ITEM_HASH, OpenApiParameter(
            "include_size", OpenApiTypes.STR, default="false",
            description="`true` (any case): the rows' `size_mib`; anything else: null.")],
        responses={
            200: NetworkEstimateResponseSerializer,
            (404, "text/plain"): text_doc("`Message not found with hash: <item_hash>`: not "
                                       "registered here."),
            (410, "text/plain"): text_doc("`This message has been forgotten: <item_hash>` (or "
                                       "`removed`): an INSTANCE or PROGRAM that ended."),
            **_HASH_ERRORS, **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, item_hash: str):
        if not _is_item_hash(item_hash):
            return _invalid_hash(item_hash)
        resource = resource_get(item_hash=item_hash)
        if resource is None:
            return NetworkTextResponse(f"Message not found with hash: {item_hash}", status=404)
        require_account_reader(request, resource.owner.address)
        if resource.status in _ENDED and resource.type != MessageType.STORE:
            return NetworkTextResponse(f"This message has been {resource.status}: {item_hash}",
                                       status=410)
        include_size = request.query_params.get("include_size", "false").lower() == "true"
        required_tokens = _required_tokens(resource)
        return Response({
            "required_tokens": required_tokens,
            "payment_type": resource.payment_type,
            "cost": format_amount(required_tokens),
            "detail": _cost_rows(resource, include_size=include_size),
            "charged_address": resource.content.get("address", resource.owner.address),
        })


class NetworkMessageStatusView(_NetworkReadView):
    @extend_schema(
        summary="A registered message's status (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO}\n\n"
                    "`status`: processed, removing (flagged: its owner cannot fund it; it "
                    "still runs until its deadline), removed or forgotten; `reception_time`: "
                    "when it was registered here.",
        parameters=[_ITEM_HASH],
        responses={
            200: NetworkMessageStatusSerializer,
            (404, "text/plain"): text_doc("`404: Not Found`: not registered here."),
            **_HASH_ERRORS, **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, item_hash: str):
        if not _is_item_hash(item_hash):
            return _invalid_hash(item_hash)
        resource = resource_get(item_hash=item_hash)
        if resource is None:
            return NetworkTextResponse(_UNKNOWN_MESSAGE, status=404)
        require_account_reader(request, resource.owner.address)
        return Response({
            "status": resource.status,
            "item_hash": resource.item_hash,
            "reception_time": network_instant(resource.created_at),
        })


class NetworkConsumedCreditsView(_NetworkReadView):
    @extend_schema(
        summary="Credits a message consumed (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO}\n\n"
                    "Whole credits drained from the owner for this resource, whatever its "
                    "status: each metered hour's drained credits and the expenses posted "
                    "against it (a shortfall was not consumed). As on the network, any item "
                    "hash is taken: one nothing was charged for (or unknown here) answers 0.",
        parameters=[_ANY_ITEM_HASH],
        responses={200: NetworkConsumedCreditsSerializer, **_PATH_ERRORS,
                   **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, item_hash: str):
        resource = resource_get(item_hash=item_hash)
        consumed_credits = 0
        if resource is not None:
            require_account_reader(request, resource.owner.address)
            consumed_credits = resources_consumed_credits(
                resource_ids=[resource.pk])[resource.pk]
        return Response({"item_hash": item_hash, "consumed_credits": consumed_credits})


class NetworkMessageView(APIView):
    """A message's full body: not kept here (only a resource's content is), so every item hash
    is answered as the network answers one it does not know."""

    @extend_schema(
        summary="A message (network v0): always unknown here",
        description=f"{NETWORK_NOTE}\n\nAnyone. This service keeps no message bodies (no "
                    "sender, signature or confirmations): every item hash is answered as the "
                    "network answers an unknown one, 404 (400 for a malformed hash). Read a "
                    "registered resource with `GET /api/v1/resources/{item_hash}`.",
        parameters=[_ITEM_HASH],
        responses={(404, "text/plain"): text_doc("`404: Not Found`."), **_HASH_ERRORS},
    )
    def get(self, request, item_hash: str):
        if not _is_item_hash(item_hash):
            return _invalid_hash(item_hash)
        return NetworkTextResponse(_UNKNOWN_MESSAGE, status=404)


class NetworkCostsView(_NetworkReadView):
    @extend_schema(
        summary="Cost totals, and pages of resources with their costs (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO} An owner key must then filter by "
                    "its own `address`.\n\n"
                    "Over the resources in processed or removing that match the filters "
                    "(`payment_type` is credit unless told), each cost column is summed, "
                    "whatever the resources' payment type, as the network sums them: "
                    "`total_cost_hold` (tokens), `total_cost_stream` (tokens per second), "
                    "`total_cost_credit` (credits per second). `total_consumed_credits` counts "
                    "by `address` and `item_hash` only, over resources of any status (and, for "
                    "an address, its expenses posted against no resource). "
                    "`include_details=1` adds a page of the resources in item hash order with "
                    "what each consumed; `include_details=2` their cost rows too (with "
                    "`address` or `item_hash` only). A refused query is the network's 422 with "
                    "the list of its errors as text.",
        parameters=COSTS_QUERY_PARAMETERS,
        responses={
            200: NetworkCostsResponseSerializer,
            (422, "text/plain"): text_doc("A parameter is refused (pydantic's errors as a JSON "
                                       "list), or include_details=2 without address or "
                                       "item_hash."),
            (400, "application/json"): error_doc("The query holds text that cannot be stored "
                                              "(a NUL)."),
            **ACCOUNT_READ_ERRORS},
    )
    def get(self, request):
        try:
            query = NetworkCostsQuery.model_validate(query_first_values(request.query_params))
        except ValidationError as exc:
            return NetworkTextResponse(exc.json(), status=422)
        if query.include_details >= 2 and not (query.address or query.item_hash):
            return NetworkTextResponse(
                "include_details=2 requires at least one of 'address' or 'item_hash' filters "
                "to avoid fetching breakdowns for all resources", status=422)
        # An empty filter filters nothing, as on the network.
        require_account_reader(request, query.address or None)
        costs_filter = NetworkCostsFilter(address=query.address or None,
                                          item_hash=query.item_hash or None,
                                          payment_type=query.payment_type.value)
        summary = network_costs_summary(costs_filter=costs_filter)
        answer = {
            "summary": {
                "total_consumed_credits": summary.consumed_credits,
                "total_cost_hold": format_amount(summary.cost_hold),
                "total_cost_stream": format_amount(summary.cost_stream_per_second),
                "total_cost_credit": format_amount(summary.cost_credit_per_second),
                "resource_count": summary.resource_count,
            },
            "filters": {"address": query.address, "item_hash": query.item_hash,
                        "payment_type": query.payment_type.value},
            "resources": None,
            "pagination_page": None,
            "pagination_total": None,
            "pagination_per_page": None,
            "pagination_item": None,
        }
        if query.include_details >= 1:
            with_rows = query.include_details >= 2
            items = network_costs_page(costs_filter=costs_filter, page=query.page,
                                       page_size=query.pagination, with_rows=with_rows)
            answer.update({
                "resources": [{
                    "item_hash": item.resource.item_hash,
                    "owner": item.resource.owner.address,
                    "payment_type": item.resource.payment_type,
                    "consumed_credits": item.consumed_credits,
                    "cost_hold": format_amount(item.resource.cost_hold),
                    "cost_stream": format_amount(item.resource.cost_stream_per_second),
                    "cost_credit": format_amount(item.resource.cost_credit_per_second),
                    "detail": (_cost_rows(item.resource, include_size=query.include_size)
                               if with_rows else None),
                } for item in items],
                "pagination_page": query.page,
                "pagination_total": summary.resource_count,
                "pagination_per_page": query.pagination,
                "pagination_item": "resources",
            })
        return Response(answer)


# Routes under /api/v0/ (credits/urls.py adds them). The network takes any text between two
# slashes as an item hash, and answers a malformed one itself: so do these routes.
_ITEM = r"(?P<item_hash>[^/]+)"
v0_urls: list[URLPattern] = [
    path("costs", NetworkCostsView.as_view(), name="v0-costs"),
    re_path(rf"^price/{_ITEM}$", NetworkPriceView.as_view(), name="v0-price"),
    re_path(rf"^messages/{_ITEM}/status$", NetworkMessageStatusView.as_view(),
            name="v0-message-status"),
    re_path(rf"^messages/{_ITEM}/consumed_credits$", NetworkConsumedCreditsView.as_view(),
            name="v0-message-consumed-credits"),
    re_path(rf"^messages/{_ITEM}$", NetworkMessageView.as_view(), name="v0-message"),
]
