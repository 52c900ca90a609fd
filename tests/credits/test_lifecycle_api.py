"""Operators' lifecycle endpoints: GET pending-deletions (order, filters, countdown, shortfall,
pages) and GET lifecycle-runs (newest first, counts, pages), and who may call them."""
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credits.models import (
    Account,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleSettings,
    LifecycleTrigger,
    RemovalReason,
    ResourceStatus,
    TokenBalance,
)
from credits.selectors.ledger import account_balance
from credits.selectors.lifecycle import (
    lifecycle_settings_get,
    pending_deletions,
)
from credits.selectors.resources import account_credit_cost_per_second
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.lifecycle_settings import lifecycle_settings_ensure
from credits.services.resources import resource_register
from pricing.enums import PaymentType
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS
from tests.credits.lifecycle_faults import batches_hooked
from tests.pricing.contents import instance_content

pytestmark = pytest.mark.django_db

PENDING = "/api/v1/pending-deletions"
RUNS = "/api/v1/lifecycle-runs"
HOUR = timedelta(hours=1)
ZERO = "0.000000000000000000"


def _grant(address, amount, *, at=None, expires_at=None):
    return grant_create(address=address, amount=amount, expires_at=expires_at,
                        reference=f"lifecycle-api-{address}-{amount}-{at}-{expires_at}",
                        actor="test", at=at)


@pytest.fixture
def removing(ledger_resource_factory):
    """`removing(owner, delete_after=..., ...)`: a resource flagged for deletion, stored as the
    lifecycle leaves it (status, reason, removing_since, delete_after)."""
    def make(owner, *, delete_after, reason=RemovalReason.CREDIT_INSUFFICIENT, **extra):
        return ledger_resource_factory(owner, status=ResourceStatus.REMOVING,
                                       removal_reason=reason,
                                       removing_since=delete_after - timedelta(hours=24),
                                       delete_after=delete_after, **extra)
    return make


@pytest.fixture
def operator(client_as):
    return client_as("operator")


def _hashes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["item_hash"] for row in response.json()["results"]]


def _assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


# --- pending deletions: what is listed and in which order ----------------------------------------

def test_only_resources_in_removing_are_listed_soonest_deadline_first(
        operator, account, other_account, removing, ledger_resource_factory):
    now = timezone.now()
    late = removing(account, delete_after=now + timedelta(hours=20))
    soon = removing(other_account, delete_after=now + timedelta(hours=2))
    overdue = removing(account, delete_after=now - timedelta(minutes=5))
    middle = removing(other_account, delete_after=now + timedelta(hours=10))
    for status in (ResourceStatus.PROCESSED, ResourceStatus.REMOVED, ResourceStatus.FORGOTTEN):
        ledger_resource_factory(account, status=status)

    response = operator.get(PENDING)

    assert _hashes(response) == [overdue.item_hash, soon.item_hash, middle.item_hash,
                                 late.item_hash]


def test_a_pending_deletion_shows_owner_reason_deadline_and_countdown(
        operator, account, removing):
    with time_machine.travel(T0, tick=False):
        resource = removing(account, delete_after=T0 + timedelta(hours=5, minutes=12),
                            cost_credit_per_second="0.01")
        overdue = removing(account, delete_after=T0 - timedelta(seconds=1))

        rows = operator.get(PENDING).json()["results"]

    assert rows[1] == {
        "item_hash": resource.item_hash,
        "type": "INSTANCE",
        "owner": ADDRESS,
        "payment_type": "credit",
        "payment_chain": "",
        "reason": "credit_insufficient",
        "removing_since": (T0 - timedelta(hours=18, minutes=48)).isoformat(),
        "delete_after": (T0 + timedelta(hours=5, minutes=12)).isoformat(),
        "seconds_left": 5 * 3600 + 12 * 60,
        "overdue": False,
        # 0.01 credits/s × 86 400 s = 864 credits needed (the other one costs nothing), none held
        "shortfall": "864.000000000000000000",
        "shortfall_unit": "credits",
        "required": "864.000000000000000000",
        "available": ZERO,
    }
    assert rows[0]["item_hash"] == overdue.item_hash
    assert (rows[0]["seconds_left"], rows[0]["overdue"]) == (0, True)


