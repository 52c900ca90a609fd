"""GET /api/v1/events: ordered, gap-free under concurrent writers, resumable from a cursor; an
owner key reads its own account's events; bad and expired cursors are clear 4xx."""
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction

from credits.models import Account, Event, EventType
from credits.selectors.events import event_cursor_encode, events_feed
from credits.services.resources import resource_forget
from credits.services.webhooks import events_dispatch, events_prune
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import E1_PER_DAY, HOUR, grant, register, run

# The feed serves only events of transactions that have ended: the tests commit theirs.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _settings(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    settings.WEBHOOKS_KICK_ON_COMMIT = False


def follow(client, *, after=None, until_count: int, timeout: float = 120, **params) -> tuple:
    """Read the feed from `after` until `until_count` events came (bounded: a transaction of
    another test process may hold the feed back a while), returning them and the last cursor."""
    seen, cursor = [], after
    deadline = time.monotonic() + timeout
    while len(seen) < until_count:
        query = {**params, **({"after": cursor} if cursor else {})}
        response = client.get("/api/v1/events", query)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        seen += body["results"]
        cursor = body["next_cursor"] or cursor
        if not body["results"]:
            assert time.monotonic() < deadline, f"only {len(seen)} of {until_count} events came"
            time.sleep(0.05)
    return seen, cursor


def test_the_feed_lists_events_in_order_and_resumes_after_a_cursor(client_as):
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    first, second = register(T0), register(T0)
    operator = client_as("operator")

    page, cursor = follow(operator, until_count=2, limit=1)

    assert [event["type"] for event in page] == [EventType.RESOURCE_REGISTERED] * 2
    assert [event["data"]["item_hash"] for event in page] == [first.item_hash, second.item_hash]
    assert page[0]["id"].startswith("evt_") and page[0]["account"] == ADDRESS
    assert page[0]["schema_version"] == 1
    assert page[0]["timestamp"] == T0.isoformat()

    # when more happens, the cursor resumes exactly after what was read
    resource_forget(item_hash=first.item_hash, actor="owner", at=T0 + HOUR)
    more, _ = follow(operator, after=cursor, until_count=1)
    assert [(event["type"], event["data"]["item_hash"]) for event in more] == [
        (EventType.RESOURCE_FORGOTTEN, first.item_hash)]
    # nothing twice
    again = operator.get("/api/v1/events", {"after": more[-1]["cursor"]}).json()
    assert again["results"] == [] and again["next_cursor"] == more[-1]["cursor"]


def test_types_filter_the_feed_and_the_page_size_is_capped(client_as):
    grant(ADDRESS, E1_PER_DAY, T0)
    register(T0)
    run(T0 + HOUR)  # flags it, and the run is announced

    flagged, _ = follow(client_as("service"), until_count=1,
                        types=f"{EventType.RESOURCE_FLAGGED},{EventType.RESOURCE_REMOVED}")
    assert [event["type"] for event in flagged] == [EventType.RESOURCE_FLAGGED]
    assert flagged[0]["data"]["delete_after"] == (T0 + 25 * HOUR).isoformat()

    body = client_as("operator").get("/api/v1/events", {"limit": 10**6}).json()
    assert body["limit"] == 1000


def test_an_owner_key_reads_only_its_own_accounts_events(client_as):
    Account.objects.get_or_create(address=ADDRESS)
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    grant(OTHER_ADDRESS, 10 * E1_PER_DAY, T0)
    mine = register(T0)
    register(T0, address=OTHER_ADDRESS)
    run(T0 + HOUR)  # lifecycle.run_finished: the operators' only
    follow(client_as("operator"), until_count=3)  # all committed and served

    body = client_as("owner").get("/api/v1/events").json()

    assert [(event["type"], event["data"]["item_hash"]) for event in body["results"]] == [
        (EventType.RESOURCE_REGISTERED, mine.item_hash)]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "W10", "x" * 500, "WyJldnQiLCAtMSwgMV0",
                                    event_cursor_encode(xid=1, event_id=1)[:-2] + "@@"])
def test_a_malformed_cursor_is_a_400_in_the_error_shape(client_as, cursor):
    response = client_as("operator").get("/api/v1/events", {"after": cursor})

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert "after" in error["details"]["fields"]


def test_unknown_types_are_a_400(client_as):
    response = client_as("operator").get("/api/v1/events", {"types": "resource.exploded"})

    assert response.status_code == 400
    assert "types" in response.json()["error"]["details"]["fields"]


