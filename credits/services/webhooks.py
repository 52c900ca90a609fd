"""Webhooks: endpoints (created with a secret shown once), the fan-out of events to them
(`events_dispatch`), and the deliveries: claimed with a lease, sent signed (Standard Webhooks:
`webhook-id`, `webhook-timestamp`, `webhook-signature`), retried with exponential backoff and
jitter until `retry_until`, at least once, in order per resource and endpoint. An endpoint
failing for WEBHOOK_DISABLE_AFTER_SECONDS is disabled. `webhooks_pump` does one round of all of
it (the Celery task "webhook dispatch"); `events_prune` deletes old events.
"""
from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from ..errors import InvalidInput, NotFound, WebhookTargetRefused
from ..models import (
    Account,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventType,
    OutboxState,
    WebhookEndpoint,
)
from ..selectors.events import FEED_HORIZON_SQL, event_body
from ..webhook_http import TargetRefused, post, target_resolve

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32
_EXCERPT_CHARS = 1000
_DISPATCH_BATCH = 1000
_KICK_EVERY_SECONDS = 1.0
_last_kick = 0.0

_ATTEMPT = DeliveryAttempt._meta.db_table
_DELIVERY = Delivery._meta.db_table
_ENDPOINT = WebhookEndpoint._meta.db_table
_EVENT = Event._meta.db_table


# --- endpoints ----------------------------------------------------------------------------------

def webhook_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def webhook_url_check(url: str) -> str:
    """`url` if it may be called: http(s), a host resolving to public addresses only (unless
    WEBHOOKS_ALLOW_PRIVATE_TARGETS). WebhookTargetRefused (422) otherwise."""
    try:
        target_resolve(url)
    except TargetRefused as exc:
        raise WebhookTargetRefused(str(exc), field="url") from None
    return url


def _event_types_check(event_types) -> list[str]:
    unknown = sorted(set(event_types) - set(EventType.values))
    if unknown:
        raise InvalidInput(f"Unknown event types: {', '.join(unknown)}.", field="event_types")
    return sorted(set(event_types))