# --- pending deletions: the shortfall ------------------------------------------------------------

def test_the_credit_shortfall_is_one_horizon_of_the_owners_live_resources_minus_its_credits(
        operator, account, other_account, removing, ledger_resource_factory):
    now = timezone.now()
    # given an owner with 0.01 + 0.005 credits/s live (a forgotten resource and a hold one do
    # not count), 1000 credits spendable and 500 that expired
    flagged = removing(account, delete_after=now + HOUR, cost_credit_per_second="0.01")
    ledger_resource_factory(account, cost_credit_per_second="0.005")
    ledger_resource_factory(account, cost_credit_per_second="1",
                            status=ResourceStatus.FORGOTTEN)
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, payment_chain="ETH",
                            cost_hold="100", cost_credit_per_second="7")
    _grant(ADDRESS, 1000)
    _grant(ADDRESS, 500, at=now - timedelta(days=3), expires_at=now - timedelta(days=2))
    # and an owner that has enough
    funded = removing(other_account, delete_after=now + 2 * HOUR, cost_credit_per_second="0.01")
    _grant(OTHER_ADDRESS, 864)

    rows = {row["item_hash"]: row for row in operator.get(PENDING).json()["results"]}

    # (0.01 + 0.005) × 86 400 = 1296 credits for one day; 1296 − 1000 = 296 short
    assert rows[flagged.item_hash]["required"] == "1296.000000000000000000"
    assert rows[flagged.item_hash]["available"] == "1000.000000000000000000"
    assert rows[flagged.item_hash]["shortfall"] == "296.000000000000000000"
    # 0.01 × 86 400 = 864 = its balance: funded exactly
    assert rows[funded.item_hash]["shortfall"] == ZERO


def test_the_credit_shortfall_follows_the_funding_horizon_setting(operator, account, removing):
    removing(account, delete_after=timezone.now() + HOUR, cost_credit_per_second="0.01")
    _grant(ADDRESS, 100)
    LifecycleSettings.objects.filter(pk=lifecycle_settings_ensure().pk).update(
        funding_horizon_hours=48)

    body = operator.get(PENDING).json()

    # 0.01 × 48 × 3600 = 1728; 1728 − 100 = 1628
    assert body["funding_horizon_hours"] == 48
    assert body["results"][0]["shortfall"] == "1628.000000000000000000"


def test_a_shortfall_can_be_fractional_as_the_run_compares_it(operator, account, _time_travel):
    # PRICING.md E1 by credit: 3.958333333333333333 credits/s; one day is
    # 341 999.9999999999999712 credits. Granted 342 000, charged 14 250 for the first hour,
    # the owner has 327 750: short by 14 249.9999999999999712.
    with time_machine.travel(T0, tick=False):
        _grant(ADDRESS, 342_000, at=T0)
        content = instance_content(payment="credit")
        content["address"] = ADDRESS
        vm = resource_register(item_hash="e1" * 32, message_type="INSTANCE", content=content,
                               actor="test", at=T0).resource
    with time_machine.travel(T0 + HOUR, tick=False):
        run = lifecycle_run(at=T0 + HOUR)
        assert run.flagged == 1

        row = operator.get(PENDING).json()["results"][0]

    assert row["item_hash"] == vm.item_hash
    assert row["required"] == "341999.999999999999971200"
    assert row["available"] == "327750.000000000000000000"
    assert row["shortfall"] == "14249.999999999999971200"
    assert row["seconds_left"] == 24 * 3600


