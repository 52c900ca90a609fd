"""The event feed and the webhook endpoints: thin views over `credits.selectors.events` and
`credits.services.webhooks`. Owner keys see and manage their own account's only."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from ..addresses import InvalidAddress, normalize_address
from ..auth import EventReader, WebhookManager, actor_of, owner_account_of
from ..errors import InvalidInput
from ..models import Account, Event, EventType, WebhookEndpoint
from ..selectors.accounts import account_by_address
from ..selectors.events import (
    event_body,
    event_cursor,
    event_cursor_encode,
    events_feed,
    webhook_endpoints_of,
)
from ..serializers.events import (
    DEFAULT_FEED_LIMIT,
    MAX_FEED_LIMIT,
    EventFeedQuerySerializer,
    EventFeedResponseSerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookListSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)
from ..services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from .common import error_doc, iso_or_none

_AUTH_ERRORS = {
    401: error_doc("No API key, or an unknown, revoked or expired one."),
    403: error_doc("A key or session that may not do this."),
}
_BAD_BODY = {
    400: error_doc("Malformed body: not JSON, not an object, wrong types, unknown event types."),
    413: error_doc("Body too large."),
    415: error_doc("Body is not application/json."),
}


def _owner_account_id(request) -> int | None:
    """The account of an owner key or token (which then sees only it); None for every other
    caller."""
    account = owner_account_of(request)
    return None if account is None else account.pk


class EventFeedView(APIView):
    permission_classes = [EventReader]
    staff_model = Event

    @extend_schema(
        summary="The event feed, oldest first, resumable from a cursor",
        description="**Who:** an operator or service API key, or a staff session allowed to "
                    "view events in the admin: every event; an owner key: its own account's "
                    "events.\n\nWhat the service decided, in the order a follower must apply "
                    "it, gap-free: an event that commits late (its transaction ran long) is "
                    "never passed over, because the feed holds back the events of transactions "
                    "that may still be running. Follow it by passing each answer's "
                    "`next_cursor` as `after`; ask again at once while `has_more`, otherwise "
                    "after a pause. Filter with `types` (comma-separated). Each event: `id` "
                    "(unique, the `webhook-id` of its deliveries), `type`, `timestamp`, "
                    "`schema_version`, `account` and `data` (per type: docs/api.md). "
                    f"Pages of `limit` (default {DEFAULT_FEED_LIMIT}, capped at "
                    f"{MAX_FEED_LIMIT}). Events are kept `EVENTS_RETENTION_DAYS`; a cursor "
                    "older than that answers 410 `cursor_expired`.",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.STR, OpenApiParameter.QUERY,
                             description="`next_cursor` (or an event's `cursor`) of an earlier "
                                         "answer; absent: from the oldest event kept."),
            OpenApiParameter("types", OpenApiTypes.STR, OpenApiParameter.QUERY,
                             description="Only these types, comma-separated: "
                                         + ", ".join(EventType.values) + "."),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
                             description=f"Page size, default {DEFAULT_FEED_LIMIT}, capped at "
                                         f"{MAX_FEED_LIMIT}."),
        ],
        responses={200: EventFeedResponseSerializer,
                   400: error_doc("A malformed cursor (not one this API gave), unknown types, "
                                  "an invalid limit."),
                   410: error_doc("The cursor is older than the events kept "
                                  "(`cursor_expired`): start again without `after`."),
                   **_AUTH_ERRORS},
    )
    def get(self, request):
        query = EventFeedQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        options = query.validated_data
        limit = options["limit"]
        owner_account = _owner_account_id(request)
        events = events_feed(after=options.get("after"), types=options.get("types"),
                             account_id=owner_account, limit=limit + 1)
        page = events[:limit]
        if page:
            next_cursor = event_cursor(page[-1])
        elif "after" in options:
            xid, event_id = options["after"]
            next_cursor = event_cursor_encode(xid=xid, event_id=event_id)
        else:
            next_cursor = None
        return Response({
            "results": [{**event_body(event), "cursor": event_cursor(event)} for event in page],
            "next_cursor": next_cursor,
            "has_more": len(events) > limit,
            "limit": limit,
        })


def _webhook(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": str(endpoint.pk),
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "description": endpoint.description,
        "account": endpoint.account.address if endpoint.account_id else None,
        "created_by": endpoint.created_by,
        "created_at": endpoint.created_at.isoformat(),
        "failing_since": iso_or_none(endpoint.failing_since),
        "disabled_at": iso_or_none(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
    }


def _account_for_new_endpoint(request, address: str | None) -> Account | None:
    """An owner key's endpoint is its account's (naming another is refused); an operator or
    staff names any account, or none for every account's events."""
    owner_account = _owner_account_id(request)
    if owner_account is not None:
        own = owner_account_of(request)
        if address is not None:
            try:
                wanted = normalize_address(address)
            except InvalidAddress:
                wanted = address
            if wanted != own.address:
                raise exceptions.PermissionDenied(
                    "An owner key subscribes only its own account's events.")
        return own
    if address is None:
        return None
    try:
        account = account_by_address(address=address)
    except InvalidAddress as exc:
        raise InvalidInput(str(exc), field="account") from None
    if account is None:
        raise InvalidInput(f"No account has address {address}.", field="account")
    return account