@transaction.atomic
def webhook_endpoint_create(*, url: str, actor: str, account: Account | None = None,
                            event_types=(), enabled: bool = True,
                            description: str = "") -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned here only: show it once)."""
    secret = webhook_secret_new()
    endpoint = WebhookEndpoint.objects.create(
        url=webhook_url_check(url), account=account, event_types=_event_types_check(event_types),
        enabled=enabled, description=description, secret=secret, created_by=actor[:200])
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change `url`, `event_types`, `enabled` or `description`. Enabling an endpoint again
    clears why it was disabled and its failing streak."""
    allowed = {"url", "event_types", "enabled", "description"}
    if set(changes) - allowed:
        raise InvalidInput(f"Only {', '.join(sorted(allowed))} can be changed.")
    if "url" in changes:
        changes["url"] = webhook_url_check(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _event_types_check(changes["event_types"])
    if changes.get("enabled") and not endpoint.enabled:
        changes.update(disabled_at=None, disabled_reason="", failing_since=None)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries (their log with them)."""
    endpoint.delete()


# --- fan-out ------------------------------------------------------------------------------------

def events_dispatch(*, at: datetime | None = None, batch: int = _DISPATCH_BATCH) -> int:
    """Fan the events the dispatcher has not seen out to the enabled endpoints that take them
    (their types; their account, or every account): one pending delivery per (event,
    endpoint). Follows the feed (only events no running transaction can still add to, in
    (xid, id) order), so none is skipped; the position is kept in `OutboxState`, moved in the
    transaction that creates the deliveries, under its row lock (one dispatcher at a time).
    Returns the deliveries created."""
    at = at or timezone.now()
    retry_until = at + timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS)
    created = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            OutboxState.objects.get_or_create(pk=1)
            state = OutboxState.objects.select_for_update().get(pk=1)
            cursor.execute(f"""
                WITH batch AS (
                    SELECT id, xid, type, account_id, resource_id FROM {_EVENT}
                    WHERE {FEED_HORIZON_SQL} AND ({_EVENT}.xid, {_EVENT}.id) > (%(xid)s, %(id)s)
                    ORDER BY xid, id LIMIT %(batch)s),
                fanned AS (
                    INSERT INTO {_DELIVERY} (event_id, endpoint_id, resource_id, status,
                                             created_at, next_attempt_at, retry_until, attempts,
                                             last_error)
                    SELECT b.id, w.id, b.resource_id, %(pending)s, %(at)s, %(at)s,
                           %(retry_until)s, 0, ''
                    FROM batch b JOIN {_ENDPOINT} w ON w.enabled
                         AND (w.account_id IS NULL OR w.account_id = b.account_id)
                         AND (cardinality(w.event_types) = 0 OR b.type = ANY(w.event_types))
                    ORDER BY b.xid, b.id, w.id
                    ON CONFLICT DO NOTHING RETURNING 1)
                SELECT (SELECT count(*) FROM fanned), count(*), max(xid),
                       (SELECT id FROM batch ORDER BY xid DESC, id DESC LIMIT 1)
                FROM batch""",
                           {"xid": state.dispatched_xid, "id": state.dispatched_event_id,
                            "batch": batch, "at": at, "retry_until": retry_until,
                            "pending": DeliveryStatus.PENDING.value})
            fanned, seen, last_xid, last_id = cursor.fetchone()
            created += fanned
            if seen:
                OutboxState.objects.filter(pk=1).update(dispatched_xid=last_xid,
                                                        dispatched_event_id=last_id)
        if seen < batch:
            return created


# --- deliveries ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claim:
    delivery_id: int
    token: uuid.UUID


def delivery_claim(*, at: datetime, delivery_id: int | None = None) -> Claim | None:
    """Claim the next due delivery (or `delivery_id`, if it is due) for WEBHOOK_LEASE_SECONDS:
    pending, its next attempt due, not leased (or its lease over: whoever held it died), its
    endpoint enabled, and no earlier event of its resource still pending to that endpoint (in
    order per resource). Committed at once: other senders skip it until the lease ends."""
    token = uuid.uuid4()
    only = "AND d.id = %(only)s" if delivery_id is not None else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""
            WITH due AS (
                SELECT d.id FROM {_DELIVERY} d
                JOIN {_ENDPOINT} w ON w.id = d.endpoint_id AND w.enabled
                WHERE d.status = %(pending)s AND d.next_attempt_at <= %(at)s {only}
                  AND (d.leased_until IS NULL OR d.leased_until <= %(at)s)
                  AND NOT EXISTS (
                      SELECT 1 FROM {_DELIVERY} p
                      WHERE p.status = %(pending)s AND p.endpoint_id = d.endpoint_id
                        AND p.resource_id = d.resource_id AND p.event_id < d.event_id)
                ORDER BY d.next_attempt_at, d.id LIMIT 1
                FOR UPDATE OF d SKIP LOCKED)
            UPDATE {_DELIVERY} SET leased_until = %(lease_until)s, lease_token = %(token)s,
                                   attempts = attempts + 1, last_attempt_at = %(at)s
            FROM due WHERE {_DELIVERY}.id = due.id
            RETURNING {_DELIVERY}.id""",
                       {"pending": DeliveryStatus.PENDING.value, "at": at, "only": delivery_id,
                        "lease_until": at + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
                        "token": token})
        row = cursor.fetchone()
    return None if row is None else Claim(delivery_id=row[0], token=token)