def test_the_hold_shortfall_is_the_owners_hold_on_that_chain_minus_its_token_balance(
        operator, account, removing, ledger_resource_factory):
    now = timezone.now()
    eth = removing(account, delete_after=now + HOUR, payment_type=PaymentType.HOLD,
                   payment_chain="ETH", cost_hold="1000",
                   reason=RemovalReason.BALANCE_INSUFFICIENT)
    ledger_resource_factory(account, payment_type=PaymentType.HOLD, payment_chain="ETH",
                            cost_hold="500.5")
    avax = removing(account, delete_after=now + 2 * HOUR, payment_type=PaymentType.HOLD,
                    payment_chain="AVAX", cost_hold="100",
                    reason=RemovalReason.BALANCE_INSUFFICIENT)
    TokenBalance.objects.create(account=account, chain="ETH", balance=Decimal("1200.25"),
                                height=1)
    stream = removing(account, delete_after=now + 3 * HOUR,
                      payment_type=PaymentType.SUPERFLUID)

    rows = {row["item_hash"]: row for row in operator.get(PENDING).json()["results"]}

    # ETH: 1000 + 500.5 − 1200.25 = 300.25 tokens; AVAX: 100 tokens, no balance reported
    assert (rows[eth.item_hash]["shortfall"], rows[eth.item_hash]["shortfall_unit"]) \
        == ("300.250000000000000000", "tokens")
    assert rows[eth.item_hash]["available"] == "1200.250000000000000000"
    assert rows[avax.item_hash]["shortfall"] == "100.000000000000000000"
    assert rows[stream.item_hash]["shortfall"] is None
    assert rows[stream.item_hash]["shortfall_unit"] is None


def test_shortfalls_agree_with_the_per_account_selectors(account, other_account, removing,
                                                         ledger_resource_factory):
    now = timezone.now()
    for owner, rate, credits in ((account, "0.0123", 555), (other_account, "0.5", 99_999)):
        removing(owner, delete_after=now + HOUR, cost_credit_per_second=rate)
        ledger_resource_factory(owner, cost_credit_per_second="0.000001")
        _grant(owner.address, credits)
    horizon_seconds = lifecycle_settings_get().funding_horizon_hours * 3600

    for row in pending_deletions(at=now):
        owner = row.resource.owner
        assert row.shortfall.available == account_balance(account=owner, at=now)
        assert row.shortfall.required \
            == account_credit_cost_per_second(account=owner) * horizon_seconds


def test_the_list_takes_the_same_queries_for_3_owners_and_for_30(operator, removing):
    now = timezone.now()

    def owners(count: int, start: int) -> None:
        for number in range(start, start + count):
            owner = Account.objects.create(address=f"0x{number:040x}")
            removing(owner, delete_after=now + HOUR, cost_credit_per_second="0.01")
            removing(owner, delete_after=now + HOUR, payment_type=PaymentType.HOLD,
                     payment_chain="ETH", cost_hold="10",
                     reason=RemovalReason.BALANCE_INSUFFICIENT)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator.get(PENDING).status_code == 200
        return len(captured.captured_queries)

    lifecycle_settings_get()
    owners(3, 1)
    with_3 = queries()
    owners(27, 100)
    with_30 = queries()

    assert with_3 == with_30
    # the key, the page, the settings, rates, credits, holds, token balances and the horizon
    assert with_30 <= 10


# --- pending deletions: filters ------------------------------------------------------------------

@pytest.fixture
def assorted(account, other_account, removing):
    """Four pending deletions of two owners, two reasons and payment types, spread in time."""
    now = timezone.now()
    return {
        "credit_soon": removing(account, delete_after=now + HOUR),
        "hold_later": removing(account, delete_after=now + 5 * HOUR,
                               payment_type=PaymentType.HOLD, payment_chain="ETH",
                               cost_hold="1", reason=RemovalReason.BALANCE_INSUFFICIENT),
        "other_credit": removing(other_account, delete_after=now + 3 * HOUR),
        "other_overdue": removing(other_account, delete_after=now - HOUR),
        "now": now,
    }


def test_pending_deletions_filter_by_reason(operator, assorted):
    response = operator.get(PENDING, {"reason": "balance_insufficient"})
    assert _hashes(response) == [assorted["hold_later"].item_hash]


def test_pending_deletions_filter_by_payment_type(operator, assorted):
    response = operator.get(PENDING, {"payment_type": "credit"})
    assert _hashes(response) == [assorted[name].item_hash for name in
                                 ("other_overdue", "credit_soon", "other_credit")]


@pytest.mark.parametrize("written", [ADDRESS, ADDRESS.lower(), ADDRESS.upper().replace("0X", "0x")])
def test_pending_deletions_filter_by_owner_in_any_case(operator, assorted, written):
    response = operator.get(PENDING, {"owner": written})
    assert _hashes(response) == [assorted["credit_soon"].item_hash,
                                 assorted["hold_later"].item_hash]


def test_an_owner_without_pending_deletions_has_an_empty_list(operator, assorted):
    assert _hashes(operator.get(PENDING, {"owner": THIRD_ADDRESS})) == []


