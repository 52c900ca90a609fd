"""The account alerts and the grace extension leave the service as the other events do: in the
feed (an owner reads its own account's alerts, not another's) and as signed webhooks to an
endpoint subscribed to them, on a real receiver on 127.0.0.1."""
import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from credits.models import Account, EventType
from credits.services.operator import resource_extend_grace
from credits.services.webhooks import webhook_endpoint_create, webhooks_pump
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import E1_PER_HOUR, HOUR, grant, register, run
from tests.credits.webhook_receiver import wait_for

# The feed and the deliveries follow only committed events: the tests commit theirs.
pytestmark = pytest.mark.django_db(transaction=True)

ALERTS = [EventType.ACCOUNT_RUNWAY_LOW, EventType.ACCOUNT_CREDITS_EXPIRING,
          EventType.RESOURCE_GRACE_EXTENDED]


@pytest.fixture(autouse=True)
def _settings(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    settings.WEBHOOKS_KICK_ON_COMMIT = False
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1
    settings.EVENTS_RUNWAY_LOW_HOURS = [48, 24]
    settings.EVENTS_CREDITS_EXPIRING_DAYS = 7


def alerts_happen() -> None:
    """The owner's account falls to 23 h of runway (past both thresholds: one event, for 24 h)
    with a lot expiring in 3 days, and its resource, flagged, gets its grace extended; another
    account falls to 25 h (48 h crossed)."""
    grant(ADDRESS, 20 * E1_PER_HOUR, T0, expires_at=T0 + timedelta(days=3))
    grant(ADDRESS, 8 * E1_PER_HOUR, T0)
    vm = register(T0)
    grant(OTHER_ADDRESS, 30 * E1_PER_HOUR, T0)
    register(T0, address=OTHER_ADDRESS)
    run(T0 + 5 * HOUR)
    resource_extend_grace(item_hash=vm.item_hash, hours=5, reason="asked", actor="op",
                          at=T0 + 6 * HOUR)


def feed(client, *, until_count: int, **params) -> list[dict]:
    """The feed's events (bounded wait: another test process's transaction may hold it back)."""
    deadline = time.monotonic() + 120
    while True:
        response = client.get("/api/v1/events", {**params, "limit": 1000})
        assert response.status_code == 200, response.content[:300]
        results = response.json()["results"]
        if len(results) >= until_count or time.monotonic() > deadline:
            return results
        time.sleep(0.05)


def test_owners_read_their_own_alerts_in_the_feed_and_operators_read_all(client_as):
    alerts_happen()
    types = ",".join(ALERTS)

    everyone = feed(client_as("operator"), until_count=4, types=types)
    mine = feed(client_as("owner"), until_count=3, types=types)
    theirs = feed(client_as("other_owner"), until_count=1, types=types)

    assert sorted((event["type"], event["account"]) for event in everyone) == sorted([
        (EventType.ACCOUNT_CREDITS_EXPIRING, ADDRESS),
        (EventType.ACCOUNT_RUNWAY_LOW, ADDRESS),
        (EventType.ACCOUNT_RUNWAY_LOW, OTHER_ADDRESS),
        (EventType.RESOURCE_GRACE_EXTENDED, ADDRESS)])
    assert {event["account"] for event in mine} == {ADDRESS} and len(mine) == 3
    assert [(event["type"], event["account"]) for event in theirs] == [
        (EventType.ACCOUNT_RUNWAY_LOW, OTHER_ADDRESS)]
    runway = next(event for event in mine if event["type"] == EventType.ACCOUNT_RUNWAY_LOW)
    assert runway["data"]["threshold_hours"] == 24
    assert runway["data"]["runway_hours"] == "23.00"
    assert runway["timestamp"] == (T0 + 5 * HOUR).isoformat()
    assert runway["schema_version"] == 1
    assert theirs[0]["data"]["threshold_hours"] == 48
    assert theirs[0]["data"]["runway_hours"] == "25.00"


def test_an_owner_endpoint_subscribed_to_the_alerts_receives_them_signed(receiver):
    endpoint, secret = webhook_endpoint_create(
        url=receiver.url, actor="owner", account=Account.objects.create(address=ADDRESS),
        event_types=ALERTS)
    alerts_happen()

    def all_sent():
        webhooks_pump()
        return len(receiver.requests) >= 3
    wait_for(all_sent, what="three alerts delivered")

    payloads = [Webhook(secret).verify(request.body, request.headers)
                for request in receiver.requests]
    assert sorted(payload["type"] for payload in payloads) == sorted(ALERTS)
    assert {payload["account"] for payload in payloads} == {ADDRESS}
    expiring = next(payload for payload in payloads
                    if payload["type"] == EventType.ACCOUNT_CREDITS_EXPIRING)
    assert expiring["data"]["expires_at"] == (T0 + timedelta(days=3)).isoformat()
    assert expiring["data"]["remaining"] == str(20 * E1_PER_HOUR)
    extended = next(payload for payload in payloads
                    if payload["type"] == EventType.RESOURCE_GRACE_EXTENDED)
    assert extended["data"]["delete_after"] == (T0 + 5 * HOUR + timedelta(hours=24 + 5)) \
        .isoformat()