_WHO = ("**Who:** an operator API key (every endpoint), an owner key (its own account's "
        "endpoints only), or a staff session with the admin's permission on webhook endpoints "
        "(view, add, change, delete).")


class WebhookListView(APIView):
    permission_classes = [WebhookManager]
    staff_model = WebhookEndpoint

    @extend_schema(
        operation_id="v1_webhooks_list",
        summary="Webhook endpoints",
        description=f"{_WHO}\n\nThe endpoints the caller may manage, oldest first (secrets are "
                    "never shown again).",
        responses={200: WebhookListSerializer, **_AUTH_ERRORS},
    )
    def get(self, request):
        endpoints = webhook_endpoints_of(account_id=_owner_account_id(request),
                                         every_account=_owner_account_id(request) is None)
        return Response({"results": [_webhook(endpoint) for endpoint in endpoints]})

    @extend_schema(
        summary="Subscribe a webhook endpoint",
        description=f"{_WHO}\n\nEvents of `event_types` (all when empty) are POSTed to `url`, "
                    "signed with the Standard Webhooks scheme (headers `webhook-id`, "
                    "`webhook-timestamp`, `webhook-signature`) with the `secret` of this "
                    "answer, shown only here. Retried with exponential backoff and jitter for "
                    "`WEBHOOK_RETRY_SECONDS`, at least once, in order per resource. The URL must "
                    "be http(s) and resolve to public addresses only (422 "
                    "`webhook_url_refused`).",
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer,
                   422: error_doc("A refused URL (`webhook_url_refused`), an unknown account."),
                   **_BAD_BODY, **_AUTH_ERRORS},
    )
    def post(self, request):
        body = WebhookCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        account = _account_for_new_endpoint(request, data.get("account"))
        endpoint, secret = webhook_endpoint_create(
            url=data["url"], account=account, event_types=data.get("event_types", []),
            enabled=data["enabled"], description=data.get("description", ""),
            actor=actor_of(request))
        return Response({**_webhook(endpoint), "secret": secret}, status=201)


class WebhookDetailView(APIView):
    permission_classes = [WebhookManager]
    staff_model = WebhookEndpoint

    def _endpoint(self, request, webhook_id) -> WebhookEndpoint:
        endpoint = WebhookEndpoint.objects.select_related("account").filter(
            pk=webhook_id).first()
        if endpoint is None:
            raise exceptions.NotFound(f"No webhook endpoint {webhook_id}.")
        owner_account = _owner_account_id(request)
        if owner_account is not None and endpoint.account_id != owner_account:
            raise exceptions.PermissionDenied("An owner key manages only its own account's "
                                              "webhook endpoints.")
        return endpoint

    @extend_schema(summary="A webhook endpoint", description=_WHO,
                   responses={200: WebhookSerializer, 404: error_doc("No such endpoint."),
                              **_AUTH_ERRORS})
    def get(self, request, webhook_id):
        return Response(_webhook(self._endpoint(request, webhook_id)))

    @extend_schema(
        summary="Change a webhook endpoint",
        description=f"{_WHO}\n\nChange its `url`, `event_types`, `enabled` or `description`. "
                    "Enabling an endpoint disabled for failing clears its failing streak.",
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, 404: error_doc("No such endpoint."),
                   422: error_doc("A refused URL (`webhook_url_refused`)."),
                   **_BAD_BODY, **_AUTH_ERRORS})
    def patch(self, request, webhook_id):
        endpoint = self._endpoint(request, webhook_id)
        body = WebhookUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **body.validated_data)
        return Response(_webhook(endpoint))

    @extend_schema(summary="Delete a webhook endpoint",
                   description=f"{_WHO}\n\nThe endpoint, its deliveries and their log.",
                   responses={204: None, 404: error_doc("No such endpoint."), **_AUTH_ERRORS})
    def delete(self, request, webhook_id):
        webhook_endpoint_delete(endpoint=self._endpoint(request, webhook_id))
        return Response(status=204)