def test_pending_deletions_filter_by_deadline_strictly_before(operator, assorted):
    cut = assorted["other_credit"].delete_after
    response = operator.get(PENDING, {"due_before": cut.isoformat()})
    assert _hashes(response) == [assorted["other_overdue"].item_hash,
                                 assorted["credit_soon"].item_hash]


def test_pending_deletions_filters_combine(operator, assorted):
    response = operator.get(PENDING, {"owner": OTHER_ADDRESS, "payment_type": "credit",
                                      "due_before": assorted["now"].isoformat()})
    assert _hashes(response) == [assorted["other_overdue"].item_hash]


@pytest.mark.parametrize("query", [
    {"reason": "broke"},
    {"reason": ""},
    {"payment_type": "cash"},
    {"owner": "0x1234"},
    {"owner": ""},
    {"owner": "not an address!"},
    {"due_before": "tomorrow"},
    {"due_before": "2030-01-01T00:00:00"},  # no time zone: ambiguous
    {"due_before": "2030-13-45T00:00:00Z"},
    {"limit": "0"},
    {"limit": "-3"},
    {"limit": "ten"},
    {"cursor": "garbage"},
    {"cursor": "W10"},  # base64 of "[]"
], ids=lambda query: repr(query))
def test_invalid_pending_deletion_filters_are_a_400_in_the_error_shape(operator, query):
    error = _assert_error(operator.get(PENDING, query), 400)
    assert error["code"] == "invalid_request"
    assert set(error["details"]["fields"]) == set(query)


# --- pending deletions: pages --------------------------------------------------------------------

def test_pending_deletion_pages_follow_the_cursor_without_gaps_or_repeats(operator, account,
                                                                          removing):
    now = timezone.now()
    same = now + HOUR  # equal deadlines are ordered by id, across pages too
    made = [removing(account, delete_after=same if i % 2 else now + i * HOUR)
            for i in range(7)]
    expected = [resource.item_hash for resource in
                sorted(made, key=lambda resource: (resource.delete_after, resource.pk))]

    seen, url, pages = [], PENDING + "?limit=3&owner=" + ADDRESS.lower(), 0
    while url:
        body = operator.get(url).json()
        assert body["limit"] == 3 and len(body["results"]) <= 3
        seen += [row["item_hash"] for row in body["results"]]
        url, pages = body["next"], pages + 1
        if url:
            assert "owner=" in url and f"cursor={body['next_cursor']}" in url

    assert seen == expected
    assert pages == 3


def test_the_page_size_of_pending_deletions_is_capped(operator, account, removing):
    now = timezone.now()
    for i in range(203):
        removing(account, delete_after=now + timedelta(minutes=i))

    first = operator.get(PENDING, {"limit": "100000"}).json()
    second = operator.get(PENDING, {"limit": "100000", "cursor": first["next_cursor"]}).json()

    assert (first["limit"], len(first["results"])) == (200, 200)
    assert first["next_cursor"] is not None
    assert (len(second["results"]), second["next_cursor"], second["next"]) == (3, None, None)
    assert len(operator.get(PENDING).json()["results"]) == 50  # the default


# --- lifecycle runs ------------------------------------------------------------------------------

