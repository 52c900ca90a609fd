"""Reading the outbox: the event feed (ordered, gap-free under concurrent writers, resumable from
a cursor), an event as the feed and the webhooks write it, and the webhook endpoints and
deliveries the pages show.

Why the feed never skips an event: ids come from a sequence and commit out of order, so a
cursor of ids alone would pass over an id that commits later. Each event keeps the id of the
transaction that wrote it (`xid`). Every transaction with an id below `pg_snapshot_xmin` of the
current snapshot has ended, so no event with such an `xid` can appear later, and any event that
commits later has an `xid` at or above it. The feed serves only those events, in (xid, id) order,
and a cursor is the (xid, id) of the last event served: resuming after it can only find events
that sort after it. A transaction still running holds the feed back (never loses an event) until
it ends. Per resource, the order is that of the changes: each change locks the resource (or its
account) before it writes, and writes its event before it commits.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from ..cursors import (
    CURSOR_INVALID_MESSAGE,
    MAX_CURSOR_LENGTH,
    InvalidCursor,
    opaque_decode,
    opaque_encode,
)
from ..errors import CursorExpired
from ..models import Delivery, DeliveryStatus, Event, OutboxState, WebhookEndpoint

_CURSOR_TAG = "evt"
_EVENT = Event._meta.db_table
# Only events of transactions that have ended: none below this can still appear.
FEED_HORIZON_SQL = f"{_EVENT}.xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def event_cursor_encode(*, xid: int, event_id: int) -> str:
    return opaque_encode([_CURSOR_TAG, xid, event_id])


def event_cursor_decode(cursor: str) -> tuple[int, int]:
    """The (xid, id) of a cursor `event_cursor_encode` wrote; InvalidCursor otherwise."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor(CURSOR_INVALID_MESSAGE)
    try:
        tag, xid, event_id = opaque_decode(cursor)
    except (ValueError, TypeError, RecursionError):
        raise InvalidCursor(CURSOR_INVALID_MESSAGE) from None
    if tag != _CURSOR_TAG or any(isinstance(value, bool) or not isinstance(value, int)
                                 or not 0 <= value < 2 ** 63 for value in (xid, event_id)):
        raise InvalidCursor(CURSOR_INVALID_MESSAGE)
    return xid, event_id


def event_cursor(event: Event) -> str:
    return event_cursor_encode(xid=event.xid, event_id=event.pk)


def outbox_state() -> OutboxState:
    return OutboxState.objects.filter(pk=1).first() or OutboxState(pk=1)


def events_after(queryset: QuerySet, position: tuple[int, int]) -> QuerySet:
    """The events of `queryset` after `position` (xid, id) in feed order (the index's order)."""
    return queryset.extra(where=[f"({_EVENT}.xid, {_EVENT}.id) > (%s, %s)"],
                          params=list(position))


def events_feed(*, after: tuple[int, int] | None, types: list[str] | None = None,
                account_id: int | None = None, limit: int) -> list[Event]:
    """Up to `limit` events after the position `after` (None: from the oldest kept), of
    `types` (None: all) and of the account `account_id` (None: every account's, and the
    operators' events), in feed order. CursorExpired (410) when events after `after` may have
    been pruned."""
    if after is not None:
        state = outbox_state()
        if after < (state.pruned_xid, state.pruned_event_id):
            raise CursorExpired(
                "The cursor is older than the events kept (EVENTS_RETENTION_DAYS); start again "
                "without `after`, from the oldest event kept.",
                retention_days=settings.EVENTS_RETENTION_DAYS)
    events = Event.objects.select_related("account").extra(where=[FEED_HORIZON_SQL])
    if after is not None:
        events = events_after(events, after)
    if types:
        events = events.filter(type__in=types)
    if account_id is not None:
        events = events.filter(account_id=account_id)
    return list(events.order_by("xid", "id")[:limit])


def event_body(event: Event) -> dict:
    """An event as the feed lists it and a webhook sends it (the feed adds its `cursor`)."""
    return {
        "id": event.public_id,
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "schema_version": event.schema_version,
        "account": event.account.address if event.account_id else None,
        "data": event.payload,
    }


# --- webhook endpoints and deliveries ---------------------------------------------------------

def webhook_endpoints_of(*, account_id: int | None, every_account: bool) -> QuerySet:
    """The endpoints a caller may manage: all of them (`every_account`: operators, staff) or
    those of its account (an owner)."""
    endpoints = WebhookEndpoint.objects.select_related("account").order_by("created_at", "id")
    return endpoints if every_account else endpoints.filter(account_id=account_id)


def webhook_endpoints_failing(*, now=None) -> list[dict]:
    """Endpoints failing now (enabled, every attempt failing since `failing_since`) and those
    disabled for failing, with their pending deliveries: the dashboard's list."""
    now = now or timezone.now()
    rows = []
    endpoints = (WebhookEndpoint.objects.select_related("account")
                 .filter(failing_since__isnull=False).order_by("failing_since"))
    for endpoint in endpoints:
        rows.append({
            "endpoint": endpoint,
            "failing_for_seconds": int((now - endpoint.failing_since).total_seconds()),
            "pending": Delivery.objects.filter(endpoint=endpoint,
                                               status=DeliveryStatus.PENDING).count(),
        })
    return rows