def webhook_signed_headers(*, secret: str, message_id: str, body: bytes,
                           at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of a message."""
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id=message_id, timestamp=at,
                                                      data=body)}


def retry_delay_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: the base doubled per attempt made, capped, then a
    random point in its upper half (so endpoints that failed together do not retry together)."""
    delay = min(settings.WEBHOOK_BACKOFF_MAX_SECONDS,
                settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** min(max(attempts - 1, 0), 30))
    return delay / 2 + random.random() * delay / 2


def delivery_send(*, claim: Claim, at: datetime | None = None) -> DeliveryAttempt:
    """Send a claimed delivery once and record the attempt: succeeded (a 2xx answer), or a
    retry at `at` + backoff, or given up past `retry_until`; the endpoint's failing streak is
    kept, and an endpoint failing for WEBHOOK_DISABLE_AFTER_SECONDS is disabled. The outcome is
    written only while the claim is still this sender's (else only the attempt is logged)."""
    delivery = Delivery.objects.select_related("event__account", "endpoint").get(
        pk=claim.delivery_id)
    event, endpoint = delivery.event, delivery.endpoint
    body = json.dumps(event_body(event), separators=(",", ":"), sort_keys=True).encode()
    sent_at = at or timezone.now()
    status_code = latency_ms = None
    excerpt = error = ""
    started = time.monotonic()
    try:
        answer = post(endpoint.url, body=body, headers=webhook_signed_headers(
            secret=endpoint.secret, message_id=event.public_id, body=body, at=sent_at))
        status_code, excerpt, latency_ms = answer.status_code, answer.excerpt, answer.latency_ms
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except TargetRefused as exc:
        error = f"refused: {exc}"
    except OSError as exc:  # time-outs, refused connections, TLS and protocol errors
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if latency_ms is None:
        latency_ms = int((time.monotonic() - started) * 1000)
    return _attempt_record(delivery=delivery, claim=claim, at=sent_at, status_code=status_code,
                           latency_ms=latency_ms, excerpt=excerpt[:_EXCERPT_CHARS],
                           error=error[:500])


@transaction.atomic
def _attempt_record(*, delivery: Delivery, claim: Claim, at: datetime, status_code: int | None,
                    latency_ms: int, excerpt: str, error: str) -> DeliveryAttempt:
    succeeded = not error
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery, attempted_at=at, status_code=status_code, latency_ms=latency_ms,
        response_excerpt=excerpt, error=error, succeeded=succeeded)
    mine = Delivery.objects.filter(pk=delivery.pk, lease_token=claim.token,
                                   status=DeliveryStatus.PENDING)
    common = {"leased_until": None, "lease_token": None, "last_status_code": status_code,
              "last_error": error}
    endpoints = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
    if succeeded:
        mine.update(status=DeliveryStatus.SUCCEEDED, delivered_at=at, **common)
        endpoints.update(failing_since=None)
        return attempt
    next_attempt_at = at + timedelta(seconds=retry_delay_seconds(delivery.attempts))
    if next_attempt_at > delivery.retry_until:
        mine.update(status=DeliveryStatus.FAILED, **common)
    else:
        mine.update(next_attempt_at=next_attempt_at, **common)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    if endpoint.failing_since is None:
        endpoint.failing_since = at
        endpoint.save(update_fields=["failing_since"])
    elif endpoint.enabled and (at - endpoint.failing_since).total_seconds() \
            >= settings.WEBHOOK_DISABLE_AFTER_SECONDS:
        endpoint.enabled = False
        endpoint.disabled_at = at
        endpoint.disabled_reason = (
            f"Disabled: every attempt failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
            f"(last: {error})."[:300])
        endpoint.save(update_fields=["enabled", "disabled_at", "disabled_reason"])
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)
    return attempt


@dataclass
class PumpResult:
    dispatched: int = 0
    sent: int = 0
    succeeded: int = 0


def webhooks_pump(*, at: datetime | None = None, max_deliveries: int | None = None,
                  clock=None) -> PumpResult:
    """One round: fan new events out, then send due deliveries one by one until none is due
    or `max_deliveries` (WEBHOOK_PUMP_MAX_DELIVERIES) were sent. `at` fixes the instant (tests);
    otherwise each claim and attempt is at the time it happens."""
    result = PumpResult(dispatched=events_dispatch(at=at))
    limit = max_deliveries or settings.WEBHOOK_PUMP_MAX_DELIVERIES
    while result.sent < limit:
        now = at or timezone.now()
        claim = delivery_claim(at=now)
        if claim is None:
            break
        attempt = delivery_send(claim=claim, at=at)
        result.sent += 1
        result.succeeded += attempt.succeeded
    return result