@pytest.fixture
def _time_travel(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def _register(at, item_hash):
    content = instance_content(payment="credit")
    content["address"] = ADDRESS
    return resource_register(item_hash=item_hash, message_type="INSTANCE", content=content,
                             actor="test", at=at).resource


def test_lifecycle_runs_are_listed_newest_first_with_their_counts(operator, account,
                                                                  _time_travel):
    # given a VM funded for one day, charged for its first hour (flagged), then a failed run
    _grant(ADDRESS, 342_000, at=T0)
    _register(T0, "c" * 64)
    first = lifecycle_run(at=T0 + HOUR)

    def fail(index):
        raise RuntimeError("injected failure")

    with batches_hooked(fail):
        second = lifecycle_run(at=T0 + 2 * HOUR)

    runs = operator.get(RUNS).json()["results"]

    assert [run["id"] for run in runs[:2]] == [second.pk, first.pk]
    assert runs[1] == {
        "id": first.pk,
        "started_at": first.started_at.isoformat(),
        "finished_at": first.finished_at.isoformat(),
        "duration_seconds": (first.finished_at - first.started_at).total_seconds(),
        "as_of": (T0 + HOUR).isoformat(),
        "trigger": "manual",
        "dry_run": False,
        "status": "succeeded",
        "parent": None,
        "shard_index": None,
        "shard_count": 1,
        "accounts": 1,
        "resources": 1,
        "charges": 1,
        "credits_charged": "14250",
        "credits_short": "0",
        "expired_credits": "0",
        "flagged": 1,
        "restored": 0,
        "removed": 0,
        "errors": 0,
        "error_messages": [],
    }
    assert runs[0]["status"] == LifecycleRunStatus.FAILED
    assert runs[0]["errors"] == 1
    assert len(runs[0]["error_messages"]) == 1
    assert "injected failure" in runs[0]["error_messages"][0]


def test_a_shard_shows_its_parent_and_place(operator):
    now = timezone.now()
    parent = LifecycleRun.objects.create(started_at=now, as_of=now, trigger=LifecycleTrigger.BEAT,
                                         shard_count=2)
    LifecycleRun.objects.create(started_at=now + timedelta(seconds=1), as_of=now,
                                trigger=LifecycleTrigger.SHARD, shard_index=1, shard_count=2,
                                parent=parent)

    shard, listed_parent = operator.get(RUNS).json()["results"]

    assert (shard["parent"], shard["shard_index"], shard["shard_count"]) == (parent.pk, 1, 2)
    assert (listed_parent["parent"], listed_parent["shard_count"]) == (None, 2)
    assert (listed_parent["status"], listed_parent["finished_at"],
            listed_parent["duration_seconds"]) == ("running", None, None)


def test_lifecycle_run_pages_are_capped_and_follow_the_cursor(operator):
    now = timezone.now()
    LifecycleRun.objects.bulk_create(
        LifecycleRun(started_at=now - timedelta(minutes=i // 2), as_of=now) for i in range(205))
    expected = list(LifecycleRun.objects.order_by("-started_at", "-id")
                    .values_list("id", flat=True))

    first = operator.get(RUNS, {"limit": "999"}).json()
    second = operator.get(first["next"]).json()

    assert (first["limit"], len(first["results"])) == (200, 200)
    assert [run["id"] for run in first["results"] + second["results"]] == expected
    assert second["next_cursor"] is None
    assert len(operator.get(RUNS, {"limit": "7"}).json()["results"]) == 7


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"cursor": "%%%"},
                                   {"cursor": "WyJub3QgYSBkYXRlIiwgMV0"}],
                         ids=lambda query: repr(query))
def test_invalid_lifecycle_run_queries_are_a_400(operator, query):
    _assert_error(operator.get(RUNS, query), 400)


# --- who may call --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [PENDING, RUNS])
@pytest.mark.parametrize(("caller", "status"), [(None, 401), ("owner", 403), ("other_owner", 403),
                                                ("service", 403), ("operator", 200)])
def test_only_an_operator_key_or_staff_may_read_the_lifecycle(client_as, path, caller, status):
    response = client_as(caller).get(path)
    assert response.status_code == status, response.content
    if status != 200:
        _assert_error(response, status)


@pytest.mark.parametrize(("path", "codename", "other_codename"), [
    (PENDING, "view_pendingdeletion", "view_lifecyclerun"),
    (RUNS, "view_lifecyclerun", "view_pendingdeletion"),
    (RUNS, "change_lifecyclerun", "change_pendingdeletion"),
])
def test_a_staff_session_reads_the_lifecycle_only_with_the_admin_permission_to_view_it(
        client, django_user_model, path, codename, other_codename):
    def permission(name):
        return Permission.objects.get(content_type__app_label="credits", codename=name)

    user = django_user_model.objects.create_user(username="someone", password="unused")
    client.force_login(user)
    _assert_error(client.get(path), 401)  # not staff: a session that counts for nothing

    user.is_staff = True
    user.save()
    _assert_error(client.get(path), 403)  # staff whom the admin shows nothing

    user.user_permissions.add(permission(other_codename))
    _assert_error(client.get(path), 403)  # allowed to see the other page only

    user.user_permissions.add(permission(codename))
    assert client.get(path).status_code == 200