def test_a_cursor_older_than_the_events_kept_is_a_410_and_a_fresh_start_works(client_as):
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    register(T0)
    old, cursor = follow(client_as("operator"), until_count=1)
    register(T0)
    register(T0)
    follow(client_as("operator"), after=cursor, until_count=2)
    events_dispatch()  # pruning keeps what the dispatcher has not passed

    assert events_prune(before=T0 + timedelta(days=1)) == 3

    response = client_as("operator").get("/api/v1/events", {"after": old[0]["cursor"]})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "cursor_expired"
    fresh = client_as("operator").get("/api/v1/events").json()
    assert fresh["results"] == []


def test_an_event_of_a_transaction_still_running_holds_back_later_ones_until_it_commits():
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    early = register(T0)
    follow_from = None
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                resource_forget(item_hash=early.item_hash, actor="owner", at=T0 + HOUR)
                started.set()
                release.wait(30)
        finally:
            connection.close()
            finished.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert started.wait(30)
    late = register(T0)  # committed now, after the slow writer's event was written

    # then the late event is not served while the earlier transaction runs
    served = [event.payload["item_hash"] for event in events_feed(after=follow_from, limit=100)]
    assert late.item_hash not in served

    release.set()
    thread.join(30)
    assert finished.is_set()
    deadline = time.monotonic() + 120
    while True:
        feed = [(event.type, event.payload["item_hash"]) for event in events_feed(after=None,
                                                                                 limit=100)]
        if len(feed) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # the forget (written first, committed last) is served, and before the late registration
    assert feed == [(EventType.RESOURCE_REGISTERED, early.item_hash),
                    (EventType.RESOURCE_FORGOTTEN, early.item_hash),
                    (EventType.RESOURCE_REGISTERED, late.item_hash)]


@pytest.mark.slow
def test_a_follower_under_concurrent_writers_misses_no_event_and_sees_none_twice():
    # given accounts for 4 writers, each registering and forgetting in its own connection,
    # while the lifecycle flags another account's resources, and a follower reading the feed
    writers, per_writer = 4, 15
    for number in range(writers):
        grant(f"0x{number + 1:040x}", 100 * E1_PER_DAY, T0)
    for number in range(10):
        address = f"0x{number + 100:040x}"
        grant(address, E1_PER_DAY, T0)
        register(T0, address=address)
    done = threading.Event()
    seen: list[dict] = []
    errors: list = []

    def writer(number):
        def work():
            address = f"0x{number + 1:040x}"
            for _ in range(per_writer):
                resource = register(T0, address=address)
                with transaction.atomic():  # an event written, then time before the commit
                    resource_forget(item_hash=resource.item_hash, actor="owner",
                                    at=T0 + HOUR)
                    time.sleep(0.002)
        return work

    def lifecycle():
        run(T0 + HOUR)

    def follower():
        from rest_framework.test import APIClient

        from credits.models import ApiKey, ApiKeyScope
        _, key = ApiKey.objects.create_key(name="follower", scope=ApiKeyScope.OPERATOR)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        cursor = None
        try:
            while True:
                finished = done.is_set()
                body = client.get("/api/v1/events",
                                  {"limit": 7, **({"after": cursor} if cursor else {})}).json()
                seen.extend(body["results"])
                cursor = body["next_cursor"] or cursor
                if finished and not body["results"] and Event.objects.count() == len(seen):
                    return
                if finished and time.monotonic() > stop_at[0]:
                    return
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    before = Event.objects.count()
    stop_at = [time.monotonic() + 300]
    reader = threading.Thread(target=follower)
    reader.start()
    from tests.threads import in_threads
    results = in_threads(*[writer(number) for number in range(writers)], lifecycle)
    assert not [result for result in results if isinstance(result, Exception)], results
    stop_at[0] = time.monotonic() + 120
    done.set()
    reader.join(200)
    assert not reader.is_alive() and not errors, errors

    # then the follower, reading from the start of the feed, read every event, each once, in
    # feed order
    everything = list(Event.objects.order_by("xid", "id"))
    ids = [event["id"] for event in seen]
    assert len(ids) == len(set(ids)), "an event came twice"
    assert ids == [event.public_id for event in everything], "an event was missed or misplaced"
    # each writer's two events per resource; the lifecycle's 10 flags, the 10 accounts' runway
    # falling under 24 h (account.runway_low) and the run
    assert len(ids) == before + writers * per_writer * 2 + 10 + 10 + 1
    # per resource, the order of the changes: registered before forgotten
    order: dict[str, list[str]] = {}
    for event in seen:
        if event["data"].get("item_hash"):
            order.setdefault(event["data"]["item_hash"], []).append(event["type"])
    assert all(types[0] == EventType.RESOURCE_REGISTERED for types in order.values())