def webhooks_kick() -> None:
    """Queue the dispatch task now (on the commit of events), at most once a second per process,
    and only while some endpoint is enabled; never raises (the commit is done: a broker that is
    down must not fail the request; the periodic task sends the events anyway)."""
    global _last_kick
    if not settings.WEBHOOKS_KICK_ON_COMMIT:
        return
    now = time.monotonic()
    if now - _last_kick < _KICK_EVERY_SECONDS:
        return
    _last_kick = now
    try:
        if WebhookEndpoint.objects.filter(enabled=True).exists():
            from ..tasks import webhooks_pump_task  # the tasks import the services

            webhooks_pump_task.delay()
    except Exception:  # noqa: BLE001 - see the docstring
        logger.exception("could not queue the webhook dispatch")


@transaction.atomic
def deliveries_resend(*, delivery_ids, at: datetime | None = None) -> int:
    """Send these deliveries again (whatever their status): pending, due now, with a new retry
    window. Their attempts so far stay in the log. Returns how many."""
    at = at or timezone.now()
    return Delivery.objects.filter(pk__in=list(delivery_ids)).update(
        status=DeliveryStatus.PENDING, next_attempt_at=at, leased_until=None, lease_token=None,
        retry_until=at + timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS), delivered_at=None)


def delivery_get(*, delivery_id: int) -> Delivery:
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id}.")
    return delivery


# --- pruning ------------------------------------------------------------------------------------

def events_prune(*, before: datetime | None = None) -> int:
    """Delete the events that occurred before `before` (default: EVENTS_RETENTION_DAYS ago),
    that the dispatcher has passed and whose deliveries are all over (their deliveries go with
    them), in feed order up to the first one that must stay; a feed cursor before the last one
    deleted then answers 410. Returns how many were deleted."""
    before = before or timezone.now() - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    with transaction.atomic(), connection.cursor() as cursor:
        OutboxState.objects.get_or_create(pk=1)
        state = OutboxState.objects.select_for_update().get(pk=1)
        # The first event (in feed order) that must be kept; everything before it goes.
        cursor.execute(f"""
            SELECT e.xid, e.id FROM {_EVENT} e
            WHERE e.occurred_at >= %(before)s
               OR (e.xid, e.id) > (%(dxid)s, %(did)s)
               OR EXISTS (SELECT 1 FROM {_DELIVERY} d WHERE d.event_id = e.id
                          AND d.status = %(pending)s)
            ORDER BY e.xid, e.id LIMIT 1""",
                       {"before": before, "dxid": state.dispatched_xid,
                        "did": state.dispatched_event_id, "pending": DeliveryStatus.PENDING.value})
        row = cursor.fetchone()
        stop = row if row is not None else (state.dispatched_xid, state.dispatched_event_id + 1)
        bound = {"xid": stop[0], "id": stop[1]}
        # Their deliveries and those deliveries' attempts first (the foreign keys are checked
        # at commit, so the order is for the reader).
        cursor.execute(f"""
            DELETE FROM {_ATTEMPT} WHERE delivery_id IN (
                SELECT d.id FROM {_DELIVERY} d JOIN {_EVENT} e ON e.id = d.event_id
                WHERE (e.xid, e.id) < (%(xid)s, %(id)s))""", bound)
        cursor.execute(f"""
            DELETE FROM {_DELIVERY} WHERE event_id IN (
                SELECT id FROM {_EVENT} WHERE (xid, id) < (%(xid)s, %(id)s))""", bound)
        cursor.execute(f"""
            WITH gone AS (DELETE FROM {_EVENT} WHERE (xid, id) < (%(xid)s, %(id)s)
                          RETURNING xid, id)
            SELECT count(*), max(xid), (SELECT id FROM gone ORDER BY xid DESC, id DESC LIMIT 1)
            FROM gone""", bound)
        deleted, last_xid, last_id = cursor.fetchone()
        if deleted:
            OutboxState.objects.filter(pk=1).update(
                pruned_xid=last_xid, pruned_event_id=last_id, pruned_at=timezone.now())
    return deleted

