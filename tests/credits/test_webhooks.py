"""Webhook deliveries to a real receiver on 127.0.0.1: signed (Standard Webhooks, checked with
its own verifier), retried with backoff after 500s and time-outs, given up after the retry
window, in order per resource, at least once when the sender dies mid-delivery, and endpoints
failing too long disabled. Time is an input: each round of the pump is given its instant."""
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from credits.models import (
    Account,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    WebhookEndpoint,
)
from credits.services.resources import resource_forget
from credits.services.webhooks import (
    deliveries_resend,
    events_dispatch,
    webhook_endpoint_create,
    webhooks_pump,
)
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import E1_PER_DAY, HOUR, grant, register, run
from tests.credits.webhook_receiver import start_receiver, wait_for
from tests.database import subprocess_database_url

# Deliveries follow the feed: only committed events are sent.
pytestmark = pytest.mark.django_db(transaction=True)
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _settings(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    settings.WEBHOOKS_KICK_ON_COMMIT = False
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 10
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    settings.WEBHOOK_RETRY_SECONDS = 24 * 3600
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_LEASE_SECONDS = 30


def endpoint_for(receiver, **options):
    endpoint, secret = webhook_endpoint_create(url=receiver.url, actor="test", **options)
    return endpoint, secret


def dispatched(count: int) -> None:
    """Fan events out until `count` deliveries exist (bounded wait: see `wait_for`)."""
    def enough():
        events_dispatch()
        return Delivery.objects.count() >= count
    wait_for(enough, what=f"{count} deliveries")


def test_a_delivery_is_signed_so_that_the_standard_webhooks_verifier_accepts_it(receiver):
    endpoint, secret = endpoint_for(receiver)
    assert secret.startswith("whsec_") and endpoint.secret == secret
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    dispatched(1)

    result = webhooks_pump()

    assert result.sent == 1 and result.succeeded == 1
    [request] = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    event = Event.objects.get(resource_id=vm.pk)
    assert payload["id"] == request.webhook_id == event.public_id
    assert payload["type"] == EventType.RESOURCE_REGISTERED
    assert payload["data"]["item_hash"] == vm.item_hash and payload["account"] == ADDRESS
    with pytest.raises(Exception):  # another secret does not verify
        Webhook("whsec_" + "QUFB" * 8).verify(request.body, request.headers)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    [attempt] = delivery.log.all()
    assert attempt.succeeded and attempt.status_code == 200 and attempt.latency_ms is not None
    assert attempt.response_excerpt == "ok"


def test_500s_are_retried_with_growing_backoff_until_the_endpoint_answers(receiver):
    endpoint_for(receiver)
    receiver.script = [500, 503]
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    dispatched(1)
    t0 = timezone.now()

    webhooks_pump(at=t0)
    first_retry = Delivery.objects.get().next_attempt_at
    # backoff with jitter: the base (10 s) halved at least, at most the base
    assert t0 + timedelta(seconds=5) <= first_retry <= t0 + timedelta(seconds=10)
    assert webhooks_pump(at=first_retry - timedelta(seconds=1)).sent == 0  # not due yet

    webhooks_pump(at=first_retry)
    second_retry = Delivery.objects.get().next_attempt_at
    assert first_retry + timedelta(seconds=10) <= second_retry \
        <= first_retry + timedelta(seconds=20)
    webhooks_pump(at=second_retry)

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
    assert [a.status_code for a in delivery.log.all()] == [500, 503, 200]
    assert len({request.webhook_id for request in receiver.requests}) == 1
    assert len(receiver.requests) == 3
    assert WebhookEndpoint.objects.get().failing_since is None  # a success ends the streak


def test_a_time_out_is_a_failed_attempt_that_is_retried(receiver):
    endpoint_for(receiver)
    receiver.script = [("hang", 10)]
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    dispatched(1)
    t0 = timezone.now()

    webhooks_pump(at=t0)

    delivery = Delivery.objects.get()
    [attempt] = delivery.log.all()
    assert not attempt.succeeded and attempt.status_code is None
    assert "timed out" in attempt.error.lower() or "timeout" in attempt.error.lower()
    assert delivery.status == DeliveryStatus.PENDING
    receiver.release.set()
    webhooks_pump(at=delivery.next_attempt_at)
    assert Delivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_a_delivery_gives_up_after_its_retry_window_and_no_longer_holds_the_resource_back(
        receiver, settings):
    settings.WEBHOOK_RETRY_SECONDS = 60
    endpoint_for(receiver)
    receiver.script = [500] * 20
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    dispatched(1)
    at = timezone.now()
    for _ in range(10):
        webhooks_pump(at=at)
        delivery = Delivery.objects.get()
        if delivery.status != DeliveryStatus.PENDING:
            break
        at = delivery.next_attempt_at

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.log.count() == delivery.attempts >= 2
    assert delivery.log.last().attempted_at <= delivery.retry_until
    # the resource's next event is sent
    receiver.script = []
    resource_forget(item_hash=vm.item_hash, actor="owner", at=T0 + HOUR)
    dispatched(2)
    webhooks_pump(at=at)
    assert Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 1


def test_a_resources_later_event_waits_for_its_earlier_one_while_other_resources_go_on(
        receiver):
    endpoint_for(receiver)
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    first = register(T0)
    resource_forget(item_hash=first.item_hash, actor="owner", at=T0 + HOUR)
    second = register(T0)
    dispatched(3)
    receiver.script = [500]  # the first resource's registration fails once
    t0 = timezone.now()

    webhooks_pump(at=t0)

    sent = [json.loads(request.body)["data"]["item_hash"] for request in receiver.requests]
    types = [json.loads(request.body)["type"] for request in receiver.requests]
    # its forget was not sent before its registration got through; the other resource's was
    assert list(zip(sent, types)) == [(first.item_hash, EventType.RESOURCE_REGISTERED),
                                      (second.item_hash, EventType.RESOURCE_REGISTERED)]

    webhooks_pump(at=t0 + timedelta(hours=1))

    later = [(json.loads(r.body)["data"]["item_hash"], json.loads(r.body)["type"])
             for r in receiver.requests[2:]]
    assert later == [(first.item_hash, EventType.RESOURCE_REGISTERED),
                     (first.item_hash, EventType.RESOURCE_FORGOTTEN)]


def test_an_owners_endpoint_gets_its_accounts_events_and_an_operators_every_event_of_its_types(
        receiver):
    owner_receiver, owner_server = start_receiver()
    try:
        account = Account.objects.create(address=ADDRESS)
        endpoint_for(owner_receiver, account=account)
        endpoint_for(receiver, event_types=[EventType.RESOURCE_FLAGGED,
                                            EventType.LIFECYCLE_RUN_FINISHED])
        grant(ADDRESS, E1_PER_DAY, T0)
        grant(OTHER_ADDRESS, E1_PER_DAY, T0)
        register(T0)
        register(T0, address=OTHER_ADDRESS)
        run(T0 + HOUR)  # flags both (23 h of runway left: below 24 h), announces the run
        # owner: its registration, its flag and its runway; operator: two flags and the run
        dispatched(6)

        webhooks_pump()

        owner_got = [(json.loads(r.body)["type"], json.loads(r.body)["account"])
                     for r in owner_receiver.requests]
        assert sorted(owner_got) == [(EventType.ACCOUNT_RUNWAY_LOW, ADDRESS),
                                     (EventType.RESOURCE_FLAGGED, ADDRESS),
                                     (EventType.RESOURCE_REGISTERED, ADDRESS)]
        operator_got = sorted(json.loads(r.body)["type"] for r in receiver.requests)
        assert operator_got == [EventType.LIFECYCLE_RUN_FINISHED, EventType.RESOURCE_FLAGGED,
                                EventType.RESOURCE_FLAGGED]
    finally:
        owner_server.shutdown()
        owner_server.server_close()


def test_an_endpoint_failing_for_too_long_is_disabled_and_says_why(receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    endpoint_for(receiver)
    receiver.script = [500] * 10
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    dispatched(1)
    t0 = timezone.now()

    webhooks_pump(at=t0)
    assert WebhookEndpoint.objects.get().failing_since == t0
    webhooks_pump(at=t0 + timedelta(minutes=30))
    assert WebhookEndpoint.objects.get().enabled
    webhooks_pump(at=t0 + timedelta(hours=2))

    endpoint = WebhookEndpoint.objects.get()
    assert not endpoint.enabled and endpoint.disabled_at == t0 + timedelta(hours=2)
    assert "HTTP 500" in endpoint.disabled_reason
    # a disabled endpoint is not sent to
    count = len(receiver.requests)
    webhooks_pump(at=t0 + timedelta(hours=10))
    assert len(receiver.requests) == count


def test_a_bounded_part_of_a_large_answer_is_read_and_a_redirect_is_not_followed(
        receiver, settings):
    settings.WEBHOOK_RESPONSE_MAX_BYTES = 100
    endpoint_for(receiver)
    receiver.script = [("body", 200, b"x" * 1_000_000), ("body", 302, b"elsewhere")]
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    register(T0)
    register(T0)
    dispatched(2)

    webhooks_pump()

    first, second = Delivery.objects.order_by("event_id")
    assert first.status == DeliveryStatus.SUCCEEDED
    assert len(first.log.get().response_excerpt) == 100
    assert second.status == DeliveryStatus.PENDING and second.log.get().status_code == 302


def test_resend_sends_a_delivered_event_again_with_the_same_id(receiver):
    endpoint_for(receiver)
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    dispatched(1)
    webhooks_pump()
    delivery = Delivery.objects.get()

    assert deliveries_resend(delivery_ids=[delivery.pk]) == 1
    webhooks_pump()

    assert [request.webhook_id for request in receiver.requests] == \
        [delivery.event.public_id] * 2
    assert Delivery.objects.get().log.count() == 2


def test_a_target_that_became_private_is_refused_when_sending(receiver, settings):
    endpoint_for(receiver)
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    dispatched(1)

    webhooks_pump()

    assert receiver.requests == []
    assert "refused" in Delivery.objects.get().log.get().error


@pytest.mark.slow
def test_a_delivery_whose_sender_is_killed_mid_way_is_sent_again_once_its_lease_ends(receiver):
    # given a delivery, and a sender in another process stuck on the receiver
    endpoint_for(receiver)
    receiver.script = [("hang", 60)]
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    dispatched(1)
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(),
           "DJANGO_SETTINGS_MODULE": "credits_project.settings",
           "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1", "WEBHOOK_TIMEOUT_SECONDS": "50",
           "WEBHOOK_LEASE_SECONDS": "120", "WEBHOOKS_KICK_ON_COMMIT": "0"}
    connection.close()
    process = subprocess.Popen(
        [sys.executable, "-c", "import django; django.setup(); "
         "from credits.services.webhooks import webhooks_pump; webhooks_pump()"],
        cwd=REPOSITORY, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert receiver.got_request.wait(60), process.communicate(timeout=5)[0]
        # when it is killed mid-delivery
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    receiver.release.set()
    claimed = Delivery.objects.get()
    assert claimed.status == DeliveryStatus.PENDING and claimed.attempts == 1
    assert claimed.leased_until is not None

    # then nobody sends it while its lease runs, and the next sender after it does
    assert webhooks_pump().sent == 0
    webhooks_pump(at=claimed.leased_until + timedelta(seconds=1))

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    assert len(receiver.requests) == 2
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id
